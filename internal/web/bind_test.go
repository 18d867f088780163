package web

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// batchEvent is shaped like a gate batch element: DecodeStrict and Validate
// must name the index and field of a fault.
type batchEvent struct {
	EventID string    `json:"event_id" validate:"required"`
	Gate    string    `json:"gate" validate:"required"`
	Time    time.Time `json:"time" validate:"required"`
	Reads   []struct {
		Kind       string  `json:"kind" validate:"oneof=stand_tag vehicle_plate"`
		Confidence float64 `json:"confidence" validate:"gte=0,lte=1"`
	} `json:"reads" validate:"dive"`
}

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, zone.EINVALID, zone.ErrorCode(err), "%v", err)
	var out []string
	for _, f := range zone.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return out
}

func TestDecodeStrictNamesPaths(t *testing.T) {
	var evs []batchEvent
	err := DecodeStrict([]byte(`[{"event_id":"a","gate":"G","time":"2026-11-26T10:00:00Z"},
		{"event_id":"b","gate":"G","time":"noon","reads":[{"kind":"stand_tag","confidence":"high","colour":1}]}]`), &evs)
	assert.Equal(t, []string{"[1].reads[0].colour", "[1].reads[0].confidence", "[1].time"}, fieldsOf(t, err))

	evs = nil
	require.NoError(t, DecodeStrict([]byte(`[{"event_id":"a","gate":"G","time":"2026-11-26T10:00:00Z"},
		{"event_id":"","gate":"G","time":"2026-11-26T10:00:00Z","reads":[{"kind":"badge","confidence":2}]}]`), &evs))
	assert.Equal(t, []string{"[1].event_id", "[1].reads[0].kind", "[1].reads[0].confidence"}, fieldsOf(t, Validate(evs)))

	var one batchEvent
	assert.Equal(t, []string{"body"}, fieldsOf(t, DecodeStrict([]byte(`{"event_id":"a"} x`), &one)))
	assert.Equal(t, []string{"body"}, fieldsOf(t, DecodeStrict([]byte(`{"event_id":`), &one)))
	assert.Equal(t, []string{"body"}, fieldsOf(t, DecodeStrict([]byte(`[]`), &one)))
	// Case-insensitive keys are accepted, as encoding/json does.
	require.NoError(t, DecodeStrict([]byte(`{"Event_ID":"a","gate":"G","time":"2026-11-26T10:00:00Z"}`), &one))
	assert.Equal(t, "a", one.EventID)
}
