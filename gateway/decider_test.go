package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPendingCrossingIsDecidedOnceAfterRestart(t *testing.T) {
	dir := t.TempDir()
	mod := func(c *Config) { c.Window = 2 * time.Second }
	g := startGate(t, dir, mod)
	now := time.Now().UTC()
	// A crossing decided before the restart, and one still inside its window.
	st, _, _ := g.post(tokGate, crossPair("IR-1-old", 1, now.Add(-10*time.Second)))
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "first crossing decided", func() bool { return len(g.crossings(0)) == 1 })
	st, _, _ = g.post(tokGate, crossPair("IR-1-new", 2, now))
	require.Equal(t, http.StatusAccepted, st)
	g.stop()

	g2 := startGate(t, dir, mod)
	eventually(t, "pending crossing decided after restart", func() bool { return len(g2.crossings(0)) == 2 })
	xs := g2.crossings(0)
	assert.Equal(t, 2, xs[1].Segment)
	assert.Equal(t, zone.DecisionUnidentified, xs[1].Decision)
	assert.NotEqual(t, xs[0].ID, xs[1].ID)
	// Nothing more comes: no crossing is decided twice.
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, g2.crossings(0), 2)
	assert.Equal(t, 4, g2.status().OutboxDepth, "two crossings and their two alarms, no repeats")
}

// steppedClock is a wall clock a test can step.
type steppedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppedClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *steppedClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestClockStepBackDoesNotReopenAClearanceWindow(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := &steppedClock{t: base.Add(3 * time.Hour)} // past the window's end
	mod := func(c *Config) { c.Now = clock.Now; c.Window = time.Second }
	g := startGate(t, dir, mod)
	cl := engineClearance("D-1", "STAND-0042", 2, zone.ClearanceActive, base)
	cl.Window = zone.Window{From: base, To: base.Add(2 * time.Hour)}
	seedClearance(t, g.svc, "ce-1", cl)
	assert.Equal(t, 0, g.status().Clearances, "past its window on the gate clock")
	g.stop() // the clock's high-water mark is on disk

	// The wall clock steps back into the window, and the gate restarts.
	clock.Set(base.Add(time.Hour))
	g2 := startGate(t, dir, mod)
	assert.Equal(t, 0, g2.status().Clearances, "a clock step back does not re-open the window")
	st, _, _ := g2.post(tokGate, engineCrossing(1, "STAND-0042", base.Add(time.Hour)))
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "crossing decided", func() bool { return len(g2.crossings(0)) == 1 })
	assert.Equal(t, zone.DecisionUnauthorized, g2.crossings(0)[0].Decision)

	// Inside the window on an honest clock the same clearance would do.
	dir2 := t.TempDir()
	clock2 := &steppedClock{t: base.Add(time.Hour)}
	g3 := startGate(t, dir2, func(c *Config) { c.Now = clock2.Now; c.Window = time.Second })
	seedClearance(t, g3.svc, "ce-1", cl)
	assert.Equal(t, 1, g3.status().Clearances)
	st, _, _ = g3.post(tokGate, engineCrossing(1, "STAND-0042", base.Add(time.Hour)))
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "crossing decided", func() bool { return len(g3.crossings(0)) == 1 })
	assert.Equal(t, zone.DecisionAuthorized, g3.crossings(0)[0].Decision)
}

func TestSilentSensorShowsInStatusAndRaisesAnAlarm(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) { c.SilentAfter = time.Second })
	now := time.Now().UTC()
	st, _, _ := g.post(tokGate, []any{heartbeat("IR-1-hb-1", now.Add(-time.Minute)), ev("CAM-1-hb-1", "CAM-1", "heartbeat", now, nil)})
	require.Equal(t, http.StatusAccepted, st)
	// CAM-1 keeps speaking (silence is judged on receipt, so a stamp ahead
	// would not keep it OK); IR-1 does not.
	n := 1
	eventually(t, "IR-1 reported silent", func() bool {
		n++
		st, _, _ := g.post(tokGate, ev(fmt.Sprintf("CAM-1-hb-%d", n), "CAM-1", "heartbeat", time.Now(), nil))
		require.Equal(t, http.StatusAccepted, st)
		for _, s := range g.status().Sensors {
			if s.DeviceID == "IR-1" {
				return !s.OK
			}
		}
		return false
	})
	var cam SensorStatus
	for _, s := range g.status().Sensors {
		if s.DeviceID == "CAM-1" {
			cam = s
		}
	}
	assert.True(t, cam.OK)
	assert.NotEmpty(t, cam.LastSeen)
	assert.Equal(t, 1, g.status().OutboxDepth, "the silence alarm waits for the link")
}

func TestCorruptStoreIsMovedAsideAndAlarmed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gate-"+testGate+".db")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600))
	g := startGate(t, dir, nil)
	assert.Equal(t, 1, g.status().OutboxDepth, "a store_corrupt alarm is queued")
	matches, err := filepath.Glob(path + ".corrupt-*")
	require.NoError(t, err)
	assert.Len(t, matches, 1, "the damaged file is kept aside")
	st, _, _ := g.post(tokGate, heartbeat("IR-1-000001", time.Now()))
	assert.Equal(t, http.StatusAccepted, st, "the gate serves on a fresh store")
}

// Through a running gate: two engines, two segments, both cleared, both
// authorized.
func TestGateAuthorizesTwoEnginesCrossingAtOnce(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) { c.Window = time.Second })
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-a", engineClearance("D-A", "STAND-0042", 1, zone.ClearanceActive, now))
	seedClearance(t, g.svc, "ce-b", engineClearance("D-B", "STAND-0108", 1, zone.ClearanceActive, now))
	cam := func(id, track, tag string, at time.Time) map[string]any {
		return ev(id, "CAM-1", "camera.detection", at, map[string]any{"object_class": "engine", "track_id": track,
			"direction": "in", "reads": []map[string]any{{"kind": "stand_tag", "value": tag, "confidence": 0.97}}})
	}
	brk := func(id, beam string, seg int, at time.Time) map[string]any {
		return ev(id, "IR-1", "infrared.break", at, map[string]any{"beam": beam, "segment": seg})
	}
	st, _, raw := g.post(tokGate, []any{cam("CAM-1-a", "t-a", "STAND-0042", now), cam("CAM-1-b", "t-b", "STAND-0108", now),
		brk("IR-1-1A", "A", 1, now.Add(100*time.Millisecond)), brk("IR-1-2A", "A", 2, now.Add(100*time.Millisecond)),
		brk("IR-1-1B", "B", 1, now.Add(400*time.Millisecond)), brk("IR-1-2B", "B", 2, now.Add(400*time.Millisecond))})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "both crossings decided", func() bool { return len(g.crossings(0)) == 2 })
	xs := g.crossings(0)
	for _, x := range xs {
		assert.Equal(t, zone.DecisionAuthorized, x.Decision, "segment %d: %+v", x.Segment, x)
		assert.Len(t, x.TrackIDs, 1)
	}
	assert.ElementsMatch(t, []string{"D-A", "D-B"}, []string{xs[0].ClearanceID, xs[1].ClearanceID})
}

// Through a running gate: a heartbeat stamped ahead (within what ingest
// takes) still lets the device go silent SilentAfter after it came.
func TestGateJudgesSilenceOnReceiptClock(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) { c.SilentAfter = time.Second })
	st, _, raw := g.post(tokGate, ev("CAM-1-hb-1", "CAM-1", "heartbeat", time.Now().Add(4*time.Minute), nil))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	start := time.Now()
	eventually(t, "CAM-1 reported silent", func() bool {
		for _, s := range g.status().Sensors {
			if s.DeviceID == "CAM-1" {
				return !s.OK
			}
		}
		return false
	})
	assert.Less(t, time.Since(start), time.Minute)
	for _, s := range g.status().Sensors {
		last, err := time.Parse(time.RFC3339Nano, s.LastSeen)
		require.NoError(t, err)
		assert.False(t, last.After(time.Now()), "last_seen is the receipt, not the stamp")
	}
}

// The same through a running gate: the crossing's events are stamped inside
// a window that had not opened on the gate's clock when they came (a few
// minutes ahead, as ingest allows). Deciding later, once the window is open,
// does not change that: the crossing is unauthorized and the clearance stays.
func TestGateRefusesAClearanceBeforeItsWindowOpens(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := &steppedClock{t: now}
	g := startGate(t, t.TempDir(), func(c *Config) { c.Now = clock.Now; c.Window = time.Second })
	cl := engineClearance("D-LATER", "STAND-0042", 1, zone.ClearanceActive, now)
	cl.Window = zone.Window{From: now.Add(3 * time.Minute), To: now.Add(time.Hour)}
	seedClearance(t, g.svc, "ce-1", cl)

	st, _, raw := g.post(tokGate, engineCrossing(1, "STAND-0042", now.Add(4*time.Minute)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	// Let the decider take the events, then move the clock past the
	// crossing's stamps (and into the window) so it is decided.
	eventually(t, "events taken", func() bool { return g.status().LastDecidedSeq >= 3 })
	clock.Set(now.Add(6 * time.Minute))
	eventually(t, "crossing decided", func() bool { return len(g.crossings(0)) == 1 })
	x := g.crossings(0)[0]
	assert.Equal(t, zone.DecisionUnauthorized, x.Decision)
	assert.Empty(t, x.ClearanceID)
	_, usedBy, ok := g.svc.book.Get("D-LATER")
	require.True(t, ok)
	assert.Empty(t, usedBy, "the clearance stays for its window")
}
