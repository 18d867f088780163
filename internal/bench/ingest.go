package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// runWrk posts events to url for d with 64 connections on 2 threads; extra
// are the script's MODE and DEVICES (ops/bench/events.lua).
func runWrk(ctx context.Context, wrk, lua, url string, batch int, d time.Duration, extra ...string) (wrkResult, error) {
	wrkNonce++
	nonce := strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + strconv.Itoa(wrkNonce)
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := append([]string{"-t2", "-c64", fmt.Sprintf("-d%ds", secs), "--timeout", "10s", "-s", lua, url,
		"--", strconv.Itoa(batch), benchGateToken, benchGate, nonce}, extra...)
	cmd := exec.CommandContext(ctx, wrk, args...)
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

// ingestShape is one load of figure 1.
type ingestShape struct {
	name   string
	batch  int
	mode   string // events.lua MODE
	device int    // events.lua DEVICES (mode hb)
	target float64
	// peer is the JetStream figure this shape must beat: "sync" (fsync per
	// message, 64 synchronous publishers) or "default" (no fsync per
	// message, windows of 1,000 async publishes); "" reports none.
	peer string
	// devices, when set, is the gate's device list (--devices).
	devices []string
}

func (s ingestShape) extra() []string {
	return []string{s.mode, strconv.Itoa(max(1, s.device))}
}

// mixDevices is the device list of the mixed load: a gate's cameras,
// infrared pairs and heartbeat-only devices (events.lua MODE mix).
func mixDevices() []string {
	var ids []string
	for i := 1; i <= 6; i++ {
		ids = append(ids, "CAM-"+strconv.Itoa(i), "IR-"+strconv.Itoa(i))
	}
	for i := 1; i <= 8; i++ {
		ids = append(ids, "HB-"+strconv.Itoa(i))
	}
	return ids
}

// ingestRounds is how many alternating rounds each figure's median takes.
const ingestRounds = 3

// jetstreamResult is the BENCH line of ops/bench/peers/jetstream.
type jetstreamResult struct {
	SyncPublishers float64 `json:"sync_publishers"`
	AsyncWindows   float64 `json:"async_windows"`
	Errors         int64   `json:"errors"`
}

// runJetStream runs the peer once (its own server and publishers).
func runJetStream(ctx context.Context, bin string, sync bool, d time.Duration) (jetstreamResult, error) {
	cmd := exec.CommandContext(ctx, bin, "-sync="+strconv.FormatBool(sync), "-d", d.String())
	cmd.Env = benchChildEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return jetstreamResult{}, fmt.Errorf("jetstream peer: %v: %s", err, out)
	}
	i := bytes.Index(out, []byte("BENCH "))
	if i < 0 {
		return jetstreamResult{}, fmt.Errorf("jetstream peer printed no BENCH line: %s", out)
	}
	var r jetstreamResult
	err = json.Unmarshal(bytes.TrimSpace(out[i+len("BENCH "):]), &r)
	return r, err
}

// peerFigure is the JetStream figure a shape is compared with.
func (r jetstreamResult) figure(peer string) float64 {
	if peer == "default" {
		return max(r.SyncPublishers, r.AsyncWindows)
	}
	return r.SyncPublishers
}

// startNeutral starts the neutral ceiling (ops/bench/baseline: echo,
// decode into a small struct, answer like a gate, store nothing).
func (e *benchEnv) startNeutral(ctx context.Context, bin string) (*benchProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(e.dir, "neutral.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = benchChildEnv()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start neutral baseline: %w", err)
	}
	p := &benchProc{name: "neutral", cmd: cmd, addr: addr, logf: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	e.procs = append(e.procs, p)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return p, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("neutral baseline did not listen on %s", addr)
}

// gateProgress reads GET /v1/status's last event and last decided seq.
func gateProgress(ctx context.Context, addr string) (lastEvent, lastDecided uint64, err error) {
	var st struct {
		LastEventSeq   uint64 `json:"last_event_seq"`
		LastDecidedSeq uint64 `json:"last_decided_seq"`
	}
	err = httpJSON(ctx, &http.Client{Timeout: 5 * time.Second}, http.MethodGet, "http://"+addr+"/v1/status", benchGateToken, nil, http.StatusOK, &st)
	return st.LastEventSeq, st.LastDecidedSeq, err
}

// waitDecided polls the gate until its decider has taken every logged
// event or limit has passed, and says how far behind it still is and how
// long it waited. After a round the figure reads it twice: at 1 s (the
// verdict: "within 1 s of the last acked seq") and then to the end, so the
// next round starts on a gate with nothing left to decide.
func waitDecided(ctx context.Context, addr string, limit time.Duration) (behind uint64, took time.Duration, err error) {
	start := time.Now()
	for {
		last, decided, err := gateProgress(ctx, addr)
		if err != nil {
			return 0, 0, err
		}
		if decided >= last || time.Since(start) > limit {
			return last - min(last, decided), time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// shapeResult is one shape measured against the neutral ceiling.
type shapeResult struct {
	gate, ceiling, peer float64 // medians, ev/s (peer msg/s; 0: not run)
	p99US               uint64  // the worst round's p99
	errs                int64
	behind              uint64        // decided seq behind the last event 1 s after the worst round
	caughtUp            time.Duration // the longest wait for the decider after a round (at most 1 s)
	settled             time.Duration // the longest time after a round until every event was decided
	acked, stored       int64         // events acked by the gate; growth of its log meanwhile
	// CPU time (user+sys) per event of the gate (its rounds and the
	// decider's catch-up after each) and of the neutral ceiling: figures
	// that a machine shared with other work disturbs less than the rates.
	gateCPU, neutralCPU time.Duration
}

func (r shapeResult) ratio() float64 { return r.gate / r.ceiling }

// lost says an acked event has no seq: every acked event was logged, so
// the log grew by at least what was acked (requests still in flight when
// wrk stopped may add more).
func (r shapeResult) lost() bool { return r.acked > r.stored }

// row is the figure's line against the neutral ceiling.
func (r shapeResult) row(figure string, s ingestShape) benchRow {
	ok := r.ratio() >= s.target && r.errs == 0 && r.behind == 0 && !r.lost()
	return benchRow{Figure: figure,
		Measured: fmt.Sprintf("%.0f ev/s (p99 %.1f ms, %d errors, decider caught up within %s, %d behind 1 s after, all decided within %s, %d acked / %d stored; gate CPU %s/event with its deciding)",
			r.gate, float64(r.p99US)/1000, r.errs, ms(r.caughtUp), r.behind, ms(r.settled), r.acked, r.stored, us(r.gateCPU)),
		Baseline: fmt.Sprintf("neutral %.0f ev/s (CPU %s/event)", r.ceiling, us(r.neutralCPU)),
		Ratio:    fmt.Sprintf("%.2f", r.ratio()), Target: fmt.Sprintf("≥ %.2f", s.target), Verdict: verdict(ok)}
}

// measureShape runs ingestRounds alternating rounds of the neutral ceiling,
// the running gate and, where the shape has a
// peer and bins one, JetStream, with the same wrk client and load for
// both HTTP ones, after a second's warm-up of each.
func measureShape(ctx context.Context, e *benchEnv, bins ingestBins, wrk, lua string, gate, neutral *benchProc, s ingestShape, d time.Duration) (shapeResult, error) {
	var r shapeResult
	gateAddr := gate.addr
	gateURL, neutralURL := "http://"+gateAddr, "http://"+neutral.addr
	for _, u := range []string{neutralURL, gateURL} { // warm-up
		if _, err := runWrk(ctx, wrk, lua, u, s.batch, time.Second, s.extra()...); err != nil {
			return r, err
		}
	}
	var gateRates, neutralRates, peerRates []float64
	var neutralEvents int64
	_, _, _ = waitDecided(ctx, gateAddr, time.Minute) // the warm-up's events
	before, _, err := gateProgress(ctx, gateAddr)
	if err != nil {
		return r, err
	}
	for round := 1; round <= ingestRounds; round++ {
		n0, _ := procCPU(neutral.pid())
		nr, err := runWrk(ctx, wrk, lua, neutralURL, s.batch, d, s.extra()...)
		if err != nil {
			return r, err
		}
		n1, _ := procCPU(neutral.pid())
		r.neutralCPU += n1 - n0
		neutralEvents += (nr.Requests - nr.StatusErrors) * int64(s.batch)
		g0, _ := procCPU(gate.pid())
		gr, err := runWrk(ctx, wrk, lua, gateURL, s.batch, d, s.extra()...)
		if err != nil {
			return r, err
		}
		behind, took, err := waitDecided(ctx, gateAddr, time.Second)
		if err != nil {
			return r, err
		}
		// The next round starts once the gate has decided everything: its
		// leftover deciding would otherwise run during the neutral ceiling's
		// round and its own next one, and the CPU per event counts it.
		_, rest, err := waitDecided(ctx, gateAddr, time.Minute)
		if err != nil {
			return r, err
		}
		all := took + rest
		r.settled = max(r.settled, all)
		g1, _ := procCPU(gate.pid())
		r.gateCPU += g1 - g0
		r.behind, r.caughtUp = max(r.behind, behind), max(r.caughtUp, took)
		r.acked += (gr.Requests - gr.StatusErrors) * int64(s.batch)
		r.errs += gr.errors()
		r.p99US = max(r.p99US, uint64(gr.P99US))
		gateRates, neutralRates = append(gateRates, gr.eventsPerSec()), append(neutralRates, nr.eventsPerSec())
		line := fmt.Sprintf("    %s round %d: gate %.0f ev/s (decider caught up in %v, %d behind; all decided %v after the run), neutral %.0f ev/s",
			s.name, round, gr.eventsPerSec(), took.Round(time.Millisecond), behind, all.Round(time.Millisecond), nr.eventsPerSec())
		if s.peer != "" && bins.jetstream != "" {
			jr, err := runJetStream(ctx, bins.jetstream, s.peer == "sync", min(d, 3*time.Second))
			if err != nil {
				return r, err
			}
			peerRates = append(peerRates, jr.figure(s.peer))
			line += fmt.Sprintf(", JetStream (%s) %.0f sync publishers / %.0f async windows msg/s", s.peer, jr.SyncPublishers, jr.AsyncWindows)
		}
		fmt.Fprintf(e.out, "%s; load %s\n", line, loadAverage())
	}
	after, _, err := gateProgress(ctx, gateAddr)
	if err != nil {
		return r, err
	}
	r.stored = int64(after - before)
	r.gateCPU /= time.Duration(max(1, r.stored))
	r.neutralCPU /= time.Duration(max(1, neutralEvents))
	r.gate, r.ceiling = median(gateRates), median(neutralRates)
	if len(peerRates) > 0 {
		r.peer = median(peerRates)
	}
	return r, nil
}

// ingestFigure runs one shape on a fresh gate (one per shape, its broker a
// separate process, decider and forwarder running) against the neutral
// ceiling and, where the shape has a peer, JetStream.
func ingestFigure(ctx context.Context, e *benchEnv, bins ingestBins, wrk, lua, brokers string, s ingestShape, d time.Duration, tag string) ([]benchRow, shapeResult, error) {
	var extra []string
	if len(s.devices) > 0 {
		var list []map[string]any
		for _, id := range s.devices {
			list = append(list, map[string]any{"id": id, "kind": "json"})
		}
		path, err := writeDevices(e.dir, "devices-"+tag+".json", list)
		if err != nil {
			return nil, shapeResult{}, err
		}
		extra = append(extra, "--devices", path)
	}
	g, _, err := e.startGate(ctx, "gate-ingest-"+tag, filepath.Join(e.dir, "gate-ingest-"+tag), brokers, extra...)
	if err != nil {
		return nil, shapeResult{}, err
	}
	defer g.stop()
	neutral, err := e.startNeutral(ctx, bins.neutral)
	if err != nil {
		return nil, shapeResult{}, err
	}
	defer neutral.stop()
	r, err := measureShape(ctx, e, bins, wrk, lua, g, neutral, s, d)
	if err != nil {
		return nil, r, err
	}
	mem, _ := readProcMem(g.pid())
	row := r.row("1 ingest, "+s.name, s)
	row.Measured += fmt.Sprintf("; gate VmHWM %s", mib(mem.HWM))
	rows := []benchRow{row}
	if r.peer > 0 {
		what := "JetStream fsync per message, 64 sync publishers"
		if s.peer == "default" {
			what = "JetStream default (no fsync per message), best of sync publishers and async windows"
		}
		rows = append(rows, benchRow{Figure: "1 vs peer, " + s.name, Measured: fmt.Sprintf("%.0f ev/s", r.gate),
			Baseline: fmt.Sprintf("%s %.0f msg/s", what, r.peer), Ratio: fmt.Sprintf("%.2f", r.gate/r.peer), Target: "> 1",
			Verdict: verdict(r.gate > r.peer)})
	}
	return rows, r, nil
}

// ingestBins are the reference programs of figure 1 (ops/bench/baseline,
// ops/bench/peers/jetstream); jetstream "" skips the peer.
type ingestBins struct{ neutral, jetstream string }

func benchIngest(ctx context.Context, e *benchEnv, scale benchScale, bins ingestBins, wrk, lua string) ([]benchRow, error) {
	if _, err := os.Stat(lua); err != nil {
		return nil, fmt.Errorf("wrk script: %w (run from the repository root)", err)
	}
	br, err := e.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	defer br.stop()
	var rows []benchRow
	fresh := map[string]shapeResult{} // on a fresh file, by shape name
	for i, s := range []ingestShape{
		{name: "single-event POSTs (camera)", batch: 1, mode: "camera", target: 0.5, peer: "sync"},
		{name: "100-event batches (camera)", batch: 100, mode: "camera", target: 0.25, peer: "default"},
		{name: "single-event mix, 20 listed devices", batch: 1, mode: "mix", target: 0.5, devices: mixDevices()},
		{name: "single-event heartbeats, 2,000 devices", batch: 1, mode: "hb", device: 2000, target: 0.5},
	} {
		rs, r, err := ingestFigure(ctx, e, bins, wrk, lua, br.addr, s, scale.IngestFor, strconv.Itoa(i))
		rows = append(rows, rs...)
		if err != nil {
			return rows, err
		}
		fresh[s.name] = r
	}
	for _, n := range scale.IngestGrowth {
		fmt.Fprintf(e.out, "figure 1, growth: camera ingest on a gate whose file holds %s events, vs the neutral ceiling (%d alternating rounds of %v)\n",
			thousands(n), ingestRounds, scale.GrowthFor)
		rs, err := ingestGrowth(ctx, e, bins, wrk, lua, br.addr, n, scale.GrowthFor, fresh)
		rows = append(rows, rs...)
		if err != nil {
			return rows, err
		}
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

// us formats a short duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }

func ms(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(d.Microseconds())/1000), "0"), ".") + " ms"
}
