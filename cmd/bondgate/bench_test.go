package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenchHelpExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"bench", "--help"}, &out, &errOut))
	require.Contains(t, out.String(), "bench run")
	require.Equal(t, 2, run([]string{"bench", "nonsense"}, &out, &errOut))
}
