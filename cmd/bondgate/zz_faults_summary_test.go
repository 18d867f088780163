package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestZZFaultSummary runs last (files and tests run in name order) and
// prints the fault suite's table: scenario, trials, events acked, lost,
// duplicated in effect, reordered. With BONDGATE_FAULTS_REPORT set it also
// writes the table there (`make test-faults` prints that file). It fails
// unless the last three columns are all 0.
func TestZZFaultSummary(t *testing.T) {
	faultRows.Lock()
	rows := append([]faultRow(nil), faultRows.rows...)
	faultRows.Unlock()
	// Numbered scenarios in order, the drill last.
	num := func(r faultRow) int {
		n := 1000
		fmt.Sscan(r.Scenario, &n)
		return n
	}
	slices.SortStableFunc(rows, func(a, b faultRow) int { return num(a) - num(b) })
	if len(rows) == 0 {
		t.Skip("no fault scenario ran")
	}
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
	t.Log("\n" + sb.String())
	if path := os.Getenv("BONDGATE_FAULTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	}
	if bad > 0 {
		t.Errorf("lost, duplicated in effect or reordered: %d in all", bad)
	}
}
