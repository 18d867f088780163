package bench

// Figure 9: the API beyond one disk (README "Primary and standby"). Write
// latency of POST /v1/predeclarations on a primary with --changelog (a
// standby following) beside the same API without it, in alternating
// rounds on the same broker; the failover time (kill -9 the primary, until
// the standby answers a write 201) beside the lease; the rebuild rate of a
// node on an empty disk (latest snapshot plus the tail) beside the
// primary's own write rate, which a standby must outpace to keep up.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const replicaRound = 50 // writes to one API before switching to the other

// replicaLease is the lease of the figure: the default at full scale, a
// shorter one at small to keep `make bench` quick.
func replicaLease(scale benchScale) time.Duration {
	if scale.Name == "small" {
		return 4 * time.Second
	}
	return 10 * time.Second
}

// startReplicaNode starts `bondgate api` with the changelog flags (mode is
// --changelog or --standby) and waits for /healthz.
func (e *benchEnv) startReplicaNode(ctx context.Context, name, brokers, mode string, lease time.Duration, snapshotEvery int, extra ...string) (*benchProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"api", "--addr", addr, "--data", filepath.Join(e.dir, name), "--brokers", brokers, "--tokens", e.tokens,
		mode, "--node-id", name, "--lease", lease.String(), "--snapshot-every", fmt.Sprint(snapshotEvery)}, extra...)
	p, err := e.start(name, addr, args...)
	if err != nil {
		return nil, err
	}
	if _, err := benchWaitHTTP(ctx, "http://"+addr+"/healthz", 120*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w (see %s)", name, err, p.logf.Name())
	}
	return p, nil
}

func benchReplica(ctx context.Context, e *benchEnv, scale benchScale) ([]benchRow, error) {
	n := 6 * scale.E2ESamples // writes to each API: 300 at small
	lease := replicaLease(scale)
	br, err := e.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	single, _, err := e.startAPI(ctx, filepath.Join(e.dir, "api-single"), br.addr)
	if err != nil {
		return nil, err
	}
	// A snapshot halfway, so the rebuild below restores one and reads the tail.
	primary, err := e.startReplicaNode(ctx, "api-primary", br.addr, "--changelog", lease, n/2, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	standby, err := e.startReplicaNode(ctx, "api-standby", br.addr, "--standby", lease, n/2, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	if _, err := benchWaitHTTP(ctx, "http://"+standby.addr+"/readyz", 60*time.Second); err != nil {
		return nil, fmt.Errorf("standby: %w", err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	seq := 0
	create := func(addr string) (time.Duration, int, error) {
		seq++
		body := declarationBody(900_000+seq, benchGate, fmt.Sprintf("REPL-%d", seq), time.Now().UTC())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/predeclarations", strings.NewReader(string(body)))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Authorization", "Bearer "+benchMROToken)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		res.Body.Close()
		return time.Since(start), res.StatusCode, nil
	}
	// Warm both (the primary takes writes once it holds the lease).
	for _, addr := range []string{single.addr, primary.addr} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, code, err := create(addr)
			if err == nil && code == http.StatusCreated {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("api %s takes no writes (last %d, %v)", addr, code, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var latSingle, latLog []time.Duration
	var logTime time.Duration
	for len(latLog) < n {
		for _, side := range []struct {
			addr string
			lat  *[]time.Duration
		}{{single.addr, &latSingle}, {primary.addr, &latLog}} {
			for range replicaRound {
				d, code, err := create(side.addr)
				if err != nil || code != http.StatusCreated {
					return nil, fmt.Errorf("create at %s: %d %v", side.addr, code, err)
				}
				*side.lat = append(*side.lat, d)
				if side.lat == &latLog {
					logTime += d
				}
			}
		}
	}
	q := func(lat []time.Duration, p float64) time.Duration {
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	slices.Sort(latSingle)
	slices.Sort(latLog)
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	rows := []benchRow{{Figure: fmt.Sprintf("9 create latency with --changelog and a standby, p50 / p99 (%d sequential)", len(latLog)),
		Measured: ms(q(latLog, 0.5)) + " / " + ms(q(latLog, 0.99)),
		Baseline: "no changelog " + ms(q(latSingle, 0.5)) + " / " + ms(q(latSingle, 0.99)),
		Ratio:    fmt.Sprintf("%.2f / %.2f", float64(q(latLog, 0.5))/float64(q(latSingle, 0.5)), float64(q(latLog, 0.99))/float64(q(latSingle, 0.99))),
		Target:   "reported"}}
	single.stop()

	// The primary's machine is lost; time until the standby acknowledges a write.
	if err := primary.cmd.Process.Kill(); err != nil {
		return rows, err
	}
	killed := time.Now()
	for {
		_, code, err := create(standby.addr)
		if err == nil && code == http.StatusCreated {
			break
		}
		if time.Since(killed) > lease+30*time.Second {
			return rows, fmt.Errorf("the standby took no write within %v of the kill (last %d, %v)", lease+30*time.Second, code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	failover := time.Since(killed)
	rows = append(rows, benchRow{Figure: "9 failover: kill -9 the primary → the standby answers a write 201",
		Measured: failover.Round(10 * time.Millisecond).String(), Baseline: "lease " + lease.String(),
		Ratio: fmt.Sprintf("%.2f", float64(failover)/float64(lease)), Target: "≤ lease + 5 s", Verdict: verdict(failover <= lease+5*time.Second)})

	// A node on an empty disk rebuilds: the latest snapshot, then the tail.
	started := time.Now()
	rebuilt, err := e.startReplicaNode(ctx, "api-rebuilt", br.addr, "--standby", lease, n/2, "--log-level", "info", "--log-format", "json")
	if err != nil {
		return rows, err
	}
	if _, err := benchWaitHTTP(ctx, "http://"+rebuilt.addr+"/readyz", 120*time.Second); err != nil {
		return rows, fmt.Errorf("rebuilt node: %w", err)
	}
	wall := time.Since(started)
	rb, err := caughtUpLine(rebuilt.logf.Name(), 10*time.Second)
	if err != nil {
		return rows, err
	}
	rate := float64(rb.Seq) / (float64(rb.Took) / float64(time.Second))
	writeRate := float64(len(latLog)) / logTime.Seconds()
	rows = append(rows, benchRow{Figure: fmt.Sprintf("9 rebuild on an empty disk: %d transactions (snapshot at tx %d; %d record reads of a %d-record log) in %v (%v from exec to ready)",
		rb.Seq, rb.Snapshot, rb.Read, rb.Records, rb.Took.Round(time.Millisecond), wall.Round(time.Millisecond)),
		Measured: fmt.Sprintf("%.0f tx/s", rate), Baseline: fmt.Sprintf("primary writes %.0f tx/s", writeRate),
		Ratio: fmt.Sprintf("%.1f", rate/writeRate), Target: "> write rate", Verdict: verdict(rate > writeRate)})
	return rows, nil
}

// rebuildLine is the node's own account of its rebuild.
type rebuildLine struct {
	Seq, Snapshot, Read, Records int64
	Took                         time.Duration
}

// caughtUpLine reads the "caught up with the changelog" line of a JSON log.
func caughtUpLine(path string, within time.Duration) (rebuildLine, error) {
	deadline := time.Now().Add(within)
	for {
		f, err := os.Open(path)
		if err != nil {
			return rebuildLine{}, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				Msg      string `json:"msg"`
				Seq      int64  `json:"seq"`
				Snapshot int64  `json:"snapshot"`
				Read     int64  `json:"read"`
				Records  int64  `json:"records"`
				Took     int64  `json:"took"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "caught up with the changelog" {
				f.Close()
				return rebuildLine{Seq: l.Seq, Snapshot: l.Snapshot, Read: l.Read, Records: l.Records, Took: time.Duration(l.Took)}, nil
			}
		}
		f.Close()
		if time.Now().After(deadline) {
			return rebuildLine{}, fmt.Errorf("no \"caught up with the changelog\" line in %s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
