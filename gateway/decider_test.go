package gateway

import (
	"bytes"
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
	st, _, _ := g.post(tokGate, []any{heartbeat("IR-1-hb-1", now.Add(-time.Minute)), ev("CAM-1-hb-1", "CAM-1", "heartbeat", now.Add(4*time.Minute), nil)})
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "IR-1 reported silent", func() bool {
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
