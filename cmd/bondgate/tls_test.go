package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTLSFlagsAreChecked: half a TLS configuration is refused at start
// rather than silently serving plain HTTP.
func TestTLSFlagsAreChecked(t *testing.T) {
	tokens := filepath.Join("..", "..", "fixtures", "tokens.json")
	dir := t.TempDir()
	err := runGate(context.Background(), []string{"--id", "G-MRO-1", "--data", dir, "--tokens", tokens,
		"--tls-cert", filepath.Join(dir, "gate.crt")}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "--tls-key")
	err = runAPI(context.Background(), []string{"--data", dir, "--tokens", tokens,
		"--tls-cert", filepath.Join(dir, "api.crt"), "--tls-key", filepath.Join(dir, "api.key")}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "api.crt")
}
