package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A POST that reaches the handler after the gate stopped (a slow client
// whose body was still arriving when the HTTP shutdown gave up on it) is
// answered 503 with nothing stored, not left waiting forever for a
// committer that is gone.
func TestPostAfterTheGateStoppedIsRefusedNotHung(t *testing.T) {
	svc, err := New(Config{GateID: testGate, DataDir: t.TempDir(), Tokens: testTokens(t), Log: quietLog(), Tick: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	cancel()
	require.NoError(t, <-done)

	body, err := json.Marshal(heartbeat("IR-1-late", time.Now()))
	require.NoError(t, err)
	answered := make(chan int, 1)
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+tokGate)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		svc.Handler().ServeHTTP(rec, req)
		answered <- rec.Code
	}()
	select {
	case code := <-answered:
		assert.Equal(t, http.StatusServiceUnavailable, code)
	case <-time.After(15 * time.Second):
		t.Fatal("a POST to a stopped gate was never answered")
	}
}

// GET /v1/status reports how far ingest and the decider have come
// (last_event_seq, last_decided_seq): the runbook checks them after a
// restart.
func TestStatusReportsLastEventAndDecidedSeq(t *testing.T) {
	dir := t.TempDir()
	g := startGate(t, dir, nil)
	now := time.Now()
	var batch []any
	for i, id := range []string{"IR-1-a", "IR-1-b", "IR-1-c"} {
		batch = append(batch, heartbeat(id, now.Add(time.Duration(i)*time.Millisecond)))
	}
	st, acc, raw := g.post(tokGate, batch)
	require.Equal(t, http.StatusAccepted, st, string(raw))
	last := acc.Accepted[2].Seq
	require.NotZero(t, last)

	assert.Equal(t, last, g.status().LastEventSeq)
	eventually(t, "the decider has taken every event", func() bool { return g.status().LastDecidedSeq == last })

	g.stop()
	g = startGate(t, dir, nil)
	s := g.status()
	assert.Equal(t, last, s.LastEventSeq, "unchanged after a restart")
	assert.Equal(t, last, s.LastDecidedSeq)
}

// A clearance event that lands while the decider holds a claim on the
// clearance, and whose in-memory update runs only after the decider wrote
// the crossing, neither makes the used clearance usable again nor puts the
// older version back on disk.
func TestClearanceUpdateRacingAClaimKeepsItUsed(t *testing.T) {
	dir := t.TempDir()
	svc, err := New(Config{GateID: testGate, DataDir: dir, Tokens: testTokens(t), Log: quietLog()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.close() })
	store, book := svc.store, svc.book
	now := time.Now().UTC()
	cl := engineClearance("D-1", "STAND-1", 1, zone.ClearanceActive, now)
	apply := func(evID string, c zone.Clearance) func() {
		ev, err := zone.NewEvent(evID, "bondgate/api", zone.TypeClearance, c.ID, now, c)
		require.NoError(t, err)
		after, err := applyClearanceEvent(book, store, testGate, ev)
		require.NoError(t, err)
		return after
	}
	apply("E-1", cl)()
	require.Equal(t, 1, book.Usable())

	// The correlator claims it for a crossing.
	claims := book.Begin()
	id, ok := claims.Claim(zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-1"}, zone.In, now)
	require.True(t, ok)

	// The zone re-publishes it (a newer version, still active); its
	// transaction commits, its memory update is late.
	v2 := cl
	v2.Version = 2
	v2.Window.To = cl.Window.To.Add(time.Hour)
	late := apply("E-2", v2)

	// The decider writes the crossing and confirms the claim.
	w, err := store.CommitStep(record.Step{Announce: svc.decider.announce, Outcomes: []record.Outcome{{Key: "X-1",
		Crossing: &zone.Crossing{ID: "X-1", Gate: testGate, ClearanceID: id, Time: now, DecidedAt: now}}}})
	require.NoError(t, err)
	claims.Commit(w.Crossings)
	late()

	assert.Equal(t, 0, book.Usable(), "the clearance was used by X-1")
	_, usedBy, _ := book.Get(id)
	assert.Equal(t, "X-1", usedBy)
	held, err := store.Clearances()
	require.NoError(t, err)
	onDisk := held[id]
	assert.Equal(t, 2, onDisk.Version, "the newer version stays on disk")
	assert.Equal(t, "X-1", onDisk.UsedBy)
}

// A restart replays events from the correlator's low-water mark in chunks;
// the first chunk must not lower the decided mark on disk, or a crash in
// the middle of the replay would make the next restart decide stored
// crossings anew (and /v1/status would go backwards).
func TestReplayAfterRestartNeverLowersTheDecidedMark(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().UTC().Truncate(time.Second)
	frozen := func(c *Config) { c.Now = func() time.Time { return t0 } } // the window never passes
	g := startGate(t, dir, frozen)
	// A lone beam break holds the low-water mark at its seq.
	st, _, raw := g.post(tokGate, ev("IR-1-open", "IR-1", "infrared.break", t0, map[string]any{"beam": "A", "segment": 1}))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	var last uint64
	for b := range decideChunk/700 + 1 {
		var batch []any
		for i := range 700 {
			batch = append(batch, ev(fmt.Sprintf("HB-%d-%d", b, i), fmt.Sprintf("CAM-%d", b+1), "heartbeat", t0, nil)) // one device a batch: within its rate
		}
		st, acc, raw := g.post(tokGate, batch)
		require.Equal(t, http.StatusAccepted, st, string(raw))
		last = acc.Accepted[len(acc.Accepted)-1].Seq
	}
	require.Greater(t, last, uint64(decideChunk))
	eventually(t, "every event decided", func() bool { return g.status().LastDecidedSeq == last })
	g.stop()

	cfg := Config{GateID: testGate, DataDir: dir, Tokens: testTokens(t), Log: quietLog()}
	frozen(&cfg)
	svc, err := New(cfg)
	require.NoError(t, err)
	defer svc.close()
	more, err := svc.decider.step(context.Background()) // the first replay chunk only
	require.NoError(t, err)
	require.True(t, more, "the replay takes more than one chunk")
	s, err := svc.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, last, s.LastDecidedSeq)
}
