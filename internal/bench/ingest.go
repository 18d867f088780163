package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what ops/bench/events.lua's done() prints.
type wrkResult struct {
	Requests      int64 `json:"requests"`
	DurationUS    int64 `json:"duration_us"`
	StatusErrors  int64 `json:"status_errors"`
	ConnectErrors int64 `json:"connect_errors"`
	ReadErrors    int64 `json:"read_errors"`
	WriteErrors   int64 `json:"write_errors"`
	Timeouts      int64 `json:"timeouts"`
	P50US         int64 `json:"p50_us"`
	P99US         int64 `json:"p99_us"`
	batch         int
}

// eventsPerSec is the rate of accepted events.
func (r wrkResult) eventsPerSec() float64 {
	return float64((r.Requests-r.StatusErrors)*int64(r.batch)) / (float64(r.DurationUS) / 1e6)
}

func (r wrkResult) errors() int64 {
	return r.StatusErrors + r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.Timeouts
}

var wrkNonce int

// runWrk posts events to url for d with 64 connections on 2 threads.
func runWrk(ctx context.Context, wrk, lua, url string, batch int, d time.Duration) (wrkResult, error) {
	wrkNonce++
	nonce := strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(wrkNonce)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, wrk, "-t2", "-c64", fmt.Sprintf("-d%ds", secs), "--timeout", "10s", "-s", lua, url,
		"--", strconv.Itoa(batch), benchGateToken, benchGate, nonce)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	i := bytes.Index(out, []byte("BENCH "))
	if i < 0 {
		return wrkResult{}, fmt.Errorf("wrk printed no BENCH line: %s", out)
	}
	line := out[i+len("BENCH "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	var r wrkResult
	if err := json.Unmarshal(line, &r); err != nil {
		return wrkResult{}, fmt.Errorf("wrk BENCH line %q: %v", line, err)
	}
	r.batch = batch
	if r.Requests == 0 {
		return r, fmt.Errorf("wrk completed no request")
	}
	return r, nil
}

// ingestPair measures one shape (batch size) against the parse-only server
// and a real gate, each fresh, with a short warm-up first.
func ingestPair(ctx context.Context, e *benchEnv, wrk, lua, brokers string, batch int, d time.Duration, tag string) (durable, base wrkResult, err error) {
	po, err := startParseOnly()
	if err != nil {
		return durable, base, err
	}
	url := "http://" + po.addr
	if _, err := runWrk(ctx, wrk, lua, url, batch, time.Second); err != nil {
		return durable, base, err
	}
	base, err = runWrk(ctx, wrk, lua, url, batch, d)
	po.stop()
	if err != nil {
		return durable, base, err
	}
	g, _, err := e.startGate(ctx, "gate-ingest-"+tag, filepath.Join(e.dir, "gate-ingest-"+tag), brokers)
	if err != nil {
		return durable, base, err
	}
	url = "http://" + g.addr
	if _, err := runWrk(ctx, wrk, lua, url, batch, time.Second); err != nil {
		return durable, base, err
	}
	durable, err = runWrk(ctx, wrk, lua, url, batch, d)
	g.stop()
	return durable, base, err
}

func benchIngest(ctx context.Context, e *benchEnv, scale benchScale, wrk, lua string) ([]benchRow, error) {
	if _, err := os.Stat(lua); err != nil {
		return nil, fmt.Errorf("wrk script: %w (run from the repository root)", err)
	}
	br, err := e.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	var rows []benchRow
	for _, shape := range []struct {
		batch  int
		target float64
		name   string
	}{{1, 0.5, "1 ingest, single-event POSTs"}, {100, 0.25, "1 ingest, 100-event batches"}} {
		durable, base, err := ingestPair(ctx, e, wrk, lua, br.addr, shape.batch, scale.IngestFor, strconv.Itoa(shape.batch))
		if err != nil {
			return rows, err
		}
		ratio := durable.eventsPerSec() / base.eventsPerSec()
		row := benchRow{Figure: shape.name,
			Measured: fmt.Sprintf("%.0f ev/s durable (p99 %.1f ms, %d errors)", durable.eventsPerSec(), float64(durable.P99US)/1000, durable.errors()),
			Baseline: fmt.Sprintf("%.0f ev/s parse-only (p99 %.1f ms)", base.eventsPerSec(), float64(base.P99US)/1000),
			Ratio:    fmt.Sprintf("%.2f", ratio), Target: fmt.Sprintf("≥ %.2f", shape.target),
			Verdict: verdict(ratio >= shape.target && durable.errors() == 0)}
		rows = append(rows, row)
	}
	return rows, nil
}

// summariseDurations formats a few percentiles.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(d.Microseconds())/1000), "0"), ".") + " ms"
}
