package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Quiet steps (heartbeats here) may be held for a moment, but never past
// the gate's stop: a gate stopped right after them has written them all,
// and the next start has nothing to replay or re-decide.
func TestQuietStepsAreWrittenByTheStop(t *testing.T) {
	dir := t.TempDir()
	g := startGatePrepared(t, dir, nil, func(s *Service) { s.decider.quietEvery = time.Hour })
	now := time.Now()
	for i := range 20 {
		st, _, raw := g.post(tokGate, heartbeat(fmt.Sprintf("hb-%d", i), now))
		require.Equal(t, http.StatusAccepted, st, string(raw))
	}
	eventually(t, "the decider took them", func() bool { return g.svc.decider.lag.decided.Load() == 20 })
	_, decided, err := g.svc.store.Progress()
	require.NoError(t, err)
	assert.Less(t, decided, uint64(20), "held: not written yet (else this test shows nothing)")
	g.stop()

	g = startGate(t, dir, nil)
	logged, decided, err := g.svc.store.Progress()
	require.NoError(t, err)
	assert.Equal(t, uint64(20), logged)
	assert.Equal(t, uint64(20), decided, "the stop wrote the held steps")
	assert.Equal(t, uint64(20), g.svc.decider.replayUntil)
}

// A held quiet step is written with the next step that has something to
// tell (a crossing here) at once, and on its own within quietEvery.
func TestHeldStepsAreWrittenSoon(t *testing.T) {
	g := startGatePrepared(t, t.TempDir(), func(c *Config) { c.Window = 300 * time.Millisecond },
		func(s *Service) { s.decider.quietEvery = 200 * time.Millisecond })
	now := time.Now()
	st, _, raw := g.post(tokGate, heartbeat("hb-1", now))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "written within quietEvery", func() bool {
		_, decided, _ := g.svc.store.Progress()
		return decided == 1
	})

	g.svc.decider.quietEvery = time.Hour // a held step now waits for company
	st, _, raw = g.post(tokGate, heartbeat("hb-2", now))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	st, _, raw = g.post(tokGate, []any{ev("IR-1-q-a", "IR-1", "infrared.break", now, map[string]any{"beam": "A", "segment": 1}),
		ev("IR-1-q-b", "IR-1", "infrared.break", now.Add(100*time.Millisecond), map[string]any{"beam": "B", "segment": 1})})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "the crossing is decided", func() bool { return len(g.crossings(0)) == 1 })
	_, decided, err := g.svc.store.Progress()
	require.NoError(t, err)
	assert.Equal(t, uint64(4), decided, "the crossing's step wrote the held heartbeat's step with it")
}
