package gateway

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// storeRaw writes raw into the gate's event log as the committer would,
// bypassing ingest's checks, and returns its seq.
func storeRaw(t testing.TB, db *bbolt.DB, raw string) uint64 {
	t.Helper()
	var seq uint64
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		return b.Put(u64(seq), []byte(raw))
	}))
	return seq
}

func asideSeqs(t testing.TB, db *bbolt.DB) []uint64 {
	t.Helper()
	var out []uint64
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAside).ForEach(func(k, _ []byte) error {
			out = append(out, binary.BigEndian.Uint64(k))
			return nil
		})
	}))
	return out
}

// unidentifiedCrossing is a camera track and a beam pair on segment 1.
func unidentifiedCrossing(id string, at time.Time) []any {
	return []any{ev("CAM-1-"+id, "CAM-1", "camera.detection", at, map[string]any{"object_class": "engine", "track_id": "t-" + id}),
		ev("IR-1-"+id+"-a", "IR-1", "infrared.break", at.Add(100*time.Millisecond), map[string]any{"beam": "A", "segment": 1}),
		ev("IR-1-"+id+"-b", "IR-1", "infrared.break", at.Add(200*time.Millisecond), map[string]any{"beam": "B", "segment": 1})}
}

// TestEventTheDeciderCannotEncodeIsSetAsideAndDecisionsGoOn: an event whose
// time is past year 9999 in UTC cannot be written as JSON. Stored directly
// (as a file from before ingest checked times would hold it), it must not
// stop the decider: it is set aside, counted, alarmed, and the crossings
// after it are decided, also after a restart. Without the screen the
// decider finds it by failing (the class: any event it cannot process),
// here inside a chunk with good events around it.
func TestEventTheDeciderCannotEncodeIsSetAsideAndDecisionsGoOn(t *testing.T) {
	for _, screened := range []bool{true, false} {
		t.Run(fmt.Sprintf("screen=%v", screened), func(t *testing.T) {
			dir := t.TempDir()
			mod := func(c *Config) { c.Window = 300 * time.Millisecond }
			now := time.Now().UTC()
			var bad uint64
			prep := func(s *Service) {
				storeRaw(t, s.db.Handle(), fmt.Sprintf(`{"event_id":"IR-2-ok-1","device_id":"IR-2","gate":%q,"time":%q,"type":"heartbeat"}`, testGate, now.Add(-2*time.Second).Format(time.RFC3339Nano)))
				bad = storeRaw(t, s.db.Handle(), `{"event_id":"IR-1-bad","device_id":"IR-1","gate":"`+testGate+`","time":"9999-12-31T23:30:00-01:00","type":"heartbeat"}`)
				storeRaw(t, s.db.Handle(), fmt.Sprintf(`{"event_id":"CAM-1-ok-1","device_id":"CAM-1","gate":%q,"time":%q,"type":"heartbeat"}`, testGate, now.Add(-time.Second).Format(time.RFC3339Nano)))
				if !screened {
					s.decider.screen = nil
				}
			}
			g := startGatePrepared(t, dir, mod, prep)
			st, _, raw := g.post(tokGate, unidentifiedCrossing("x1", now))
			require.Equal(t, http.StatusAccepted, st, string(raw))
			eventually(t, "the crossing after the bad event is decided", func() bool { return len(g.crossings(0)) == 1 })
			eventually(t, "every event decided", func() bool { s := g.status(); return s.LastDecidedSeq == s.LastEventSeq })

			assert.Equal(t, []uint64{bad}, asideSeqs(t, g.svc.db.Handle()), "only the bad event is set aside")
			alarm := fmt.Sprintf("A-%s-%d-event_set_aside", testGate, bad)
			assert.Contains(t, g.alarmIDs(), alarm)
			_, metrics := g.do(http.MethodGet, "/metrics", "", nil)
			assert.Contains(t, string(metrics), `bondgate_gate_events_set_aside{gate="G-MRO-1"} 1`)
			sensors := map[string]bool{}
			for _, s := range g.status().Sensors {
				sensors[s.DeviceID] = true
			}
			assert.True(t, sensors["IR-2"] && sensors["CAM-1"], "the good events around it were decided on: %v", sensors)
			g.stop()

			// The event stays aside across a restart: nothing is retried,
			// nothing raised again, and decisions go on.
			g = startGatePrepared(t, dir, mod, func(s *Service) {
				if !screened {
					s.decider.screen = nil
				}
			})
			st, _, raw = g.post(tokGate, unidentifiedCrossing("x2", time.Now().UTC()))
			require.Equal(t, http.StatusAccepted, st, string(raw))
			eventually(t, "the next crossing is decided after a restart", func() bool { return len(g.crossings(0)) == 2 })
			assert.Equal(t, []uint64{bad}, asideSeqs(t, g.svc.db.Handle()))
			n := 0
			for _, id := range g.alarmIDs() {
				if strings.HasSuffix(id, "-event_set_aside") {
					n++
				}
			}
			assert.Equal(t, 1, n, "one alarm for the event")
		})
	}
}

// TestEventTimesOutsideTheYearsOrTooFarAheadAreRefused: every event time
// must lie in 2000–2199 (UTC) and at most 5 minutes past the gate's clock;
// otherwise the whole batch is refused with 400 naming index and field,
// and nothing of it is stored.
func TestEventTimesOutsideTheYearsOrTooFarAheadAreRefused(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now().UTC()
	good := heartbeat("IR-1-t-0", now)
	for _, tc := range []struct{ name, at, msg string }{
		{"past 9999 in UTC", "9999-12-31T23:30:00-01:00", "years 2000 to 2199"},
		{"before 2000", "1999-12-31T23:59:59Z", "years 2000 to 2199"},
		{"year 0", "0000-01-01T00:00:00Z", "years 2000 to 2199"},
		{"after 2199", "2200-01-01T00:00:00Z", "years 2000 to 2199"},
		{"2199 but far ahead", "2199-06-01T00:00:00Z", "ahead of the gate's clock"},
		{"six minutes ahead", now.Add(6 * time.Minute).Format(time.RFC3339Nano), "ahead of the gate's clock"},
		{"ahead by the zone offset", now.Add(10 * time.Minute).In(time.FixedZone("", 14*3600)).Format(time.RFC3339), "ahead of the gate's clock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := heartbeat("IR-1-t-"+strings.ReplaceAll(tc.name, " ", "-"), now)
			bad["time"] = tc.at
			st, raw := g.do(http.MethodPost, "/v1/events", tokGate, []any{good, bad})
			require.Equal(t, http.StatusBadRequest, st, string(raw))
			assert.Contains(t, string(raw), `"field":"[1].time"`)
			assert.Contains(t, string(raw), tc.msg)
			assert.Zero(t, g.storedEvents(), "nothing of the batch is stored")
		})
	}
	// Inside the bounds: a little ahead (device clocks drift), long ago.
	st, _, raw := g.post(tokGate, []any{good, heartbeat("IR-1-t-1", now.Add(4*time.Minute)), heartbeat("IR-1-t-2", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	assert.Equal(t, 3, g.storedEvents())
}
