package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fillEvents posts n heartbeats to a gate in batches of 1,000 from four
// clients: the event log a gate has after n events, written the real way.
func fillEvents(ctx context.Context, addr string, n int) error {
	client := &http.Client{Timeout: 60 * time.Second}
	now := time.Now().UTC().Format(time.RFC3339)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				from := int(next.Add(1000)) - 1000
				if from >= n || ctx.Err() != nil {
					return
				}
				buf.Reset()
				buf.WriteByte('[')
				for i := from; i < min(n, from+1000); i++ {
					if i > from {
						buf.WriteByte(',')
					}
					fmt.Fprintf(&buf, `{"event_id":"FILL-%d","device_id":"HB-%d","gate":%q,"time":%q,"type":"heartbeat"}`, i, i%16, benchGate, now)
				}
				buf.WriteByte(']')
				if err := httpJSON(ctx, client, http.MethodPost, "http://"+addr+"/v1/events", benchGateToken, buf.Bytes(), http.StatusAccepted, nil); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// ingestAt measures durable single-event ingest on a gate already holding
// n events.
func ingestAt(ctx context.Context, e *benchEnv, wrk, lua, brokers string, n int, d time.Duration) (wrkResult, error) {
	dir := filepath.Join(e.dir, "gate-growth-"+strconv.Itoa(n))
	defer os.RemoveAll(dir)
	g, _, err := e.startGate(ctx, "gate-growth-"+strconv.Itoa(n), dir, brokers)
	if err != nil {
		return wrkResult{}, err
	}
	defer g.stop()
	if err := fillEvents(ctx, g.addr, n); err != nil {
		return wrkResult{}, fmt.Errorf("fill %d events: %w", n, err)
	}
	time.Sleep(2 * time.Second) // let the decider catch up with the fill
	return runWrk(ctx, wrk, lua, "http://"+g.addr, 1, d)
}

// benchGrowth prints how ingest, drain and list latency change with the
// number of records held (figure 6). The baseline of each is the same
// figure at the smallest size in this run.
func benchGrowth(ctx context.Context, e *benchEnv, scale benchScale, wrk, lua string) ([]benchRow, error) {
	br, err := e.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	var pts []growthPoint
	for _, n := range scale.Growth {
		p := growthPoint{n: n}
		w, err := ingestAt(ctx, e, wrk, lua, br.addr, n, scale.GrowthFor)
		if err != nil {
			return nil, err
		}
		p.ingest = w.eventsPerSec()
		e.stopAll()
		dr, err := measureDrain(ctx, e, n)
		if err != nil {
			return nil, err
		}
		p.drain = dr.rate()
		e.stopAll()
		if n <= scale.GrowthListMax {
			rr, err := measureReads(ctx, e, n, scale.ReadRate, scale.GrowthFor)
			if err != nil {
				return nil, err
			}
			p.listP = pct(rr.Lat, 0.99)
			p.rssMiB = float64(rr.Mem.HWM) / 1024
			e.stopAll()
		}
		pts = append(pts, p)
		fmt.Fprintf(e.out, "  at %d records: ingest %.0f ev/s, drain %.0f msg/s, list %s\n", n, p.ingest, p.drain, p.list(scale))
	}
	var rows []benchRow
	b := pts[0]
	for _, p := range pts {
		listRatio := "-"
		if p.listP > 0 {
			listRatio = fmt.Sprintf("%.2f", float64(p.listP)/float64(max(b.listP, time.Microsecond)))
		}
		rows = append(rows, benchRow{Figure: fmt.Sprintf("6 growth at %d records", p.n),
			Measured: fmt.Sprintf("ingest %.0f ev/s; drain %.0f msg/s; list %s", p.ingest, p.drain, p.list(scale)),
			Baseline: fmt.Sprintf("at %d: %.0f ev/s; %.0f msg/s; p99 %s", b.n, b.ingest, b.drain, ms(b.listP)),
			Ratio:    fmt.Sprintf("%.2f; %.2f; %s", p.ingest/b.ingest, p.drain/b.drain, listRatio),
			Target:   "reported"})
	}
	return rows, nil
}

// growthPoint is figure 6 at one size.
type growthPoint struct {
	n      int
	ingest float64
	drain  float64
	listP  time.Duration
	rssMiB float64
}

// list describes the list-latency column.
func (p growthPoint) list(scale benchScale) string {
	if p.listP == 0 {
		return "not measured at this scale (BENCH_SCALE=huge)"
	}
	return fmt.Sprintf("p99 %s at %d req/s (API VmHWM %.0f MiB)", ms(p.listP), scale.ReadRate, p.rssMiB)
}
