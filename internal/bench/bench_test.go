package bench

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
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
