package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Profiler serves net/http/pprof on a loopback address of its own, apart
// from the service's routes and tokens: profiles show internals (stacks,
// heap contents), so they are reachable only from the machine itself.
type Profiler struct {
	ln  net.Listener
	srv *http.Server
}

// ListenProfiler listens on addr, which must be a loopback address
// (127.0.0.1:6060, [::1]:6060, localhost:6060); anything else is refused.
// It also turns on block and mutex sampling, at rates cheap enough to
// leave on while the profiler is.
func ListenProfiler(addr string) (*Profiler, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof %q: profiles are served on a loopback address only (e.g. 127.0.0.1:6060)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--pprof %q: resolved to %v, not a loopback address", addr, ln.Addr())
	}
	runtime.SetBlockProfileRate(10_000) // one sample per 10 µs blocked, on average
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Every server has read, write and idle timeouts; the write bound leaves
	// room for a CPU profile or trace of a few minutes.
	return &Profiler{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 120 * time.Second}}, nil
}

// Addr is where the profiler listens.
func (p *Profiler) Addr() string { return p.ln.Addr().String() }

// Run serves until ctx is done.
func (p *Profiler) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		_ = p.srv.Close()
	}()
	if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
