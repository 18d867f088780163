package kafka

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// FuzzDecodeEvent feeds message values to the CloudEvents decoder every
// consumer starts with. It must not panic; what it refuses must be poison
// (so the consumer skips it rather than retrying forever); what it accepts
// has id, source and type and survives a round trip.
func FuzzDecodeEvent(f *testing.F) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, typ := range []string{zone.TypeClearance, zone.TypeCrossing, zone.TypeAlarm, zone.TypeDeclarationChanged} {
		e, err := zone.NewEvent("ev-1", "bondgate/test", typ, "D-1", at, map[string]any{"id": "D-1", "gate": "G-MRO-1"})
		if err != nil {
			f.Fatal(err)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{`{"id":"1","source":"s","type":"t"}`, `{"id":"1","source":"s","type":"t","time":"not a time"}`,
		`{"id":"1","source":"s","type":"t","data":{"a":[1,2,{}]}}`, `{"id":1}`, `{"id":"","source":"s","type":"t"}`,
		`{"id":"` + strings.Repeat("i", 40000) + `","source":"s","type":"t"}`,
		`[]`, `null`, `"x"`, ``, `{"id":"1","source":"s","type":"t"} trailing`, "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		e, err := DecodeEvent(value)
		if err != nil {
			if !errors.Is(err, ErrPoison) {
				t.Fatalf("refusal is not poison (the consumer would retry it forever): %v", err)
			}
			return
		}
		if e.ID == "" || e.Source == "" || e.Type == "" || len(e.ID) > zone.MaxKeyLen {
			t.Fatalf("accepted an envelope without id, source or type: %+v", e)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("an accepted event does not encode again: %v", err)
		}
		back, err := DecodeEvent(raw)
		if err != nil {
			t.Fatalf("an accepted event, re-encoded, is refused: %v", err)
		}
		if back.ID != e.ID || back.Type != e.Type || back.Source != e.Source || !back.Time.Equal(e.Time) {
			t.Fatalf("round trip changed the envelope: %+v -> %+v", e, back)
		}
	})
}
