package http

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	nethttp "net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// The customs officer's console: one page at / (assets under /console/),
// embedded, no build step. It signs in with a customs token kept in the
// tab's sessionStorage, reads the zone API and follows GET /v1/stream.

//go:embed console
var consoleFiles embed.FS

// ConsoleContentSecurityPolicy is the console's policy: its own scripts,
// styles and API only; no inline script or style, no framing.
const ConsoleContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ConsoleConfig configures the officer's console and its live feed. Zero
// values take the defaults.
type ConsoleConfig struct {
	// GateURLs maps each gate ID to its gate service's base URL
	// (http://127.0.0.1:8081). GET /v1/gates reads their GET /v1/status
	// with the caller's own bearer token, the live stream with the token of
	// its longest-open client; empty: no gate board.
	GateURLs map[string]string
	// GateClient polls the gates; default a client with a 3 s timeout.
	GateClient *nethttp.Client
	// GatePoll is how often the gates are polled for the live streams
	// (once for all of them, while any is open); default 5 s.
	GatePoll time.Duration
	// StreamPoll is how often the audit trail is read for new changes
	// while a stream is open; default 250 ms.
	StreamPoll time.Duration
	// StreamBacklog is how many recent events are kept for Last-Event-ID
	// resumes; a client further behind gets a reset. Default 1024.
	StreamBacklog int
	// Heartbeat is the interval of the stream's comment lines; default 15 s.
	Heartbeat time.Duration
	// MaxStreams bounds the open streams; default 256.
	MaxStreams int
}

func (c *ConsoleConfig) defaults() {
	if c.GateClient == nil {
		c.GateClient = &nethttp.Client{Timeout: 3 * time.Second}
	}
	if c.GatePoll <= 0 {
		c.GatePoll = DefaultGatePoll
	}
	if c.StreamPoll <= 0 {
		c.StreamPoll = DefaultStreamPoll
	}
	if c.StreamBacklog <= 0 {
		c.StreamBacklog = DefaultStreamBacklog
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultStreamHeartbeat
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
}

// routeConsole adds the console page, its assets, the gate board and the
// live stream.
func (s *Server) routeConsole() {
	s.cfg.Console.defaults()
	var pollGates func(context.Context, string) []GateBoard
	if len(s.cfg.Console.GateURLs) > 0 {
		pollGates = s.pollGates
	}
	s.streams = newStream(s.cfg.Audit, s.cfg.Console, s.log, pollGates)
	s.gateAges = map[string]time.Time{}
	csp := web.ContentSecurityPolicy(ConsoleContentSecurityPolicy)
	s.e.GET("/", serveConsoleIndex, csp)
	s.e.GET("/console/*", serveConsoleAsset, csp)
	s.Handle(nethttp.MethodGet, "/gates", s.listGates, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/stream", s.stream, zone.RoleCustoms)
}

func serveConsoleIndex(c echo.Context) error {
	return serveConsoleFile(c, "index.html")
}

func serveConsoleAsset(c echo.Context) error {
	name := path.Clean("/" + c.Param("*"))[1:]
	if name == "" || name == "index.html" {
		return zone.Errorf(zone.ENOTFOUND, "no such console file")
	}
	return serveConsoleFile(c, name)
}

var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
}

func serveConsoleFile(c echo.Context, name string) error {
	raw, err := fs.ReadFile(consoleFiles, "console/"+name)
	if err != nil {
		return zone.Errorf(zone.ENOTFOUND, "no such console file")
	}
	ct, ok := consoleTypes[path.Ext(name)]
	if !ok {
		return zone.Errorf(zone.ENOTFOUND, "no such console file")
	}
	// Assets are small and change with the binary: revalidate each load.
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	c.Response().Header().Set("X-Frame-Options", "DENY")
	return c.Blob(nethttp.StatusOK, ct, raw)
}

// GateBoard is one gate in GET /v1/gates and in the stream's gate events:
// the gate's own GET /v1/status as it answered, or why it could not be read.
type GateBoard struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Reachable bool      `json:"reachable"`
	Problem   string    `json:"problem,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
	// Status is the gate's answer (link, outbox_depth, clearances, sensors…).
	Status json.RawMessage `json:"status,omitempty"`
	// BacklogSince is when the API first saw this gate's outbox non-empty
	// (without an empty reading since): how old its backlog is, at most.
	BacklogSince *time.Time `json:"backlog_since,omitempty"`
}

// gateList is the body of GET /v1/gates.
type gateList struct {
	Items []GateBoard `json:"items"`
}

func (s *Server) listGates(c echo.Context) error {
	items := s.pollGates(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
	return web.JSON(c, nethttp.StatusOK, gateList{Items: items})
}

// pollGates reads every configured gate's status at once, with auth (the
// caller's Authorization header), sorted by gate ID.
func (s *Server) pollGates(ctx context.Context, auth string) []GateBoard {
	ids := make([]string, 0, len(s.cfg.Console.GateURLs))
	for id := range s.cfg.Console.GateURLs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]GateBoard, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { out[i] = s.pollGate(ctx, id, s.cfg.Console.GateURLs[id], auth) })
	}
	wg.Wait()
	return out
}

func (s *Server) pollGate(ctx context.Context, id, base, auth string) GateBoard {
	g := GateBoard{ID: id, URL: base, CheckedAt: time.Now().UTC()}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, strings.TrimRight(base, "/")+"/v1/status", nil)
	if err != nil {
		g.Problem = "bad gate URL"
		return g
	}
	req.Header.Set(echo.HeaderAuthorization, auth)
	req.Header.Set(echo.HeaderAccept, echo.MIMEApplicationJSON)
	resp, err := s.cfg.Console.GateClient.Do(req)
	if err != nil {
		g.Problem = "unreachable: " + err.Error()
		return g
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		g.Problem = "unreachable: " + err.Error()
		return g
	}
	if resp.StatusCode != nethttp.StatusOK {
		g.Problem = "the gate answered " + resp.Status
		return g
	}
	var st struct {
		OutboxDepth int `json:"outbox_depth"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		g.Problem = "the gate's status is not JSON"
		return g
	}
	g.Reachable, g.Status = true, json.RawMessage(bytes.TrimSpace(body))
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	if st.OutboxDepth == 0 {
		delete(s.gateAges, id)
	} else {
		since, ok := s.gateAges[id]
		if !ok {
			since = g.CheckedAt
			s.gateAges[id] = since
		}
		g.BacklogSince = &since
	}
	return g
}
