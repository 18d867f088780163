package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A usage error that says what is missing prints it beside the usage text
// and exits 2.
func TestUsageErrorSaysWhatIsMissing(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run([]string{"backup", "--out", "x.db"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "Usage: bondgate backup")
	assert.Contains(t, errOut.String(), "give --out and one of --data or --from")

	errOut.Reset()
	assert.Equal(t, 2, run([]string{"check", "--no-such-flag"}, &out, &errOut))
	assert.NotContains(t, errOut.String(), "bondgate check: usage", "a bare flag error is printed once, by the flag package")
}
