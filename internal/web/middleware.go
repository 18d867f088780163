package web

import (
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bondgate/bondgate/internal/zone"
)

// HeaderRequestID carries a request's ID in and out.
const HeaderRequestID = "X-Request-ID"

const requestIDKey = "bondgate.request_id"

// RequestID takes the caller's X-Request-ID when it is sane (printable ASCII,
// at most 128 bytes), or makes one, and echoes it on the answer so the two
// sides can find the same request in their logs.
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(HeaderRequestID)
			if !saneRequestID(id) {
				id = ulid.Make().String()
			}
			// One allocation serves the answer's header and the context:
			// the context keeps a pointer to the header's value (boxing
			// the string itself would allocate again).
			v := []string{id}
			c.Response().Header()[HeaderRequestID] = v
			c.Set(requestIDKey, &v[0])
			return next(c)
		}
	}
}

func saneRequestID(id string) bool {
	return len(id) <= 128 && PrintableASCII(id)
}

// PrintableASCII reports whether s is non-empty visible ASCII (no spaces or
// control characters that could forge log lines or headers).
func PrintableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// RequestIDOf returns the request's ID, or "" outside RequestID.
func RequestIDOf(c echo.Context) string {
	if id, _ := c.Get(requestIDKey).(*string); id != nil {
		return *id
	}
	return ""
}

// LoggerOf returns base with the request's ID attached.
func LoggerOf(c echo.Context, base *slog.Logger) *slog.Logger {
	if base == nil {
		base = slog.Default()
	}
	if id := RequestIDOf(c); id != "" {
		return base.With("request_id", id)
	}
	return base
}

// settle turns a handler's error into its answer right away, so middleware
// that runs after it sees the final status. Echo's error handler ignores a
// committed response, so settling twice is harmless.
func settle(c echo.Context, err error) {
	if err != nil && !c.Response().Committed {
		c.Error(err)
	}
}

// LogRequests logs one line per request: method, path, route, status,
// latency and request ID. Headers are not logged, so bearer tokens never
// reach the log.
func LogRequests(log *slog.Logger) echo.MiddlewareFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			settle(c, err)
			st := c.Response().Status
			level := slog.LevelInfo
			if st >= 500 {
				level = slog.LevelError
			}
			r := c.Request()
			log.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", routeOf(c)),
				slog.Int("status", st),
				slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
				slog.Int64("bytes_out", c.Response().Size),
				slog.String("request_id", RequestIDOf(c)),
			)
			return nil
		}
	}
}

// Recover turns a handler panic into a 500 whose cause (with the stack) the
// error handler logs, instead of a dropped connection.
func Recover() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == nethttp.ErrAbortHandler {
						panic(r)
					}
					err = zone.Internal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
				}
			}()
			return next(c)
		}
	}
}

// routeOf is the registered route pattern, which keeps metric labels
// bounded; unmatched paths share one label.
func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

// HTTPMetrics counts requests and their latency by route and status.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the HTTP collectors on reg. Registering twice on
// one registry reuses the collectors already there.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bondgate_http_requests_total",
			Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bondgate_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	if reg == nil {
		return m
	}
	m.requests = MustRegister(reg, m.requests)
	m.duration = MustRegister(reg, m.duration)
	return m
}

// MustRegister registers c on reg, or returns the collector already registered
// there under the same name, so two servers can share one registry.
func MustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a clashing metric name is a programming error
	}
	return c
}

// Middleware observes every request.
func (m *HTTPMetrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			settle(c, err)
			route, method := routeOf(c), c.Request().Method
			m.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
			m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
			return nil
		}
	}
}
