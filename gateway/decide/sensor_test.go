package decide

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	evDetection = `{"event_id":"CAM-1-000017","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"engine","track_id":"t-17","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-0042","confidence":0.97}],"snapshot":"nvr://cam-1/2026/11/26/t-17.jpg"}`
	evBreak     = `{"event_id":"IR-1-000231","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:01.5+08:00","type":"infrared.break","beam":"A","segment":1}`
	evHeartbeat = `{"event_id":"IR-1-000232","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat"}`
)

// withField returns the detection example with one field replaced (or
// removed when value is nil).
func withField(t *testing.T, base, field string, value any) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(base), &m))
	if value == nil {
		delete(m, field)
	} else {
		m[field] = value
	}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return string(raw)
}

func TestParseEventsValid(t *testing.T) {
	t.Run("single object", func(t *testing.T) {
		evs, err := ParseEvents([]byte(evDetection))
		require.NoError(t, err)
		require.Len(t, evs, 1)
		ev := evs[0]
		assert.Equal(t, "CAM-1-000017", ev.EventID)
		assert.Equal(t, "CAM-1", ev.DeviceID)
		assert.Equal(t, "G-MRO-1", ev.Gate)
		assert.Equal(t, EventDetection, ev.Type)
		assert.Equal(t, "engine", ev.ObjectClass)
		assert.Equal(t, zone.In, ev.Direction)
		assert.Equal(t, []Read{{Kind: "stand_tag", Value: "STAND-0042", Confidence: 0.97}}, ev.Reads)
		assert.True(t, ev.Time.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)))
		assert.JSONEq(t, evDetection, string(ev.Raw))
	})
	t.Run("array keeps order, raw bytes and converts times to UTC", func(t *testing.T) {
		body := "[\n" + evDetection + ",\n  " + evBreak + "," + evHeartbeat + "]\n"
		evs, err := ParseEvents([]byte(body))
		require.NoError(t, err)
		require.Len(t, evs, 3)
		assert.Equal(t, []string{"CAM-1-000017", "IR-1-000231", "IR-1-000232"}, []string{evs[0].EventID, evs[1].EventID, evs[2].EventID})
		assert.Equal(t, evBreak, string(evs[1].Raw), "raw keeps the posted bytes")
		assert.Equal(t, "A", evs[1].Beam)
		assert.Equal(t, 1, evs[1].Segment)
		assert.Equal(t, time.UTC, evs[1].Time.Location())
		assert.True(t, evs[1].Time.Equal(time.Date(2026, 11, 26, 2, 0, 1, 500_000_000, time.UTC)))
	})
	t.Run("faults and initialized replays", func(t *testing.T) {
		body := `[{"event_id":"IR-2-9","device_id":"IR-2","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"infrared.fault","code":"137","message":"cover opened"},
		{"event_id":"CAM-1-9","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"vehicle","track_id":"t-1","state":"initialized"}]`
		evs, err := ParseEvents([]byte(body))
		require.NoError(t, err)
		assert.Equal(t, "137", evs[0].Code)
		assert.Equal(t, StateInitialized, evs[1].State)
	})
	t.Run("exactly 1000", func(t *testing.T) {
		_, err := ParseEvents([]byte(batchOf(MaxBatch)))
		require.NoError(t, err)
	})
}

func batchOf(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strings.Replace(evHeartbeat, "IR-1-000232", "IR-1-"+strconv.Itoa(i), 1)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestParseEventsInvalid(t *testing.T) {
	det, brk := evDetection, evBreak
	cases := []struct {
		name  string
		body  string
		field string
		msg   string // substring of the message
	}{
		{"empty body", "  ", "body", "must be"},
		{"not JSON", "{nope", "body", "malformed JSON"},
		{"empty array", "[]", "body", "at least one"},
		{"more than 1000", batchOf(MaxBatch + 1), "body", "at most 1000"},
		{"trailing data after object", evHeartbeat + ` {"x":1}`, "body", "unexpected data"},
		{"trailing data after array", "[" + evHeartbeat + "] x", "body", "unexpected data"},
		{"array of non-objects", `[1]`, "[0]", "must be an object"},
		{"unknown field", withField(t, det, "colour", "red"), "[0].colour", "unknown field"},
		{"unknown field in read", strings.Replace(det, `"confidence":0.97`, `"confidence":0.97,"bbox":[1,2]`, 1), "[0].reads[0].bbox", "unknown field"},
		{"missing event_id", withField(t, det, "event_id", nil), "[0].event_id", "is required"},
		{"event_id with space", withField(t, det, "event_id", "CAM 1"), "[0].event_id", "printable"},
		{"event_id too long", withField(t, det, "event_id", strings.Repeat("x", 129)), "[0].event_id", "at most 128"},
		{"missing device_id", withField(t, det, "device_id", nil), "[0].device_id", "is required"},
		{"missing gate", withField(t, det, "gate", ""), "[0].gate", "is required"},
		{"missing time", withField(t, det, "time", nil), "[0].time", "is required"},
		{"bad time", withField(t, det, "time", "26/11/2026 10:00"), "[0].time", "RFC 3339"},
		{"time not a string", withField(t, det, "time", 12), "[0].time", "must be a string"},
		{"missing type", withField(t, det, "type", nil), "[0].type", "is required"},
		{"unknown type", withField(t, det, "type", "camera.motion"), "[0].type", "must be camera.detection"},
		{"detection without object_class", withField(t, det, "object_class", nil), "[0].object_class", "is required"},
		{"detection with bad object_class", withField(t, det, "object_class", "bicycle"), "[0].object_class", "must be engine"},
		{"detection without track_id", withField(t, det, "track_id", nil), "[0].track_id", "is required"},
		{"bad direction", withField(t, det, "direction", "up"), "[0].direction", "must be in or out"},
		{"bad state", withField(t, det, "state", "rebooted"), "[0].state", "must be initialized"},
		{"read with bad kind", strings.Replace(det, `"stand_tag"`, `"serial"`, 1), "[0].reads[0].kind", "must be stand_tag"},
		{"read with empty value", strings.Replace(det, `"STAND-0042"`, `" "`, 1), "[0].reads[0].value", "is required"},
		{"read confidence above 1", strings.Replace(det, `0.97`, `1.2`, 1), "[0].reads[0].confidence", "between 0 and 1"},
		{"read confidence below 0", strings.Replace(det, `0.97`, `-0.1`, 1), "[0].reads[0].confidence", "between 0 and 1"},
		{"read confidence a string", strings.Replace(det, `0.97`, `"high"`, 1), "[0].reads[0].confidence", "must be a number"},
		{"reads on a heartbeat", withField(t, evHeartbeat, "reads", []any{map[string]any{"kind": "stand_tag", "value": "S", "confidence": 1}}), "[0].reads", "only camera.detection"},
		{"break with bad beam", withField(t, brk, "beam", "C"), "[0].beam", "must be A or B"},
		{"break without beam", withField(t, brk, "beam", nil), "[0].beam", "must be A or B"},
		{"break with segment 0", withField(t, brk, "segment", 0), "[0].segment", "1 or more"},
		{"break without segment", withField(t, brk, "segment", nil), "[0].segment", "1 or more"},
		{"segment not a number", withField(t, brk, "segment", "1"), "[0].segment", "must be an integer"},
		{"segment fractional", withField(t, brk, "segment", 1.5), "[0].segment", "must be an integer"},
		{"error names the index in a batch", "[" + evHeartbeat + "," + evHeartbeat + "," + evBreak + "," + withField(t, brk, "beam", "X") + "]", "[3].beam", "must be A or B"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := ParseEvents([]byte(tc.body))
			require.Error(t, err)
			assert.Nil(t, evs, "nothing is returned from a refused batch")
			assert.Equal(t, zone.EINVALID, zone.ErrorCode(err))
			fields := zone.ErrorFields(err)
			require.NotEmpty(t, fields)
			var hit *zone.FieldError
			for i := range fields {
				if fields[i].Field == tc.field {
					hit = &fields[i]
				}
			}
			require.NotNil(t, hit, "want field %q in %+v", tc.field, fields)
			assert.Contains(t, hit.Message, tc.msg)
		})
	}
}

func TestParseEventsReportsEveryBadField(t *testing.T) {
	body := `[{"event_id":"IR-1-1","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"infrared.break","beam":"C","segment":0},` +
		`{"event_id":"CAM-1-1","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"engine","track_id":"t","reads":[{"kind":"stand_tag","value":"S","confidence":0.9},{"kind":"stand_tag","value":"S","confidence":7}]}]`
	_, err := ParseEvents([]byte(body))
	require.Error(t, err)
	want := []zone.FieldError{
		{Field: "[0].beam", Message: "must be A or B"},
		{Field: "[0].segment", Message: "must be 1 or more"},
		{Field: "[1].reads[1].confidence", Message: "must be between 0 and 1"},
	}
	assert.Equal(t, want, zone.ErrorFields(err))
}

// A heartbeat stamped a year ahead must not keep a device "heard" for a
// year: silence is judged on when the gate took the event.
func TestFutureStampedHeartbeatDoesNotHideSilence(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, SilentAfter: 30 * time.Second})
	hb := hbEv(0, "IR-1")
	hb.Time = corrT0.AddDate(1, 0, 0)
	assert.Empty(t, c.ObserveAt(1, hb, nil, corrAt(0)))
	assert.Empty(t, c.Advance(corrAt(30), nil))
	outs := c.Advance(corrAt(31), nil)
	require.Len(t, outs, 1, "silent 30 s after the gate last heard it")
	a := outs[0].Alarms[0]
	assert.Equal(t, zone.AlarmSensorSilent, a.Kind)
	assert.True(t, a.Time.Equal(corrAt(30)), "%s", a.Time)
	assert.Contains(t, a.Message, corrT0.Format(time.RFC3339), "silent since the receipt, not the stamp")
	assert.True(t, c.Sensors()[0].LastSeen.Equal(corrAt(0)))

	// A state kept from before (the device's stamp as last_seen) is brought
	// back to the gate clock, so it too goes silent.
	c2 := newQuiet(CorrelatorConfig{Gate: corrGate, SilentAfter: 30 * time.Second})
	c2.SeedSensor(SensorState{DeviceID: "IR-1", LastSeen: corrT0.AddDate(1, 0, 0), LastSeq: 1})
	assert.Empty(t, c2.Advance(corrAt(0), nil))
	require.Len(t, c2.Advance(corrAt(31), nil), 1)
}
