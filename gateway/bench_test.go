package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"go.etcd.io/bbolt"
)

// benchClient is an HTTP client that keeps a connection per concurrent poster.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

// postRaw posts a prepared body and fails the benchmark on anything but 202.
func postRaw(b *testing.B, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokGate)
	req.Header.Set("Content-Type", "application/json")
	res, err := benchClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		b.Errorf("status %d", res.StatusCode)
	}
}

// ingestRate posts total requests of perReq events from clients goroutines
// and returns events per second.
func ingestRate(b *testing.B, noPersist bool, clients, total, perReq int) (evPerSec float64, commits, requests uint64) {
	g := startGate(b, b.TempDir(), func(c *Config) { c.NoPersist = noPersist })
	now := time.Now().UTC().Format(time.RFC3339Nano)
	bodies := make([][]byte, total)
	for i := range bodies {
		evs := make([]string, perReq)
		for j := range evs {
			evs[j] = fmt.Sprintf(`{"event_id":"CAM-1-%09d","device_id":"CAM-1","gate":%q,"time":%q,"type":"camera.detection","object_class":"engine","track_id":"t-%d","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-%04d","confidence":0.97}],"snapshot":"nvr://cam-1/t.jpg"}`,
				i*perReq+j, testGate, now, i, i%10000)
		}
		if perReq == 1 {
			bodies[i] = []byte(evs[0])
		} else {
			bodies[i] = []byte("[" + join(evs) + "]")
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				postRaw(b, g.http.URL, bodies[i])
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	st := g.svc.Committer().Stats()
	g.stop()
	return float64(total*perReq) / el.Seconds(), st.Commits, st.Requests
}

func join(ss []string) string {
	var buf bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(s)
	}
	return buf.String()
}

// BenchmarkIngestSingle64 compares durable single-event POSTs from 64
// concurrent clients with the same server answering without persisting.
// Target: durable ≥ 0.5 of the baseline.
func BenchmarkIngestSingle64(b *testing.B) {
	total := max(b.N, 2000)
	durable, commits, reqs := ingestRate(b, false, 64, total, 1)
	baseline, _, _ := ingestRate(b, true, 64, total, 1)
	b.ReportMetric(durable, "durable_ev/s")
	b.ReportMetric(baseline, "nopersist_ev/s")
	b.ReportMetric(durable/baseline, "ratio")
	b.ReportMetric(float64(reqs)/float64(max(commits, 1)), "req/fsync")
	b.Logf("single-event POSTs, 64 clients, %d requests: durable %.0f ev/s, no-persist %.0f ev/s, ratio %.2f, %.1f requests per fsync",
		total, durable, baseline, durable/baseline, float64(reqs)/float64(max(commits, 1)))
}

// BenchmarkIngestBatch100 compares durable 100-event batches (8 concurrent
// clients) with the parse-only server. Target: ≥ 0.25 of the baseline.
func BenchmarkIngestBatch100(b *testing.B) {
	total := max(b.N, 200)
	durable, _, _ := ingestRate(b, false, 8, total, 100)
	baseline, _, _ := ingestRate(b, true, 8, total, 100)
	b.ReportMetric(durable, "durable_ev/s")
	b.ReportMetric(baseline, "parseonly_ev/s")
	b.ReportMetric(durable/baseline, "ratio")
	b.Logf("100-event batches, 8 clients, %d requests: durable %.0f ev/s, parse-only %.0f ev/s, ratio %.2f",
		total, durable, baseline, durable/baseline)
}

// seedClearance puts a clearance into a running gate's cache as the
// consumer would.
func seedClearance(t testing.TB, s *Service, evID string, cl zone.Clearance) {
	t.Helper()
	e, err := zone.NewEvent(evID, "test", zone.TypeClearance, cl.ID, time.Now(), cl)
	if err != nil {
		t.Fatal(err)
	}
	var after func()
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		var err error
		after, err = s.book.applyEvent(tx, e)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after != nil {
		after()
	}
}

// BenchmarkDecisionLatency measures last beam → crossing record: from
// sending the completing beam to the decider having committed an
// authorized crossing. Target: p99 ≤ 5 ms.
func BenchmarkDecisionLatency(b *testing.B) {
	g := startGate(b, b.TempDir(), nil)
	n := max(b.N, 200)
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		seedClearance(b, g.svc, fmt.Sprintf("ce-%d", i), zone.Clearance{ID: fmt.Sprintf("D-%d", i), Gate: testGate, Direction: zone.In,
			Window: zone.Window{From: now.Add(-time.Hour), To: now.Add(time.Duration(n)*3*time.Second + time.Hour)}, ObjectKind: zone.KindEngine,
			Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: fmt.Sprintf("STAND-%05d", i)}}, State: zone.ClearanceActive, Version: 2})
	}
	decided := make(chan time.Time, 1)
	orig := g.svc.decider.onDecided
	g.svc.decider.onDecided = func(x zone.Crossing) {
		orig(x)
		decided <- time.Now()
	}
	lat := make([]time.Duration, 0, n)
	var ackLat []time.Duration // the beam's own POST, fsync included
	b.ResetTimer()
	for i := 0; i < n; i++ {
		at := now.Add(time.Duration(i) * 3 * time.Second)
		cam := ev(fmt.Sprintf("CAM-1-%06d", i), "CAM-1", "camera.detection", at, map[string]any{"object_class": "engine",
			"track_id": fmt.Sprintf("t-%d", i), "direction": "in",
			"reads": []map[string]any{{"kind": "stand_tag", "value": fmt.Sprintf("STAND-%05d", i), "confidence": 0.97}}})
		pair := crossPair(fmt.Sprintf("IR-1-%06d", i), 1, at.Add(time.Second))
		first, _ := json.Marshal([]any{cam, pair[0]})
		last, _ := json.Marshal(pair[1])
		postRaw(b, g.http.URL, first)
		start := time.Now()
		postRaw(b, g.http.URL, last)
		acked := time.Since(start)
		select {
		case t := <-decided:
			lat = append(lat, t.Sub(start))
			ackLat = append(ackLat, acked)
		case <-time.After(10 * time.Second):
			b.Fatalf("crossing %d not decided", i)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	sort.Slice(ackLat, func(i, j int) bool { return ackLat[i] < ackLat[j] })
	b.ReportMetric(float64(ackLat[len(ackLat)/2].Microseconds())/1000, "ack_p50_ms")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	b.Logf("last beam → crossing record over %d crossings: p50 %v, p99 %v (the beam's POST alone: p50 %v, p99 %v)",
		len(lat), p50, p99, ackLat[len(ackLat)/2], ackLat[len(ackLat)*99/100])
}
