package http

import (
	"github.com/bondgate/bondgate/internal/web"

	"context"
	"errors"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPIServerBoundsConnectionsAndSetsTimeouts: the zone API's server has
// read, write and idle timeouts and keeps no more than MaxConns connections
// open, however many silent ones are opened; a real request still answers.
func TestAPIServerBoundsConnectionsAndSetsTimeouts(t *testing.T) {
	const maxConns = 4
	a := newAPI(t, func(c *Config) { c.MaxConns = maxConns })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	addr := ln.Addr().String()
	var silent []net.Conn
	for range 5 * maxConns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		silent = append(silent, c)
	}
	t.Cleanup(func() {
		for _, c := range silent {
			c.Close()
		}
	})
	client := &nethttp.Client{Timeout: 3 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}
	res, err := client.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, nethttp.StatusOK, res.StatusCode)

	open := openConns(silent, 3*time.Second, maxConns)
	assert.LessOrEqual(t, open, maxConns, "silent connections the API keeps open")

	a.srv.mu.Lock()
	srv := a.srv.srv
	a.srv.mu.Unlock()
	assert.Equal(t, web.IdleTimeout, srv.IdleTimeout)
	assert.Equal(t, 120*time.Second, srv.IdleTimeout, "CONTRACT.md: idle connections close after 120 s")
	assert.Positive(t, srv.ReadTimeout)
	assert.Positive(t, srv.WriteTimeout)
	assert.Positive(t, srv.ReadHeaderTimeout)
}

// openConns polls until at most want of conns are still open at the server
// or within passes, and returns how many are.
func openConns(conns []net.Conn, within time.Duration, want int) int {
	deadline := time.Now().Add(within)
	buf := make([]byte, 1)
	for {
		n := 0
		for _, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := c.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				n++ // nothing came, not even EOF: open
			}
		}
		if n <= want || time.Now().After(deadline) {
			return n
		}
	}
}
