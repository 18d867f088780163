package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// benchGates are the gates seeded declarations name.
var benchGates = []string{"G-MRO-1", "G-MAIN", "G-CARGO", "G-WEST"}

// seedDeclarations writes n declarations through the real use case
// (DeclarationService.Submit: indexes, audit chain, outbox), with fsync off
// while seeding and one sync at the end; every tenth is cleared by customs.
// Two firms, four gates. The outbox they queued is marked delivered, so the
// API starts with nothing to publish.
func seedDeclarations(ctx context.Context, dataDir string, n int) error {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(dataDir, "api.db"), bolt.Options{SkipCheck: true, NoSync: true, Logger: benchQuietLog()})
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &zone.DeclarationService{Store: bolt.NewDeclarationStore(db), Now: time.Now, Source: "bondgate/api",
		NewID: func() string { return ulid.Make().String() }}
	firms := []zone.Principal{{Role: zone.RoleMRO, Firm: benchMROFirm}, {Role: zone.RoleMRO, Firm: "GAMECO"}}
	officer := zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}
	now := time.Now().UTC()
	// Firm, gate and status drawn independently (fixed seed): no filter
	// combination is empty by construction.
	rnd := rand.New(rand.NewPCG(7, uint64(n)))
	for i := 0; i < n; i++ {
		var d zone.PreDeclaration
		if err := json.Unmarshal(declarationBody(i, benchGates[rnd.IntN(len(benchGates))], fmt.Sprintf("STAND-%07d", i), now), &d); err != nil {
			return err
		}
		got, _, err := svc.Submit(ctx, firms[rnd.IntN(len(firms))], d, nil)
		if err != nil {
			return fmt.Errorf("seed %d: %w", i, err)
		}
		if rnd.IntN(10) == 0 {
			if _, err := svc.Decide(ctx, officer, got.ID, zone.ActClear, ""); err != nil {
				return fmt.Errorf("seed clear %d: %w", i, err)
			}
		}
	}
	ob := db.Outbox()
	if err := ob.Delivered(ctx, math.MaxUint64); err != nil {
		return err
	}
	return db.Close() // syncs once
}

// readQuery is one kind of list request of figure 5.
type readQuery struct {
	token string
	query string
}

// readQueries mix customs and firm callers, filters and page sizes.
var readQueries = []readQuery{
	{benchCustoms, "status=submitted&gate=G-MRO-1&limit=50"},
	{benchCustoms, "gate=G-MAIN&limit=50"},
	{benchCustoms, "status=cleared&limit=50"},
	{benchMROToken, "status=submitted&limit=20"},
	{benchMROToken, "gate=G-MRO-1&limit=50"},
	{benchOtherToken, "status=cleared&gate=G-WEST&limit=20"},
}

// fixedRate sends rate requests per second for d on a fixed schedule and
// measures each from the time it was scheduled to be sent (so a stalled
// server is charged for every request queued behind the stall, the way
// wrk2 does). next gives each request's URL and token; every answer must
// be 200.
func fixedRate(ctx context.Context, rate int, d time.Duration, next func(i int) (url, token string), onBody func(i int, body []byte)) ([]time.Duration, int64, error) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type job struct {
		i     int
		sched time.Time
	}
	jobs := make(chan job, n)
	lat := make([]time.Duration, n)
	var failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 256; w++ {
		wg.Go(func() {
			for j := range jobs {
				url, token := next(j.i)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					lat[j.i] = time.Since(j.sched)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				lat[j.i] = time.Since(j.sched)
				if res.StatusCode != http.StatusOK {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.StatusCode, body))
				} else if onBody != nil {
					onBody(j.i, body)
				}
			}
		})
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		sched := start.Add(time.Duration(i) * interval)
		if w := time.Until(sched); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{i: i, sched: sched}
	}
	close(jobs)
	wg.Wait()
	slices.Sort(lat)
	var err error
	if v := firstErr.Load(); v != nil {
		err = fmt.Errorf("%d of %d requests failed, first: %v", failures.Load(), n, v)
	}
	return lat, failures.Load(), err
}

// listLoad runs the list mix at rate against an API; a third of the
// requests follow a next_cursor seen earlier (page 2 and on).
func listLoad(ctx context.Context, apiAddr string, rate int, d time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	cursors := make([]string, len(readQueries))
	next := func(i int) (string, string) {
		q := readQueries[i%len(readQueries)]
		url := "http://" + apiAddr + "/v1/predeclarations?" + q.query
		if i%3 == 2 {
			mu.Lock()
			if c := cursors[i%len(readQueries)]; c != "" {
				url += "&cursor=" + c
			}
			mu.Unlock()
		}
		return url, q.token
	}
	onBody := func(i int, body []byte) {
		// The cursor is the last field; finding it beats decoding 50 records
		// on the machine the API runs on.
		c := ""
		if j := bytes.LastIndex(body, []byte(`"next_cursor":"`)); j >= 0 {
			rest := body[j+len(`"next_cursor":"`):]
			if k := bytes.IndexByte(rest, '"'); k >= 0 {
				c = string(rest[:k])
			}
		}
		mu.Lock()
		cursors[i%len(readQueries)] = c
		mu.Unlock()
	}
	lat, _, err := fixedRate(ctx, rate, d, next, onBody)
	return lat, err
}

// readsResult is one list-latency measurement.
type readsResult struct {
	N            int
	Seed         time.Duration
	Lat, Healthz []time.Duration
	Mem          procMem
	FileSize     int64
}

func measureReads(ctx context.Context, e *benchEnv, n, rate int, d time.Duration) (readsResult, error) {
	if r, ok := e.reads[n]; ok {
		return r, nil
	}
	r := readsResult{N: n}
	dir := filepath.Join(e.dir, fmt.Sprintf("api-reads-%d", n))
	defer os.RemoveAll(dir)
	t0 := time.Now()
	if err := seedDeclarations(ctx, dir, n); err != nil {
		return r, fmt.Errorf("seed declarations: %w", err)
	}
	r.Seed = time.Since(t0)
	if fi, err := os.Stat(filepath.Join(dir, "api.db")); err == nil {
		r.FileSize = fi.Size()
	}
	br, err := e.startBroker(ctx)
	if err != nil {
		return r, err
	}
	defer br.stop()
	api, _, err := e.startAPI(ctx, dir, br.addr)
	if err != nil {
		return r, err
	}
	defer api.stop()
	// Warm up (connections, first page faults) outside the measurement.
	if _, err := listLoad(ctx, api.addr, rate, time.Second); err != nil {
		return r, err
	}
	if r.Healthz, _, err = fixedRate(ctx, rate, d, func(int) (string, string) { return "http://" + api.addr + "/healthz", "" }, nil); err != nil {
		return r, err
	}
	if r.Lat, err = listLoad(ctx, api.addr, rate, d); err != nil {
		return r, err
	}
	r.Mem, err = readProcMem(api.pid())
	if err == nil {
		e.reads[n] = r
	}
	return r, err
}

func benchReads(ctx context.Context, e *benchEnv, scale benchScale, n int, d time.Duration, _ bool) ([]benchRow, error) {
	r, err := measureReads(ctx, e, n, scale.ReadRate, d)
	if err != nil {
		return nil, err
	}
	p99, hp99 := pct(r.Lat, 0.99), pct(r.Healthz, 0.99)
	return []benchRow{
		{Figure: fmt.Sprintf("5 list over %d declarations at %d req/s", n, scale.ReadRate),
			Measured: fmt.Sprintf("p50 %s, p99 %s, max %s", ms(pct(r.Lat, 0.5)), ms(p99), ms(r.Lat[len(r.Lat)-1])),
			Baseline: fmt.Sprintf("GET /healthz same rate: p50 %s, p99 %s", ms(pct(r.Healthz, 0.5)), ms(hp99)),
			Ratio:    fmt.Sprintf("%.1f× healthz p99", float64(p99)/float64(max(hp99, time.Microsecond))),
			Target:   "p99 ≤ 20 ms", Verdict: verdict(p99 <= 20*time.Millisecond)},
		{Figure: "5 API memory with that data", Measured: fmt.Sprintf("VmHWM %s, RSS %s (anon %s, file %s)", mib(r.Mem.HWM), mib(r.Mem.RSS), mib(r.Mem.Anon), mib(r.Mem.File)),
			Baseline: fmt.Sprintf("store file %.0f MiB", float64(r.FileSize)/(1<<20)), Ratio: "-", Target: "reported"},
	}, nil
}
