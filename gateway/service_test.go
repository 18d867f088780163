package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testGate     = "G-MRO-1"
	tokGate      = "gate-mro-1"
	tokOtherGate = "gate-main"
	tokCustoms   = "officer-1"
	tokMRO       = "mro-hna"
)

func testTokens(t testing.TB) *zone.Tokens {
	t.Helper()
	tk, err := zone.NewTokens([]zone.TokenRecord{
		{Token: tokGate, Role: zone.RoleGate, Gate: testGate},
		{Token: tokOtherGate, Role: zone.RoleGate, Gate: "G-MAIN"},
		{Token: tokCustoms, Role: zone.RoleCustoms, Officer: "HK-0031"},
		{Token: tokMRO, Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
	})
	require.NoError(t, err)
	return tk
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

// testGateSvc is one running gate service reached over real HTTP.
type testGateSvc struct {
	t    testing.TB
	svc  *Service
	http *httptest.Server
	stop func()
}

// startGate opens (or reopens) a gate on dir and runs it until stop.
func startGate(t testing.TB, dir string, mod func(*Config)) *testGateSvc {
	t.Helper()
	return startGatePrepared(t, dir, mod, nil)
}

// startGatePrepared is startGate with prep run on the opened service
// before it runs.
func startGatePrepared(t testing.TB, dir string, mod func(*Config), prep func(*Service)) *testGateSvc {
	t.Helper()
	cfg := Config{GateID: testGate, DataDir: dir, Tokens: testTokens(t), Log: quietLog(), Tick: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	require.NoError(t, err)
	if prep != nil {
		prep(svc)
	}
	srv := httptest.NewServer(svc.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	g := &testGateSvc{t: t, svc: svc, http: srv}
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			srv.Close()
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Error("gate did not stop")
			}
		})
	}
	t.Cleanup(g.stop)
	return g
}

// do sends a request with a bearer token and returns status and body.
func (g *testGateSvc) do(method, path, token string, body any) (int, []byte) {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(g.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, g.http.URL+path, rd)
	require.NoError(g.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(g.t, err)
	return res.StatusCode, raw
}

type acceptedBody struct {
	Accepted []Accepted `json:"accepted"`
}

func (g *testGateSvc) post(token string, body any) (int, acceptedBody, []byte) {
	g.t.Helper()
	st, raw := g.do(http.MethodPost, "/v1/events", token, body)
	var ab acceptedBody
	if st == http.StatusAccepted {
		require.NoError(g.t, json.Unmarshal(raw, &ab), string(raw))
	}
	return st, ab, raw
}

func (g *testGateSvc) crossings(since uint64) []zone.Crossing {
	g.t.Helper()
	st, raw := g.do(http.MethodGet, fmt.Sprintf("/v1/crossings?since_seq=%d", since), tokCustoms, nil)
	require.Equal(g.t, http.StatusOK, st, string(raw))
	var body struct {
		Items []zone.Crossing `json:"items"`
	}
	require.NoError(g.t, json.Unmarshal(raw, &body))
	return body.Items
}

func (g *testGateSvc) status() Status {
	g.t.Helper()
	st, raw := g.do(http.MethodGet, "/v1/status", tokGate, nil)
	require.Equal(g.t, http.StatusOK, st, string(raw))
	var s Status
	require.NoError(g.t, json.Unmarshal(raw, &s))
	return s
}

// storedEvents counts the raw events in a closed gate's file, or through a
// running service's handle.
func (g *testGateSvc) storedEvents() int {
	g.t.Helper()
	evs, err := g.svc.store.EventsAfter(0, math.MaxInt)
	require.NoError(g.t, err)
	return len(evs)
}

// ev builds an event map in the wire format.
func ev(id, device, typ string, at time.Time, extra map[string]any) map[string]any {
	m := map[string]any{"event_id": id, "device_id": device, "gate": testGate, "type": typ, "time": at.UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func heartbeat(id string, at time.Time) map[string]any { return ev(id, "IR-1", "heartbeat", at, nil) }

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

func TestDuplicateEventAnswersFirstSeqAlsoAfterRestart(t *testing.T) {
	dir := t.TempDir()
	g := startGate(t, dir, nil)
	now := time.Now()

	st, first, raw := g.post(tokGate, heartbeat("IR-1-000001", now))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	require.Len(t, first.Accepted, 1)
	assert.False(t, first.Accepted[0].Duplicate)
	seq := first.Accepted[0].Seq
	require.NotZero(t, seq)

	// Re-sent alone, and again inside a batch where it also appears twice.
	st, again, _ := g.post(tokGate, heartbeat("IR-1-000001", now))
	require.Equal(t, http.StatusAccepted, st)
	assert.Equal(t, Accepted{EventID: "IR-1-000001", Seq: seq, Duplicate: true}, again.Accepted[0])

	st, batch, raw := g.post(tokGate, []any{heartbeat("IR-1-000002", now), heartbeat("IR-1-000001", now), heartbeat("IR-1-000002", now)})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	require.Len(t, batch.Accepted, 3)
	assert.False(t, batch.Accepted[0].Duplicate)
	assert.Equal(t, Accepted{EventID: "IR-1-000001", Seq: seq, Duplicate: true}, batch.Accepted[1])
	assert.Equal(t, Accepted{EventID: "IR-1-000002", Seq: batch.Accepted[0].Seq, Duplicate: true}, batch.Accepted[2])
	assert.Equal(t, 2, g.storedEvents())

	// The same event ID from another device is a different event.
	st, other, _ := g.post(tokGate, ev("IR-1-000001", "CAM-1", "heartbeat", now, nil))
	require.Equal(t, http.StatusAccepted, st)
	assert.False(t, other.Accepted[0].Duplicate)
	assert.NotEqual(t, seq, other.Accepted[0].Seq)

	g.stop()
	g2 := startGate(t, dir, nil)
	st, after, _ := g2.post(tokGate, heartbeat("IR-1-000001", now))
	require.Equal(t, http.StatusAccepted, st)
	assert.Equal(t, Accepted{EventID: "IR-1-000001", Seq: seq, Duplicate: true}, after.Accepted[0])
	assert.Equal(t, 3, g2.storedEvents())

	// Raw events stay readable at the gate, exactly as posted.
	code, body := g2.do(http.MethodGet, "/v1/events?since_seq=0", tokCustoms, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var evs struct {
		Items []RawEvent `json:"items"`
	}
	require.NoError(t, json.Unmarshal(body, &evs))
	require.Len(t, evs.Items, 3)
	assert.Equal(t, seq, evs.Items[0].Seq)
	assert.Contains(t, string(evs.Items[0].Event), `"IR-1-000001"`)
}

func TestMalformedBatchIsRefusedWholeNamingIndexAndField(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now()
	bad := []any{
		heartbeat("IR-1-000010", now),
		heartbeat("IR-1-000011", now),
		heartbeat("IR-1-000012", now),
		ev("IR-1-000013", "IR-1", "infrared.break", now, map[string]any{"beam": "C", "segment": 1}),
	}
	st, _, raw := g.post(tokGate, bad)
	require.Equal(t, http.StatusBadRequest, st, string(raw))
	var p struct {
		Errors []zone.FieldError `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(raw, &p), string(raw))
	require.NotEmpty(t, p.Errors)
	assert.Equal(t, "[3].beam", p.Errors[0].Field)
	assert.Equal(t, 0, g.storedEvents(), "nothing of a refused batch is stored")

	st, _, _ = g.post(tokGate, `{"event_id":`)
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, 0, g.storedEvents())

	// The valid events of the refused batch are accepted as new when resent.
	st, ok, _ := g.post(tokGate, bad[:3])
	require.Equal(t, http.StatusAccepted, st)
	for _, a := range ok.Accepted {
		assert.False(t, a.Duplicate)
	}
}

func TestOnlyThisGatesTokenMayPost(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now()
	hb := heartbeat("IR-1-000020", now)

	st, _, _ := g.post("", hb)
	assert.Equal(t, http.StatusUnauthorized, st)
	st, _, _ = g.post("nope", hb)
	assert.Equal(t, http.StatusUnauthorized, st)
	st, _, _ = g.post(tokOtherGate, hb)
	assert.Equal(t, http.StatusForbidden, st, "another gate's token")
	st, _, _ = g.post(tokCustoms, hb)
	assert.Equal(t, http.StatusForbidden, st, "customs may not post")
	st, _, _ = g.post(tokMRO, hb)
	assert.Equal(t, http.StatusForbidden, st)

	// The right token, but one event names another gate: the batch is refused.
	other := heartbeat("IR-1-000021", now)
	other["gate"] = "G-MAIN"
	st, _, raw := g.post(tokGate, []any{hb, other})
	assert.Equal(t, http.StatusForbidden, st, string(raw))
	assert.Equal(t, 0, g.storedEvents())

	// Reads: customs and the gate's own token, not another gate or a firm.
	for tok, want := range map[string]int{tokCustoms: 200, tokGate: 200, tokOtherGate: 403, tokMRO: 403} {
		for _, path := range []string{"/v1/status", "/v1/crossings", "/v1/events"} {
			st, _ := g.do(http.MethodGet, path, tok, nil)
			assert.Equal(t, want, st, "%s with %s", path, tok)
		}
	}
}

func TestFullStoreAnswers503AndHalfAcceptsNothing(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) { c.MaxSize = 1 << 20 })
	now := time.Now()
	pad := string(bytes.Repeat([]byte("x"), 400))
	var accepted []Accepted
	var refused []any
	for i := 0; i < 200 && refused == nil; i++ {
		batch := make([]any, 50)
		for j := range batch {
			batch[j] = ev(fmt.Sprintf("CAM-1-%06d", i*50+j), "CAM-1", "heartbeat", now, map[string]any{"message": pad})
		}
		st, body, raw := g.post(tokGate, batch)
		switch st {
		case http.StatusAccepted:
			accepted = append(accepted, body.Accepted...)
		case http.StatusServiceUnavailable:
			refused = batch
		default:
			t.Fatalf("unexpected %d: %s", st, raw)
		}
	}
	require.NotNil(t, refused, "the store never filled")
	require.NotEmpty(t, accepted)
	// Exactly the acked events are stored: none of the refused batch.
	assert.Equal(t, len(accepted), g.storedEvents())
	st, _, _ := g.post(tokGate, refused)
	assert.Equal(t, http.StatusServiceUnavailable, st, "still full")
	assert.Equal(t, len(accepted), g.storedEvents())
	t.Logf("%d events accepted before the store filled", len(accepted))
	// What was acked is still answered as a duplicate with its seq.
	first := ev(accepted[0].EventID, "CAM-1", "heartbeat", now, map[string]any{"message": pad})
	st, again, raw := g.post(tokGate, first)
	require.Equal(t, http.StatusAccepted, st, string(raw))
	assert.Equal(t, Accepted{EventID: accepted[0].EventID, Seq: accepted[0].Seq, Duplicate: true}, again.Accepted[0])
}

func TestConcurrentPostsShareTransactions(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now()
	before := g.svc.Committer().Stats()
	const clients, each = 32, 10
	var wg sync.WaitGroup
	seqs := make(chan uint64, clients*each)
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("CAM-%d-%06d", c, i)
				st, body, raw := g.post(tokGate, ev(id, fmt.Sprintf("CAM-%d", c), "heartbeat", now, nil))
				if !assert.Equal(t, http.StatusAccepted, st, string(raw)) {
					return
				}
				// Requests (and their reply channels) are reused: each
				// answer must still be its own request's.
				assert.Equal(t, id, body.Accepted[0].EventID)
				seqs <- body.Accepted[0].Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	unique := map[uint64]bool{}
	for s := range seqs {
		unique[s] = true
	}
	assert.Len(t, unique, clients*each, "every event has its own seq")
	after := g.svc.Committer().Stats()
	requests, commits := after.Requests-before.Requests, after.Commits-before.Commits
	t.Logf("%d requests in %d commits (%.1f per fsync)", requests, commits, float64(requests)/float64(commits))
	assert.Equal(t, uint64(clients*each), requests)
	assert.Less(t, commits, requests/2, "concurrent requests should share commits")

	// The metric says the same.
	st, raw := g.do(http.MethodGet, "/metrics", "", nil)
	require.Equal(t, http.StatusOK, st)
	assert.Contains(t, string(raw), "bondgate_gate_ingest_commits_total")
	assert.Contains(t, string(raw), fmt.Sprintf(`bondgate_gate_ingest_requests_total{gate="%s"} %d`, testGate, clients*each))
}

// A running gate sets its own GC target only when GOGC does not say one.
func TestGateGCPercentHonoursGOGC(t *testing.T) {
	pct, ok := gateGCPercent("")
	assert.True(t, ok)
	assert.Equal(t, 200, pct)
	for _, env := range []string{"100", "off", "50"} {
		_, ok := gateGCPercent(env)
		assert.False(t, ok, "GOGC=%s decides", env)
	}
}

// A running gate sets its own soft memory limit only when GOMEMLIMIT does
// not say one.
func TestGateMemoryLimitHonoursGOMEMLIMIT(t *testing.T) {
	limit, ok := gateMemoryLimit("")
	assert.True(t, ok)
	assert.Equal(t, int64(512<<20), limit)
	for _, env := range []string{"1GiB", "off", "256MiB"} {
		_, ok := gateMemoryLimit(env)
		assert.False(t, ok, "GOMEMLIMIT=%s decides", env)
	}
}
