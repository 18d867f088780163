package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleConnectionsCannotLockOutASensor: connections that never send a
// request, however many, neither pile up past the gate's bound nor keep a
// real sensor's POST out; an idle keep-alive connection is closed after the
// idle timeout. The gate used to set only ReadHeaderTimeout and no bound.
func TestIdleConnectionsCannotLockOutASensor(t *testing.T) {
	addr := freeAddr(t)
	const maxConns = 8
	svc, err := New(Config{GateID: testGate, DataDir: t.TempDir(), Tokens: testTokens(t), Log: quietLog(),
		Addr: addr, MaxConns: maxConns, IdleTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("gate did not stop")
		}
	})
	base := "http://" + addr
	eventually(t, "the gate serves", func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})

	// 5 × the bound of silent connections, as an attacker on loopback opens them.
	var idle []net.Conn
	for range 5 * maxConns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})

	// A real sensor still gets its event stored.
	body := fmt.Sprintf(`{"event_id":"IR-1-conns-1","device_id":"IR-1","gate":%q,"time":%q,"type":"heartbeat"}`,
		testGate, time.Now().UTC().Format(time.RFC3339Nano))
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tokGate)
	req.Header.Set("Content-Type", "application/json")
	sensor := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := sensor.Do(req)
	require.NoError(t, err, "the sensor's POST must get through the idle connections")
	res.Body.Close()
	assert.Equal(t, http.StatusAccepted, res.StatusCode)

	// Well before ReadHeaderTimeout (10 s) would close them, the gate holds
	// no more than its bound.
	var open int
	deadline := time.Now().Add(3 * time.Second)
	for {
		open = stillOpen(idle)
		if open <= maxConns || time.Now().After(deadline) {
			break
		}
	}
	assert.LessOrEqual(t, open, maxConns, "silent connections the gate keeps open")
	t.Logf("%d silent connections opened, %d still open at the gate (bound %d)", len(idle), open, maxConns)

	// An idle keep-alive connection is closed after the idle timeout.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: gate\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	hres, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	hres.Body.Close()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = br.ReadByte()
	require.Error(t, err)
	assert.False(t, isTimeout(err), "an idle keep-alive connection stayed open 5 s (idle timeout 300 ms)")
	assert.Less(t, time.Since(start), 3*time.Second, "closed by the idle timeout")
}

// stillOpen counts the connections the server has not closed.
func stillOpen(conns []net.Conn) int {
	n := 0
	buf := make([]byte, 1)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(buf); isTimeout(err) {
			n++ // nothing came, not even EOF: open
		}
	}
	return n
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
