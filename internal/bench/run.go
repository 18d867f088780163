package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// benchScale sizes one run. "small" is the quick default of `make bench`;
// "full" is what the README table and the targets use.
type benchScale struct {
	Name         string
	IngestFor    time.Duration // each wrk run
	Backlog      int           // figure 2's undelivered outbox messages
	E2ESamples   int           // figure 4's round trips of each kind
	Declarations int           // figure 5's stored declarations
	ReadsFor     time.Duration // each fixed-rate read run
	ReadRate     int           // requests per second of figure 5
	Growth       []int         // figure 6's record counts
	GrowthFor    time.Duration // each growth measurement
	// GrowthListMax is the largest count figure 6 seeds declarations for:
	// seeding goes through the real use case (about 0.6 ms each here).
	GrowthListMax int
	// IngestGrowth are the event counts figure 1's growth rows seed a
	// gate's log with before measuring ingest on it (bulk-loaded: about
	// 10 s a million here).
	IngestGrowth []int
}

var benchScales = map[string]benchScale{
	"small": {Name: "small", IngestFor: 5 * time.Second, Backlog: 100_000, E2ESamples: 50, Declarations: 20_000,
		ReadsFor: 5 * time.Second, ReadRate: 2000, Growth: []int{10_000, 100_000}, GrowthFor: 4 * time.Second, GrowthListMax: 100_000,
		IngestGrowth: []int{100_000}},
	"full": {Name: "full", IngestFor: 10 * time.Second, Backlog: 1_000_000, E2ESamples: 200, Declarations: 100_000,
		ReadsFor: 10 * time.Second, ReadRate: 2000, Growth: []int{10_000, 100_000, 1_000_000}, GrowthFor: 5 * time.Second, GrowthListMax: 100_000,
		IngestGrowth: []int{1_000_000}},
	// huge adds list latency over 1M declarations (about 10 more minutes
	// of seeding and a 7 GB file).
	"huge": {Name: "huge", IngestFor: 10 * time.Second, Backlog: 1_000_000, E2ESamples: 200, Declarations: 100_000,
		ReadsFor: 10 * time.Second, ReadRate: 2000, Growth: []int{10_000, 100_000, 1_000_000}, GrowthFor: 5 * time.Second, GrowthListMax: 1_000_000,
		IngestGrowth: []int{1_000_000, 10_000_000}},
}

// benchRow is one line of the results table.
type benchRow struct {
	Figure   string
	Measured string
	Baseline string
	Ratio    string
	Target   string
	Verdict  string // "ok", "SHORT" or "" (reported only)
}

// verdict says whether a measured value meets its target.
func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "SHORT"
}

// Config is one `bondgate bench run`.
type Config struct {
	// Bin is the bondgate binary whose broker, gate and api commands the
	// harness starts (normally the running one).
	Bin string
	// Scale is small, full or huge (see benchScales); default small.
	Scale string
	// Only lists the figures to run ("1", "2", "4" to "9"); empty: all.
	Only []string
	// Lua is the wrk script of figure 1, Wrk the wrk binary.
	Lua, Wrk string
	// Neutral and JetStream are figure 1's reference programs built from
	// ops/bench/baseline and ops/bench/peers/jetstream (their own modules);
	// empty builds them with the go command into the scratch folder.
	Neutral, JetStream string
	// Keep keeps the scratch folder (data and process logs).
	Keep bool
	// Log receives the harness's own notices; default discards them.
	Log *slog.Logger
}

// Run measures the figures cfg asks for and prints each as it is taken,
// then the whole table, to stdout.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	if cfg.Scale == "" {
		cfg.Scale = "small"
	}
	if cfg.Log == nil {
		cfg.Log = benchQuietLog()
	}
	scale, ok := benchScales[cfg.Scale]
	if !ok {
		return fmt.Errorf("--scale %q: want small, full or huge", cfg.Scale)
	}
	if cfg.Bin == "" {
		return fmt.Errorf("bench: the bondgate binary is required")
	}
	bin := cfg.Bin
	dir, err := os.MkdirTemp("", "bondgate-bench-")
	if err != nil {
		return err
	}
	if cfg.Keep {
		fmt.Fprintf(stdout, "scratch folder: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	tokens := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokens, []byte(benchTokens), 0o600); err != nil {
		return err
	}
	e := &benchEnv{bin: bin, dir: dir, tokens: tokens, log: cfg.Log, out: stdout,
		drains: map[int]drainResult{}, reads: map[int]readsResult{}}
	defer e.stopAll()
	want := func(n string) bool {
		return len(cfg.Only) == 0 || slices.Contains(cfg.Only, n)
	}
	fmt.Fprintf(stdout, "bondgate bench, scale %s: %d CPUs, %s, load average %s at start\n",
		scale.Name, runtime.NumCPU(), strings.TrimSpace(kernelName()), loadAverage())

	var rows []benchRow
	add := func(rs []benchRow, err error, what string) {
		rows = append(rows, rs...)
		for _, r := range rs {
			fmt.Fprintf(stdout, "  %s: %s (baseline %s, ratio %s, target %s) %s\n", r.Figure, r.Measured, r.Baseline, r.Ratio, r.Target, r.Verdict)
		}
		if err != nil {
			fmt.Fprintf(stdout, "  %s FAILED: %v\n", what, err)
			rows = append(rows, benchRow{Figure: what, Measured: "failed: " + err.Error(), Verdict: "SHORT"})
		}
		e.stopAll()
	}
	if want("1") {
		if _, err := exec.LookPath(cfg.Wrk); err != nil {
			add(nil, fmt.Errorf("wrk not found (Debian package wrk; `make bench` installs it as root)"), "1 ingest")
		} else {
			fmt.Fprintf(stdout, "figure 1: durable ingest vs the neutral ceiling and JetStream (wrk, 64 connections, median of %d alternating rounds)\n", ingestRounds)
			bins, err := referenceBins(ctx, cfg, dir)
			if err != nil {
				add(nil, err, "1 ingest")
			} else {
				rs, err := benchIngest(ctx, e, scale, bins, cfg.Wrk, cfg.Lua)
				add(rs, err, "1 ingest")
			}
		}
	}
	if want("2") {
		fmt.Fprintf(stdout, "figure 2: backlog drain of %d messages vs a raw kafka-go producer\n", scale.Backlog)
		rs, err := benchDrain(ctx, e, scale.Backlog, true)
		add(rs, err, "2 drain")
	}
	if want("4") {
		fmt.Fprintln(stdout, "figure 4: end to end through Kafka (api, broker, gate processes)")
		rs, err := benchEndToEnd(ctx, e, scale)
		add(rs, err, "4 end to end")
	}
	if want("7") {
		fmt.Fprintf(stdout, "figure 7: clearance → gate reader with %d bulky record events queued ahead of it\n", laneBacklog)
		rs, err := benchLanes(ctx, e, scale.E2ESamples)
		add(rs, err, "7 clearance lane")
	}
	if want("5") {
		fmt.Fprintf(stdout, "figure 5: GET /v1/predeclarations over %d declarations at %d req/s (fixed schedule)\n", scale.Declarations, scale.ReadRate)
		rs, err := benchReads(ctx, e, scale, scale.Declarations, scale.ReadsFor, true)
		add(rs, err, "5 reads")
	}
	if want("6") && cfg.Wrk != "" {
		fmt.Fprintln(stdout, "figure 6: growth")
		rs, err := benchGrowth(ctx, e, scale, cfg.Wrk, cfg.Lua)
		add(rs, err, "6 growth")
	}
	if want("8") { // hardware adapters (hardware.go)
		rs, err := benchHardware(ctx, e, scale)
		add(rs, err, "8 hardware")
	}
	if want("9") { // the API beyond one disk (replica.go)
		fmt.Fprintln(stdout, "figure 9: changelog write latency, failover and rebuild (api primary, standby, broker processes)")
		rs, err := benchReplica(ctx, e, scale)
		add(rs, err, "9 standby")
	}
	fmt.Fprintf(stdout, "\nload average at end %s\n\n", loadAverage())
	printBenchTable(stdout, rows)
	return nil
}

// referenceBins returns figure 1's reference programs, building those not
// given from ops/bench (run from the repository root; the go command
// fetches their modules, which never enter bondgate's own).
func referenceBins(ctx context.Context, cfg Config, dir string) (ingestBins, error) {
	bins := ingestBins{neutral: cfg.Neutral, jetstream: cfg.JetStream}
	for _, b := range []struct {
		path *string
		src  string
	}{{&bins.neutral, "ops/bench/baseline"}, {&bins.jetstream, "ops/bench/peers/jetstream"}} {
		if *b.path != "" {
			continue
		}
		out := filepath.Join(dir, filepath.Base(b.src))
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
		cmd.Dir = b.src
		if raw, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("build %s (run from the repository root, or pass --neutral/--jetstream): %v: %s", b.src, err, raw)
		}
		*b.path = out
	}
	return bins, nil
}

// printBenchTable prints the rows as a Markdown table.
func printBenchTable(w io.Writer, rows []benchRow) {
	cells := [][]string{{"figure", "measured", "baseline (same run)", "ratio", "target", ""}}
	for _, r := range rows {
		cells = append(cells, []string{r.Figure, r.Measured, r.Baseline, r.Ratio, r.Target, r.Verdict})
	}
	width := make([]int, len(cells[0]))
	for i := range width {
		width[i] = 3 // the separator's dashes
	}
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
}

func kernelName() string {
	raw, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return runtime.GOOS
	}
	return "linux " + string(raw)
}

// benchQuietLog discards library logs inside the harness.
func benchQuietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
