package gateway

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitDone runs l.wait in a goroutine and says when it has returned.
func waitDone(l *decisionLag, ctx context.Context, logged uint64) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.wait(ctx, logged)
	}()
	return done
}

// Ingest waits for the decider only past the bound, goes on as soon as the
// decider's step brings it back within it, and never waits longer than
// maxWait for a decider that does not move.
func TestIngestWaitsForADeciderFarBehind(t *testing.T) {
	ctx := context.Background()
	l := newDecisionLag(100, time.Hour)
	l.advanced(50)

	select {
	case <-waitDone(l, ctx, 150): // 100 ahead: within the bound
	case <-time.After(10 * time.Second):
		t.Fatal("waited within the bound")
	}

	done := waitDone(l, ctx, 1000)
	select {
	case <-done:
		t.Fatal("did not wait for a decider 950 behind")
	case <-time.After(100 * time.Millisecond):
	}
	l.advanced(800) // still 200 behind
	select {
	case <-done:
		t.Fatal("went on while the decider was still past the bound")
	case <-time.After(100 * time.Millisecond):
	}
	l.advanced(900)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("did not go on once the decider was within the bound")
	}
	assert.Equal(t, uint64(1), l.waits.Load())
	l.advanced(10) // a restore reports an older mark: the decided mark never goes back
	assert.Equal(t, uint64(900), l.decided.Load())

	stuck := newDecisionLag(100, 50*time.Millisecond)
	select {
	case <-waitDone(stuck, ctx, 1_000_000):
	case <-time.After(10 * time.Second):
		t.Fatal("a decider that does not move stopped ingest")
	}
	cctx, cancel := context.WithCancel(ctx)
	done = waitDone(newDecisionLag(100, time.Hour), cctx, 1_000_000)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not end the wait")
	}
}

// The gate's ingest is wired to its decider: with the decider held in a
// step, POSTs are answered until the log is the bound ahead of what is
// decided, and the next waits until the decider moves.
func TestIngestWaitsForTheGatesDecider(t *testing.T) {
	hold := make(chan struct{})
	g := startGatePrepared(t, t.TempDir(), nil, func(s *Service) {
		s.decider.lag.bound = 100
		s.decider.lag.maxWait = time.Hour
		screen := s.decider.screen
		s.decider.screen = func(e decide.SensorEvent) string {
			<-hold // the decider's first step stops here
			return screen(e)
		}
	})
	now := time.Now()
	batch := func(b int) []any {
		var evs []any
		for i := range 50 {
			n := strconv.Itoa(b*50 + i)
			evs = append(evs, ev("CAM-1-l"+n, "CAM-1", "camera.detection", now, map[string]any{"object_class": "engine", "track_id": "t-l" + n}))
		}
		return evs
	}
	for b := range 3 { // logged 50, 100, 150: each commit began within the bound
		st, _, raw := g.post(tokGate, batch(b))
		require.Equal(t, http.StatusAccepted, st, string(raw))
	}
	answered := make(chan int, 1)
	go func() {
		st, _, _ := g.post(tokGate, batch(3))
		answered <- st
	}()
	select {
	case st := <-answered:
		t.Fatalf("answered %d while the decider was 150 behind, past the bound of 100", st)
	case <-time.After(300 * time.Millisecond):
	}
	close(hold)
	select {
	case st := <-answered:
		assert.Equal(t, http.StatusAccepted, st)
	case <-time.After(10 * time.Second):
		t.Fatal("ingest did not go on once the decider moved")
	}
	eventually(t, "all decided", func() bool {
		logged, decided, _ := g.svc.store.Progress()
		return logged == 200 && decided == 200
	})
}
