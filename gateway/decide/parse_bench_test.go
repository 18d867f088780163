package decide

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// neutralEvent is the neutral ceiling's event (ops/bench/baseline): the bar
// the gate's parse is read against.
type neutralEvent struct {
	EventID  string `json:"event_id"`
	DeviceID string `json:"device_id"`
	Gate     string `json:"gate"`
	Time     string `json:"time"`
	Type     string `json:"type"`
}

// benchDetection is one camera detection as ops/bench/events.lua posts it.
func benchDetection(i int) string {
	return fmt.Sprintf(`{"event_id":"CAM-7-1-%d","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z",`+
		`"type":"camera.detection","object_class":"engine","track_id":"t-7-1-%d","direction":"in",`+
		`"reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}],"snapshot":"nvr://cam-1/%d.jpg"}`, i, i, i%100000, i)
}

// BenchmarkParseEvents reads the same bytes as the gate does
// (ParseEvents) and as the neutral ceiling does (encoding/json into its
// 5-field struct), side by side: compare ns/op and allocs/op of "gate" with
// "neutral" of the same body.
func BenchmarkParseEvents(b *testing.B) {
	batch := make([]string, 100)
	for i := range batch {
		batch[i] = benchDetection(i)
	}
	bodies := []struct{ name, body string }{
		{"detection", benchDetection(17)},
		{"heartbeat", evHeartbeat},
		{"batch100", "[" + strings.Join(batch, ",") + "]"},
	}
	for _, bb := range bodies {
		body := []byte(bb.body)
		array := body[0] == '['
		b.Run(bb.name+"/gate", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ParseEvents(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/neutral", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var err error
				if array {
					var evs []neutralEvent
					err = json.Unmarshal(body, &evs)
				} else {
					var ev neutralEvent
					err = json.Unmarshal(body, &ev)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
