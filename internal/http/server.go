package http

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	nethttp "net/http"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// Config is what the zone API needs. Tokens and Declarations are required;
// the rest have defaults.
type Config struct {
	// Addr is where Start listens, e.g. 127.0.0.1:8080.
	Addr         string
	Tokens       *zone.Tokens
	Declarations *zone.DeclarationService
	// Audit reads the audit chain; without it /v1/audit answers 503.
	Audit zone.AuditTrail
	// Backup streams the store for GET /v1/admin/backup; without it 503.
	Backup BackupFunc
	// Crossings, Alarms and Stats serve what the gates report and the
	// figures; without one its routes answer 503.
	Crossings *zone.CrossingService
	Alarms    *zone.AlarmService
	Stats     *zone.StatsService
	// TemporaryEntries and Parts serve temporary-entry repairs and the
	// zero-tariff parts ledger; without one its routes answer 503.
	TemporaryEntries *zone.TemporaryEntryService
	Parts            *zone.PartsService
	// Visits and WriteOffs serve bonded maintenance and its write-off
	// periods; without one its routes answer 503.
	Visits    *zone.VisitService
	WriteOffs *zone.WriteOffService
	// Equipment serves the self-use production equipment register.
	Equipment *zone.EquipmentService
	// Ready reports each component's state: "" if ok, else what is wrong.
	// /readyz is 503 while any component is down; the API keeps serving.
	Ready func(ctx context.Context) map[string]string
	// Registry backs /metrics; a fresh one is made when nil.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// BodyLimit caps request bodies in bytes; default DefaultBodyLimit (1 MiB).
	BodyLimit int64
	// ShutdownTimeout bounds a graceful shutdown whose context has no
	// deadline; default 10s.
	ShutdownTimeout time.Duration
	// MaxConns bounds open connections; default DefaultMaxConns (see
	// NewHTTPServer).
	MaxConns int
	// TLS, when set, makes Start and Serve speak HTTPS only (see
	// internal/tlsconf); nil serves plain HTTP.
	TLS *tls.Config
	// Console configures the officer's console at / and GET /v1/stream.
	Console ConsoleConfig
	// WriteGate, when set, says whether this node takes writes and, if
	// not, the primary's URL: writes then get 503 + Location (a changelog
	// standby, see internal/api).
	WriteGate func() (primaryURL string, ok bool)
}

// Server is the zone API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	e       *echo.Echo
	metrics *web.HTTPMetrics
	v1      *echo.Group // no group middleware: see Handle

	streams  *Stream              // GET /v1/stream (console.go, stream.go)
	gateMu   sync.Mutex           // guards gateAges
	gateAges map[string]time.Time // gate ID → when its outbox backlog was first seen

	mu  sync.Mutex
	srv *nethttp.Server
	ln  net.Listener
}

// readyTimeout bounds the readiness probes so /readyz answers even when a
// dependency hangs (a frozen broker).
const readyTimeout = 2 * time.Second

// NewServer builds the API and its routes.
func NewServer(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = web.DefaultBodyLimit
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Log, e: echo.New(), metrics: web.NewHTTPMetrics(cfg.Registry)}
	e := s.e
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = web.ErrorHandler(s.log)
	e.Use(web.RequestID(), web.SecurityHeaders(), web.LogRequests(s.log), s.metrics.Middleware(), web.Recover())
	if cfg.WriteGate != nil {
		e.Use(standbyWrites(cfg.WriteGate))
	}

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", serveOpenAPI)

	s.v1 = e.Group("/v1")
	s.Handle(nethttp.MethodPost, "/predeclarations", s.submitDeclaration, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/predeclarations", s.listDeclarations, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/predeclarations/:id", s.getDeclaration, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/predeclarations/:id/decision", s.decideDeclaration, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/predeclarations/:id/cancel", s.cancelDeclaration, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/predeclarations/:id/arrival", s.arriveDeclaration, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/audit", s.audit, zone.RoleAuditor, zone.RoleCustoms)
	s.routeTemporaryEntries()
	s.routeParts()
	s.routeMaintenance()
	s.routeReleaseNotes()
	s.routeEquipment()

	s.Handle(nethttp.MethodGet, "/admin/backup", s.backup, zone.RoleAuditor, zone.RoleCustoms)
	s.routeZoneFeed()
	s.routeConsole()
	return s
}

// Stream is the live feed behind GET /v1/stream, a part to Run beside the
// server.
func (s *Server) Stream() *Stream { return s.streams }

// Echo returns the router, so other parts of bondgate can add routes with
// the same middleware and error handling.
func (s *Server) Echo() *echo.Echo { return s.e }

// Handle adds an authenticated route under /v1 that only callers with one of
// roles may use. Authentication is per route rather than on the group, so
// echo can still answer 405 for a known path with the wrong method.
func (s *Server) Handle(method, path string, h echo.HandlerFunc, roles ...zone.Role) *echo.Route {
	return s.v1.Add(method, path, h, web.Authenticate(s.cfg.Tokens), web.Require(roles...))
}

// BodyLimit is the configured request body limit, for handlers added later.
func (s *Server) BodyLimit() int64 { return s.cfg.BodyLimit }

// Handler is the whole API as a net/http handler (tests, embedding).
func (s *Server) Handler() nethttp.Handler { return s.e }

// Start listens on Config.Addr and serves until ctx is done or Shutdown is
// called; then it shuts down gracefully and returns nil. A listen failure
// is returned at once.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Start on a listener the caller opened (e.g. on port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Requests do not inherit ctx: when it ends, Shutdown lets those in
	// flight finish within its bound instead of cancelling them.
	srv := web.NewHTTPServer(s.e, web.ServerOptions{MaxConns: s.cfg.MaxConns, Log: s.log})
	if s.cfg.TLS != nil {
		srv.TLSConfig = s.cfg.TLS
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()

	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			defer cancel()
			if err := s.Shutdown(sctx); err != nil {
				s.log.Warn("zone API shutdown", "error", err.Error())
			}
		case <-stopped:
		}
	}()
	s.log.Info("zone API listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
		return err
	}
	return nil
}

// Addr is the address the server listens on, once serving ("" before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting requests and waits for those in flight, for at
// most ctx's deadline or Config.ShutdownTimeout; past that, connections are
// closed so shutdown stays bounded.
func (s *Server) Shutdown(ctx context.Context) error {
	s.streams.close() // live streams would otherwise hold shutdown open
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	return err
}

func (s *Server) healthz(c echo.Context) error {
	return web.JSON(c, nethttp.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the /readyz body.
type readiness struct {
	Ready      bool              `json:"ready"`
	Components map[string]string `json:"components"`
}

func (s *Server) readyz(c echo.Context) error {
	r := readiness{Ready: true, Components: map[string]string{}}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
		defer cancel()
		for name, problem := range s.cfg.Ready(ctx) {
			if problem == "" {
				r.Components[name] = "ok"
				continue
			}
			r.Ready = false
			r.Components[name] = problem
		}
	}
	st := nethttp.StatusOK
	if !r.Ready {
		st = nethttp.StatusServiceUnavailable
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return web.JSON(c, st, r)
}

// The OpenAPI document is written by hand in parts: openapi.json holds the
// frame and the pre-declaration routes, and each file under openapi/ adds the
// paths and components of one area (so areas are edited independently).
// They are merged once, at start.
//
//go:embed openapi.json openapi/*.json
var openAPIFiles embed.FS

var openAPIDoc = mustMergeOpenAPI()

// OpenAPI returns the OpenAPI document, merged from its parts.
func OpenAPI() []byte { return openAPIDoc }

func mustMergeOpenAPI() []byte {
	doc, err := mergeOpenAPI(openAPIFiles)
	if err != nil {
		panic("openapi: " + err.Error()) // embedded at build time; a test covers it
	}
	return doc
}

// mergeOpenAPI adds every openapi/*.json part's paths and components to the
// frame. A path or component defined twice is an error, not a silent override.
func mergeOpenAPI(files fs.FS) ([]byte, error) {
	raw, err := fs.ReadFile(files, "openapi.json")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	parts, err := fs.Glob(files, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(parts)
	for _, name := range parts {
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var part map[string]any
		if err := json.Unmarshal(raw, &part); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := mergeSection(doc, part, "paths", name); err != nil {
			return nil, err
		}
		comps, _ := part["components"].(map[string]any)
		for section := range comps {
			dst, _ := doc["components"].(map[string]any)
			if dst == nil {
				dst = map[string]any{}
				doc["components"] = dst
			}
			if err := mergeSection(dst, comps, section, name); err != nil {
				return nil, err
			}
		}
	}
	return json.MarshalIndent(doc, "", "  ")
}

func mergeSection(dst, src map[string]any, key, from string) error {
	add, _ := src[key].(map[string]any)
	if len(add) == 0 {
		return nil
	}
	into, _ := dst[key].(map[string]any)
	if into == nil {
		into = map[string]any{}
		dst[key] = into
	}
	for k, v := range add {
		if _, dup := into[k]; dup {
			return fmt.Errorf("%s: %s %q is already defined", from, key, k)
		}
		into[k] = v
	}
	return nil
}

func serveOpenAPI(c echo.Context) error {
	return c.Blob(nethttp.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
