// Package proctest holds what the tests that run real processes and servers
// share: free loopback addresses, a goroutine-safe output buffer, and waiting
// for an HTTP endpoint to answer.
package proctest

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free address: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("free address: %v", err)
	}
	return addr
}

// Buffer collects a process's output; it is safe to write from the process
// pipes while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitHTTP waits until url answers at all (any status), failing the test
// after within.
func WaitHTTP(tb testing.TB, url string, within time.Duration) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s never answered within %s", url, within)
}
