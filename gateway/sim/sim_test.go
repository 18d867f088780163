package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateDouble is a stand-in gate over real HTTP: it records every request,
// numbers events like the gate does (a repeated event ID gets its first
// seq and duplicate:true) and can be told to fail the first few requests.
type gateDouble struct {
	mu       sync.Mutex
	token    string
	requests []recorded
	seqs     map[string]uint64
	next     uint64
	fail     []int // statuses for the first requests; -1 drops the connection
	refuse   func(batch []map[string]any) bool
}

type recorded struct {
	auth   string
	ctype  string
	events []map[string]any
}

func newGate(t *testing.T) (*gateDouble, *httptest.Server) {
	g := &gateDouble{token: "gate-mro-1", seqs: map[string]uint64{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateDouble) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.URL.Path != "/v1/events" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var batch []map[string]any
	_ = json.Unmarshal(body, &batch)
	g.requests = append(g.requests, recorded{auth: r.Header.Get("Authorization"), ctype: r.Header.Get("Content-Type"), events: batch})
	if len(g.fail) > 0 {
		st := g.fail[0]
		g.fail = g.fail[1:]
		if st == -1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(st)
		_, _ = w.Write([]byte(`{"title":"Service Unavailable","status":503,"detail":"store full"}`))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"title":"Unauthorized","status":401,"detail":"unknown token"}`))
		return
	}
	if g.refuse != nil && g.refuse(batch) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"title":"Bad Request","status":400,"detail":"the request is not valid","errors":[{"field":"[0].beam","message":"must be A or B"}]}`))
		return
	}
	type acc struct {
		EventID   string `json:"event_id"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	}
	var out struct {
		Accepted []acc `json:"accepted"`
	}
	for _, e := range batch {
		id := e["event_id"].(string)
		if s, ok := g.seqs[id]; ok {
			out.Accepted = append(out.Accepted, acc{id, s, true})
			continue
		}
		g.next++
		g.seqs[id] = g.next
		out.Accepted = append(out.Accepted, acc{id, g.next, false})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(out)
}

func (g *gateDouble) events() []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	var all []map[string]any
	for _, r := range g.requests {
		all = append(all, r.events...)
	}
	return all
}

const recording = `{"event_id":"IR-1-000001","device_id":"IR-1","gate":"G-MRO-1","time":"2024-08-29T02:10:00Z","type":"heartbeat"}
{"event_id":"CAM-1-000001","device_id":"CAM-1","gate":"G-MRO-1","time":"2024-08-29T02:10:15Z","type":"camera.detection","object_class":"engine","track_id":"t-0829-2","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-0042","confidence":0.97}]}

# the pair
{"event_id":"IR-1-000002","device_id":"IR-1","gate":"G-MRO-1","time":"2024-08-29T02:10:16.2Z","type":"infrared.break","beam":"A","segment":1}
{"event_id":"IR-1-000003","device_id":"IR-1","gate":"G-MRO-1","time":"2024-08-29T02:10:17.9Z","type":"infrared.break","beam":"B","segment":1}
`

func writeRecording(t *testing.T, text string) string {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func TestReplayAsRecorded(t *testing.T) {
	g, srv := newGate(t)
	var prog strings.Builder
	res, err := Replay(context.Background(), Options{GateURL: srv.URL + "/", Token: "gate-mro-1",
		File: writeRecording(t, recording), BatchSize: 3, Progress: &prog})
	require.NoError(t, err)
	assert.Equal(t, 4, res.Events)
	assert.Equal(t, 4, res.Accepted)
	assert.Zero(t, res.Duplicates)
	assert.Equal(t, 2, res.Batches)
	assert.Equal(t, uint64(1), res.FirstSeq)
	assert.Equal(t, uint64(4), res.LastSeq)

	require.Len(t, g.requests, 2)
	for _, r := range g.requests {
		assert.Equal(t, "Bearer gate-mro-1", r.auth)
		assert.Equal(t, "application/json", r.ctype)
	}
	evs := g.events()
	assert.Equal(t, "IR-1-000001", evs[0]["event_id"], "without rebase IDs are kept")
	assert.Equal(t, "2024-08-29T02:10:16.2Z", evs[2]["time"], "without rebase times are kept")
	assert.Equal(t, []any{map[string]any{"kind": "stand_tag", "value": "STAND-0042", "confidence": 0.97}}, evs[1]["reads"],
		"every other field passes through")
	assert.Contains(t, prog.String(), "lines 1-5: 3 accepted, 0 duplicates (seq 1-3)")

	// The same recording again is answered as duplicates.
	res, err = Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: writeRecording(t, recording)})
	require.NoError(t, err)
	assert.Zero(t, res.Accepted)
	assert.Equal(t, 4, res.Duplicates)
}

func TestReplayRebasedIsNewEachRun(t *testing.T) {
	g, srv := newGate(t)
	path := writeRecording(t, recording)
	before := time.Now().UTC()
	res1, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: path, Rebase: true})
	require.NoError(t, err)
	assert.Equal(t, 4, res1.Accepted)
	evs := g.events()
	require.Len(t, evs, 4)

	times := make([]time.Time, len(evs))
	for i, e := range evs {
		ts, err := time.Parse(time.RFC3339Nano, e["time"].(string))
		require.NoError(t, err)
		times[i] = ts
		assert.True(t, strings.HasSuffix(e["event_id"].(string), res1.RunSuffix), "%v", e["event_id"])
	}
	assert.False(t, times[0].Before(before.Truncate(time.Millisecond)), "first event is now")
	assert.Equal(t, 15*time.Second, times[1].Sub(times[0]), "spacing kept")
	assert.Equal(t, 1700*time.Millisecond, times[3].Sub(times[2]), "spacing kept")
	assert.Equal(t, "IR-1-000001"+res1.RunSuffix, evs[0]["event_id"])

	time.Sleep(2 * time.Millisecond) // the run suffix has millisecond grain
	res2, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: path, Rebase: true})
	require.NoError(t, err)
	assert.NotEqual(t, res1.RunSuffix, res2.RunSuffix)
	assert.Equal(t, 4, res2.Accepted, "a rebased replay is not deduplicated")
}

// A rebased run's camera tracks are new objects to the gate (a gate lets a
// track identify one crossing), and a run may read its own identities.
func TestReplayRebasedGivesTracksAndReadsToTheRun(t *testing.T) {
	g, srv := newGate(t)
	path := writeRecording(t, recording)
	res, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: path, Rebase: true,
		RunID: "demo7", Reads: map[string]string{"STAND-0042": "STAND-0042-DEMO7"}})
	require.NoError(t, err)
	assert.Equal(t, "-demo7", res.RunSuffix)
	evs := g.events()
	require.Len(t, evs, 4)
	assert.Equal(t, "CAM-1-000001-demo7", evs[1]["event_id"])
	assert.Equal(t, "t-0829-2-demo7", evs[1]["track_id"])
	assert.Equal(t, []any{map[string]any{"kind": "stand_tag", "value": "STAND-0042-DEMO7", "confidence": 0.97}}, evs[1]["reads"])
	assert.NotContains(t, evs[0], "track_id", "events without a track get none")

	// Two runs without a RunID get different track IDs.
	_, err = Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: path, Rebase: true})
	require.NoError(t, err)
	_, err = Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: path, Rebase: true})
	require.NoError(t, err)
	evs = g.events()
	require.Len(t, evs, 12)
	assert.NotEqual(t, evs[5]["track_id"], evs[9]["track_id"])
	assert.NotEqual(t, "t-0829-2", evs[5]["track_id"])
}

func TestReplayRetriesWhenTheGateIsBusyOrTheLinkBreaks(t *testing.T) {
	g, srv := newGate(t)
	g.fail = []int{503, -1, 503}
	var prog strings.Builder
	res, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: writeRecording(t, recording), Progress: &prog})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Retries)
	assert.Equal(t, 4, res.Accepted)
	assert.Len(t, g.requests, 4, "the same batch, four times")
	assert.Contains(t, prog.String(), "store full")
}

func TestReplayGivesUpOnAGateThatStaysDown(t *testing.T) {
	g, srv := newGate(t)
	g.fail = []int{503, 503, 503}
	res, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: writeRecording(t, recording), MaxAttempts: 3})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "still unavailable after 3 attempts")
	assert.Contains(t, err.Error(), "0 of 4 events sent")
	assert.Zero(t, res.Accepted)
}

func TestReplayStopsOnARefusedToken(t *testing.T) {
	g, srv := newGate(t)
	_, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "wrong", File: writeRecording(t, recording), BatchSize: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused the token (401)")
	assert.Len(t, g.requests, 1, "no point sending the rest")
}

func TestReplayCountsRefusedBatchesAndGoesOn(t *testing.T) {
	g, srv := newGate(t)
	g.refuse = func(batch []map[string]any) bool {
		return batch[0]["type"] == "infrared.break" && batch[0]["beam"] == "A"
	}
	res, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: writeRecording(t, recording), BatchSize: 1})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Accepted)
	assert.Equal(t, 1, res.Errors)
	require.Len(t, res.Problems, 1)
	assert.Contains(t, res.Problems[0], "lines 5-5 refused (400)")
	assert.Contains(t, res.Problems[0], "[0].beam must be A or B")
	assert.Len(t, g.events(), 4)
}

func TestReplayKeepsPaceAndCanBeCancelled(t *testing.T) {
	_, srv := newGate(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var res Result
	go func() {
		var err error
		// At real time the second event is 15 s away: the replay waits.
		res, err = Replay(ctx, Options{GateURL: srv.URL, Token: "gate-mro-1", File: writeRecording(t, recording), Speed: 1})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("replay at real time finished early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
		assert.Equal(t, 1, res.Accepted, "the first event was due at once")
	case <-time.After(10 * time.Second):
		t.Fatal("replay did not stop when cancelled")
	}
}

func TestReplayBadInput(t *testing.T) {
	_, srv := newGate(t)
	cases := map[string]struct {
		opts Options
		want string
	}{
		"no url":      {Options{File: "x"}, "no gate URL"},
		"no file":     {Options{GateURL: srv.URL}, "no recording file"},
		"missing":     {Options{GateURL: srv.URL, File: "/nonexistent/rec.jsonl"}, "no such file"},
		"not json":    {Options{GateURL: srv.URL, File: writeRecording(t, "{\"a\":1}\nnope\n")}, "rec.jsonl:1: event has no \"time\""},
		"bad line":    {Options{GateURL: srv.URL, File: writeRecording(t, "nope\n")}, "rec.jsonl:1: not a JSON object"},
		"bad time":    {Options{GateURL: srv.URL, File: writeRecording(t, `{"time":"yesterday"}`)}, "not RFC 3339"},
		"empty":       {Options{GateURL: srv.URL, File: writeRecording(t, "\n# nothing\n")}, "holds no events"},
		"no event id": {Options{GateURL: srv.URL, Rebase: true, File: writeRecording(t, `{"time":"2024-08-29T02:10:00Z"}`)}, "no \"event_id\""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Replay(context.Background(), tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// The recordings shipped in fixtures/streams are all replayable.
func TestReplayShippedRecordings(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "fixtures", "streams", "*.jsonl"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 5)
	for _, p := range paths {
		g, srv := newGate(t)
		res, err := Replay(context.Background(), Options{GateURL: srv.URL, Token: "gate-mro-1", File: p, Rebase: true})
		require.NoError(t, err, p)
		assert.Equal(t, res.Events, res.Accepted, p)
		assert.Len(t, g.events(), res.Events)
	}
}
