package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// The results table is Markdown whose columns line up, empty cells and
// non-ASCII text included.
func TestBenchTableAligns(t *testing.T) {
	var out bytes.Buffer
	printBenchTable(&out, []benchRow{
		{Figure: "1 ingest", Measured: "13235 ev/s", Baseline: "23134 ev/s", Ratio: "0.57", Target: "≥ 0.50", Verdict: "ok"},
		{Figure: "5 API memory", Measured: "712 MiB", Baseline: "store 688 MiB", Ratio: "-", Target: "reported"},
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	for _, l := range lines {
		require.Equal(t, utf8.RuneCountInString(lines[0]), utf8.RuneCountInString(l), l)
		require.Equal(t, 7, strings.Count(l, "|"), l)
	}
	require.Contains(t, lines[2], "13235 ev/s")
}

// The seeded file is what a gate has after taking n events: a real gate
// service opened on it reads back seq 1..n as camera detections, with the
// decider's progress at n, finds every seeded event in its seen index (a
// re-send is a duplicate under its seq) and decides the next event as n+1
// without deciding the seeded ones again.
func TestSeedEventsReadBack(t *testing.T) {
	const n = 2500 // more than one page of GET /v1/events
	dir := t.TempDir()
	var progress bytes.Buffer
	seed, err := seedEvents(dir, n, &progress)
	require.NoError(t, err)
	require.Equal(t, n, seed.N)
	require.Positive(t, seed.FileSize)
	require.Contains(t, progress.String(), fmt.Sprintf("%d of %d events", n, n))

	tokens, err := zone.ParseTokens(strings.NewReader(benchTokens))
	require.NoError(t, err)
	svc, err := gateway.New(gateway.Config{GateID: benchGate, DataDir: dir, Tokens: tokens, Tick: 20 * time.Millisecond,
		Log: benchQuietLog()})
	require.NoError(t, err)
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	st, err := svc.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(n), st.LastEventSeq)
	require.Equal(t, uint64(n), st.LastDecidedSeq)
	require.Len(t, st.Sensors, 1)
	require.Equal(t, "CAM-1", st.Sensors[0].DeviceID)
	require.True(t, st.Sensors[0].OK, "the seeded camera was heard just now: not silent")

	client := &http.Client{Timeout: 10 * time.Second}
	var want uint64 = 1
	for since := uint64(0); ; {
		var page struct {
			Items []struct {
				Seq   uint64          `json:"seq"`
				Event json.RawMessage `json:"event"`
			} `json:"items"`
		}
		require.NoError(t, httpJSON(ctx, client, http.MethodGet, fmt.Sprintf("%s/v1/events?since_seq=%d&limit=1000", srv.URL, since),
			benchGateToken, nil, http.StatusOK, &page))
		if len(page.Items) == 0 {
			break
		}
		for _, it := range page.Items {
			require.Equal(t, want, it.Seq)
			evs, err := decide.ParseEvents(it.Event)
			require.NoError(t, err, "seq %d: %s", it.Seq, it.Event)
			require.Equal(t, fmt.Sprintf("CAM-SEED-%010d", it.Seq), evs[0].EventID)
			require.Equal(t, "camera.detection", evs[0].Type)
			want++
			since = it.Seq
		}
	}
	require.Equal(t, uint64(n+1), want, "seq 1..n read back")

	post := func(body string) []gateway.Accepted {
		var res struct {
			Accepted []gateway.Accepted `json:"accepted"`
		}
		require.NoError(t, httpJSON(ctx, client, http.MethodPost, srv.URL+"/v1/events", benchGateToken, []byte(body), http.StatusAccepted, &res))
		return res.Accepted
	}
	_, _, raw := appendSeedEvent(nil, 7, time.Now().UTC().Format(time.RFC3339))
	require.Equal(t, []gateway.Accepted{{EventID: "CAM-SEED-0000000007", Seq: 7, Duplicate: true}}, post("["+string(raw)+"]"))
	_, _, raw = appendSeedEvent(nil, n+1, time.Now().UTC().Format(time.RFC3339))
	require.Equal(t, []gateway.Accepted{{EventID: fmt.Sprintf("CAM-SEED-%010d", n+1), Seq: n + 1}}, post("["+string(raw)+"]"))
	require.Eventually(t, func() bool {
		st, err := svc.Status(ctx)
		return err == nil && st.LastDecidedSeq == n+1
	}, 10*time.Second, 10*time.Millisecond)
}
