package web

import (
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"sync"
	"time"
)

// Timeouts of every HTTP server bondgate runs (the zone API and each gate).
// Long-lived responses (the console's /v1/stream, a backup download) extend
// their write deadline per write with http.ResponseController.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	// IdleTimeout closes an idle keep-alive connection (CONTRACT.md "Gate,
	// tightened": 120 s).
	IdleTimeout = 120 * time.Second
	// DefaultMaxConns bounds a server's open connections: far above what
	// gate hardware or the console need, far below the process's file limit.
	DefaultMaxConns = 1024
)

// ServerOptions tune NewHTTPServer; zero values take the defaults above.
type ServerOptions struct {
	// MaxConns bounds open connections (default DefaultMaxConns).
	MaxConns int
	// IdleTimeout overrides IdleTimeout (tests use a short one).
	IdleTimeout time.Duration
	Log         *slog.Logger
}

// NewHTTPServer is the http.Server every bondgate service runs: read, write
// and idle timeouts set, and at most MaxConns connections open. At the bound
// a new connection takes the place of the longest-idle one (idle keep-alive
// or never sent a request); only when every connection is busy with a
// request is the new one closed. So idle connections, however many are
// opened, cannot lock a sensor out or exhaust the file limit.
func NewHTTPServer(h nethttp.Handler, o ServerOptions) *nethttp.Server {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = IdleTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	lim := &connLimit{max: o.MaxConns, log: o.Log, open: map[net.Conn]*connEntry{}}
	return &nethttp.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		ConnState:         lim.track,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}
}

// connLimit keeps the open connections and sheds the longest-idle one when
// a new one would pass max. It works from ConnState, which net/http calls
// with StateNew before it reads anything from the connection.
type connLimit struct {
	max int
	log *slog.Logger

	mu     sync.Mutex
	open   map[net.Conn]*connEntry
	shed   int       // connections closed to stay within max
	logged time.Time // last time shedding was logged, to keep a flood out of the log
}

type connEntry struct {
	idle  bool      // new (no request yet) or idle keep-alive
	since time.Time // when it became idle
}

func (l *connLimit) track(c net.Conn, st nethttp.ConnState) {
	var victim net.Conn
	l.mu.Lock()
	switch st {
	case nethttp.StateNew:
		l.open[c] = &connEntry{idle: true, since: time.Now()}
		if len(l.open) > l.max {
			victim = l.oldestIdle(c)
			if victim == nil {
				victim = c // every other connection is busy: refuse this one
			}
			delete(l.open, victim)
			l.shed++
		}
	case nethttp.StateActive:
		if e, ok := l.open[c]; ok {
			e.idle = false
		}
	case nethttp.StateIdle:
		if e, ok := l.open[c]; ok {
			e.idle, e.since = true, time.Now()
		}
	case nethttp.StateClosed, nethttp.StateHijacked:
		delete(l.open, c)
	}
	var logShed int
	if victim != nil && time.Since(l.logged) > 10*time.Second {
		l.logged, logShed = time.Now(), l.shed
	}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Close()
	}
	if logShed > 0 {
		l.log.Warn("connection limit reached: closing idle connections", "max_conns", l.max, "shed_total", logShed)
	}
}

// oldestIdle is the connection idle the longest, other than except; nil if
// all are busy. l.mu is held.
func (l *connLimit) oldestIdle(except net.Conn) net.Conn {
	var (
		best net.Conn
		at   time.Time
	)
	for c, e := range l.open {
		if c == except || !e.idle {
			continue
		}
		if best == nil || e.since.Before(at) {
			best, at = c, e.since
		}
	}
	return best
}

// ExtendingWriter writes to w, first pushing the connection's write deadline
// d past now, so a long response (a backup of a large file) is bounded per
// write rather than cut by the server's WriteTimeout.
func ExtendingWriter(w nethttp.ResponseWriter, d time.Duration) io.Writer {
	return &extendingWriter{w: w, rc: nethttp.NewResponseController(w), d: d}
}

type extendingWriter struct {
	w  nethttp.ResponseWriter
	rc *nethttp.ResponseController
	d  time.Duration
}

func (e *extendingWriter) Write(p []byte) (int, error) {
	_ = e.rc.SetWriteDeadline(time.Now().Add(e.d)) // unsupported writers (tests' recorders) keep theirs
	return e.w.Write(p)
}
