package web

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// An operator's --pprof on a public address is refused: profiles expose
// stacks and heap contents.
func TestProfilerRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6060", "example.com:6060", "nonsense"} {
		_, err := ListenProfiler(addr)
		require.Error(t, err, addr)
	}
}

// On loopback it serves a CPU profile.
func TestProfilerServesOnLoopback(t *testing.T) {
	p, err := ListenProfiler("127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	res, err := http.Get("http://" + p.Addr() + "/debug/pprof/profile?seconds=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotEmpty(t, body)
	cancel()
	require.NoError(t, <-done)
}
