package decide

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bondgate/bondgate/internal/zone"
)

// agreeWithStrict checks ParseEvents against the strict path on one body:
// the one-pass reader takes only what the strict path accepts, read to the
// same events, and ParseEvents answers exactly as the strict path does.
func agreeWithStrict(t *testing.T, body []byte) (fastTook bool) {
	t.Helper()
	want, wantErr := parseEventsStrict(body)
	fast, ok := parseEventsFast(body)
	if ok {
		if wantErr != nil {
			t.Fatalf("the one-pass reader takes a body the strict path refuses (%v): %q", wantErr, body)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("the one-pass reader reads %q as\n%+v\nthe strict path as\n%+v", body, fast, want)
		}
	}
	got, err := ParseEvents(body)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("ParseEvents error %v, strict path %v: %q", err, wantErr, body)
	}
	if err != nil {
		if err.Error() != wantErr.Error() || zone.ErrorCode(err) != zone.ErrorCode(wantErr) ||
			!reflect.DeepEqual(zone.ErrorFields(err), zone.ErrorFields(wantErr)) {
			t.Fatalf("ParseEvents says %v %+v, the strict path %v %+v: %q", err, zone.ErrorFields(err), wantErr, zone.ErrorFields(wantErr), body)
		}
		if got != nil {
			t.Fatalf("events beside an error: %q", body)
		}
		return ok
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseEvents reads %q as\n%+v\nthe strict path as\n%+v", body, got, want)
	}
	return ok
}

// wellFormed are bodies the one-pass reader must take itself.
var wellFormed = []string{
	evDetection, evBreak, evHeartbeat,
	"[" + evDetection + "," + evBreak + "," + evHeartbeat + "]",
	" \n[ " + evHeartbeat + " ,\t" + evBreak + " ]\r\n",
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":{"kind":"onvif","device":"cam-1"}}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":{}}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":null,"reads":null,"segment":null,"code":null}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","reads":[]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","segment":-0,"beam":"anything"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"B","segment":9223372036854775807}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[{"kind":"vehicle_plate","value":"P 1","confidence":1e-400},{"value":"X","kind":"stand_tag","confidence":null}]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[{"kind":"vehicle_plate","value":"P","confidence":1E+0}]}`,
	// Escapes and text beyond ASCII: encoding/json unquotes them, and
	// replaces invalid UTF-8 with U+FFFD.
	`{"event_id":"E\u0041\/","device_id":"D\u00e9","gate":"G","time":"2026-11-26T10:00:00Z","type":"heart\u0062eat","message":"a\"b\\c\n\ud83d\ude00 \ud800"}`,
	"{\"event_id\":\"E\xff\",\"device_id\":\"D\",\"gate\":\"G\",\"time\":\"2026-11-26T10:00:00Z\",\"type\":\"heartbeat\",\"message\":\"caf\xc3\xa9 \xe2\x82\"}",
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00+08:00","type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00.123456789Z","type":"heartbeat"}`,
}

// parseSeeds are bodies at the edges of what the one-pass reader takes:
// what it must read itself and what it must leave to the strict path.
var parseSeeds = append(wellFormed[:len(wellFormed):len(wellFormed)],
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"B","segment":9223372036854775808}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"B","segment":1e2}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"B","segment":1.0}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"B","segment":01}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[{"kind":"vehicle_plate","value":"P","confidence":1e400}]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[null]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[{"kind":"stand_tag","value":"S","confidence":0.5,"kind":"stand_tag"}]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","message":"\x"}`,
	"{\"event_id\":\"E\",\"device_id\":\"D\",\"gate\":\"G\",\"time\":\"2026-11-26T10:00:00Z\",\"type\":\"heartbeat\",\"message\":\"a\tb\"}",
	// Member names encoding/json matches without regard to case (and by
	// Unicode folding: ſ is s, K is k), escaped, repeated, or unknown.
	`{"EVENT_ID":"E","Device_Id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","ſtate":"changed"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[{"Kind":"stand_tag","value":"S","confidence":0.5}]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":{"KIND":"x","device":"y"}}`,
	`{"event\u005fid":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","event_id":"F"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","time":null}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","EVENT_ID":"F"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","Raw":"x"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","colour":"red"}`,
	// Wrong types, nulls where a value is needed, refused values, framing.
	`{"event_id":1,"device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":null,"type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":"x"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","reads":{}}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26t10:00:00z","type":"heartbeat"}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","source":{"kind":"a b"}}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"heartbeat","reads":[{"kind":"stand_tag","value":"S","confidence":0.5}]}`,
	`{"event_id":"E","device_id":"D","gate":"G","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"person","track_id":"t","reads":[`+
		strings.Repeat(`{"kind":"stand_tag","value":"S","confidence":0.5},`, maxReadsPerEv)+`{"kind":"stand_tag","value":"S","confidence":0.5}]}`,
	"\u00a0"+evHeartbeat+"\u2028",
	"\v"+evHeartbeat, "[\v"+evHeartbeat+"]", "["+evHeartbeat+",]", "["+evHeartbeat+","+"]",
	"["+evHeartbeat+"] ,", evHeartbeat+" x", "["+evHeartbeat+"][]", "[["+evHeartbeat+"]]",
	`null`, `[null]`, `{}`, `[{}]`, `[]`, `"x"`, `1`, ``, ` `, `{`, `[`, `{"event_id":"E"`, `nul`, `{"event_id":nul}`,
)

func TestParseEventsFastAgreesWithStrict(t *testing.T) {
	for _, body := range append(parseSeeds, batchOf(MaxBatch+1)) {
		agreeWithStrict(t, []byte(body))
	}
}

// The one-pass reader must take the bodies hardware usually sends, else
// the gate pays the strict path for them: the point of having it.
func TestParseEventsFastTakesWellFormedBodies(t *testing.T) {
	for _, body := range append(wellFormed, benchDetection(3), batchOf(MaxBatch)) {
		if !agreeWithStrict(t, []byte(body)) {
			t.Errorf("left to the strict path: %q", body)
		}
	}
}

// Raw keeps each event's bytes as posted, whatever surrounds them.
func TestParseEventsRawIsThePostedBytes(t *testing.T) {
	body := " [ " + evDetection + " ,\n" + evHeartbeat + "\t] "
	evs, err := ParseEvents([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(evs[0].Raw) != evDetection || string(evs[1].Raw) != evHeartbeat {
		t.Fatalf("raw %q, %q", evs[0].Raw, evs[1].Raw)
	}
	// Appending to one event's Raw must not write over the next event.
	_ = append(evs[0].Raw, 'x')
	if !strings.HasPrefix(body[strings.Index(body, evDetection)+len(evDetection):], " ,") {
		t.Fatal("appending to Raw wrote into the body")
	}
}

// FuzzParseEventsAgreesWithStrict: for any body, ParseEvents and the
// strict path agree on accept or refuse, on the events read and on the
// error's fields; the one-pass reader never takes what the strict path
// refuses.
func FuzzParseEventsAgreesWithStrict(f *testing.F) {
	for _, s := range parseSeeds { // small: the fuzzer minimises slowly
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		agreeWithStrict(t, body)
	})
}
