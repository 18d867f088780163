package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An operator who asks for profiles on a public address gets no gate and
// a sentence saying why: profiles are for loopback only.
func TestGateRefusesPprofOffLoopback(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(tokens, fixtures.Tokens(), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"gate", "--id", "G-MRO-1", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--tokens", tokens,
		"--pprof", "0.0.0.0:6060"}, &out, &errOut)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut.String(), "loopback")
}
