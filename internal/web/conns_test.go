package web

import (
	"errors"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnLimitNeverShedsBusyConnections: at the bound, connections in the
// middle of a request are kept and the newcomer is the one closed.
func TestConnLimitNeverShedsBusyConnections(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	srv := NewHTTPServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(nethttp.StatusNoContent)
	}), ServerOptions{MaxConns: 2})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String() + "/"

	client := &nethttp.Client{Timeout: 10 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}
	busy := make(chan int, 2)
	for range 2 {
		go func() {
			res, err := client.Get(url)
			if err != nil {
				busy <- 0
				return
			}
			res.Body.Close()
			busy <- res.StatusCode
		}()
	}
	<-entered
	<-entered
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 0, openConns([]net.Conn{c}, 3*time.Second, 0), "the third connection is refused")
	close(release)
	for range 2 {
		assert.Equal(t, nethttp.StatusNoContent, <-busy, "a busy request was cut")
	}
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
