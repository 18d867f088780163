package faults

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/proctest"
)

// binary is cmd/bondgate built once for the suite: the scenarios run the
// real process, as an operator would.
var binary string

// TestMain builds the binary, runs the scenarios, then prints the summary
// table: scenario, trials, events acked, lost, duplicated in effect,
// reordered. With BONDGATE_FAULTS_REPORT set it also writes the table there
// (`make test-faults` prints that file). The run fails unless the last three
// columns are all 0.
func TestMain(m *testing.M) {
	bin, remove, err := proctest.Build("github.com/bondgate/bondgate/cmd/bondgate")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	remove()
	if !summarize() && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// summarize prints the table of the rows the scenarios reported and writes
// it to $BONDGATE_FAULTS_REPORT; it reports whether lost, duplicated in
// effect and reordered are all 0.
func summarize() bool {
	faultRows.Lock()
	rows := append([]faultRow(nil), faultRows.rows...)
	faultRows.Unlock()
	if len(rows) == 0 {
		return true // -short, or a -run that picked no scenario
	}
	// Numbered scenarios in order, the drill last.
	num := func(r faultRow) int {
		n := 1000
		fmt.Sscan(r.Scenario, &n)
		return n
	}
	slices.SortStableFunc(rows, func(a, b faultRow) int { return num(a) - num(b) })
	var sb strings.Builder
	mode := "fast"
	if longFaults() {
		mode = "long (BONDGATE_FAULTS=long)"
	}
	fmt.Fprintf(&sb, "bondgate fault suite, %s, %s, %d CPUs, %s\n\n", mode, time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&sb, "| %-36s | %6s | %8s | %4s | %9s | %9s | %11s |\n", "scenario", "trials", "acked", "lost", "dup. eff.", "reordered", "Kafka dupes")
	fmt.Fprintf(&sb, "|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 38), strings.Repeat("-", 8), strings.Repeat("-", 10),
		strings.Repeat("-", 6), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 13))
	bad := 0
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %-36s | %6d | %8d | %4d | %9d | %9d | %11d |\n", r.Scenario, r.Trials, r.Acked, r.Lost, r.DupInEffect, r.Reordered, r.KafkaDupes)
		bad += r.Lost + r.DupInEffect + r.Reordered
	}
	sb.WriteString("\nnotes:\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "- %s: %s\n", r.Scenario, r.Note)
	}
	fmt.Print("\n" + sb.String())
	ok := true
	if path := os.Getenv("BONDGATE_FAULTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			fmt.Printf("FAIL: write %s: %v\n", path, err)
			ok = false
		}
	}
	if bad > 0 {
		fmt.Printf("FAIL: lost, duplicated in effect or reordered: %d in all\n", bad)
		ok = false
	}
	return ok
}
