package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	nethttp "net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

var pathParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// TestOpenAPIMatchesRoutes fails when a route is registered without being
// documented, or documented without existing.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newAPI(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI(), &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := map[string]bool{}
	for _, r := range a.srv.Echo().Routes() {
		if strings.HasPrefix(r.Method, "echo_") || strings.HasSuffix(r.Path, "/*") {
			continue // echo's own catch-alls
		}
		registered[r.Method+" "+pathParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	assert.Empty(t, missing, "routes missing from openapi.json")
	assert.Empty(t, extra, "openapi.json names routes that do not exist")
	assert.GreaterOrEqual(t, len(registered), 11)

	// Every $ref resolves.
	var whole map[string]any
	require.NoError(t, json.Unmarshal(OpenAPI(), &whole))
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"#/([^"]+)"`).FindAllStringSubmatch(string(OpenAPI()), -1) {
		var node any = whole
		for _, part := range strings.Split(ref[1], "/") {
			m, ok := node.(map[string]any)
			require.True(t, ok, "bad $ref %s", ref[1])
			node, ok = m[part]
			require.True(t, ok, "dangling $ref %s", ref[1])
		}
	}

	r := a.get("/openapi.json", "")
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.JSONEq(t, string(OpenAPI()), string(r.Body))
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
}

func TestProblemMapping(t *testing.T) {
	a := newAPI(t)
	e := a.srv.Echo()
	e.GET("/test/wrapped", func(echo.Context) error {
		return fmt.Errorf("loading: %w", zone.Errorf(zone.ENOTFOUND, "no lot L-1"))
	})
	e.GET("/test/plain", func(echo.Context) error { return errors.New("disk on fire at /var/secret") })
	e.GET("/test/panic", func(echo.Context) error { panic("boom") })
	e.GET("/test/internal", func(echo.Context) error { return zone.Internal(errors.New("bbolt: tx closed")) })
	e.GET("/test/unavailable", func(echo.Context) error { return zone.Errorf(zone.EUNAVAILABLE, "storage full") })

	r := a.get("/test/wrapped", "")
	require.Equal(t, nethttp.StatusNotFound, r.Status, "a wrapped domain error keeps its status")
	assert.Equal(t, "no lot L-1", r.problem(t).Detail)

	for _, path := range []string{"/test/plain", "/test/panic", "/test/internal"} {
		r = a.get(path, "")
		require.Equal(t, nethttp.StatusInternalServerError, r.Status, path)
		p := r.problem(t)
		assert.Equal(t, "internal error", p.Detail, "causes stay out of the body")
		assert.NotContains(t, string(r.Body), "secret")
		assert.NotContains(t, string(r.Body), "tx closed")
	}
	logs := a.logs.String()
	assert.Contains(t, logs, "disk on fire", "a 500 is logged with its cause")
	assert.Contains(t, logs, "bbolt: tx closed")
	assert.Contains(t, logs, "panic: boom")

	r = a.get("/test/unavailable", "")
	require.Equal(t, nethttp.StatusServiceUnavailable, r.Status)
	assert.Equal(t, "storage full", r.problem(t).Detail)

	r = a.get("/no/such/route", "")
	require.Equal(t, nethttp.StatusNotFound, r.Status)
	r.problem(t)
	r = a.do(req{method: "DELETE", path: "/v1/predeclarations", token: tokHNA})
	require.Equal(t, nethttp.StatusMethodNotAllowed, r.Status)
	r.problem(t)

	for code, st := range map[string]int{zone.EINVALID: 400, zone.EUNAUTHORIZED: 401, zone.EFORBIDDEN: 403,
		zone.ENOTFOUND: 404, zone.ECONFLICT: 409, zone.EUNPROCESSABLE: 422, zone.EUNAVAILABLE: 503,
		zone.EINTERNAL: 500, "something-new": 500} {
		assert.Equal(t, st, web.StatusOf(code), code)
	}
}

func TestRequestIDAndLogs(t *testing.T) {
	a := newAPI(t)
	r := a.do(req{method: "GET", path: "/v1/predeclarations", token: tokHNA, header: map[string]string{web.HeaderRequestID: "client-req-42"}})
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.Equal(t, "client-req-42", r.Header.Get(web.HeaderRequestID))

	r = a.get("/v1/predeclarations/nope", tokOfficer)
	require.Equal(t, nethttp.StatusNotFound, r.Status)
	id := r.Header.Get(web.HeaderRequestID)
	require.NotEmpty(t, id, "an ID is made when the client sends none")
	assert.Equal(t, id, r.problem(t).RequestID)

	r = a.do(req{method: "GET", path: "/healthz", header: map[string]string{web.HeaderRequestID: "bad id\twith tab"}})
	assert.NotEqual(t, "bad id\twith tab", r.Header.Get(web.HeaderRequestID))
	assert.NotEmpty(t, r.Header.Get(web.HeaderRequestID))

	a.submit(tokHNA)
	a.get("/v1/audit", tokAuditor)
	logs := a.logs.String()
	assert.Contains(t, logs, `"request_id":"client-req-42"`)
	assert.Contains(t, logs, `"route":"/v1/predeclarations/:id"`)
	assert.Contains(t, logs, `"status":404`)
	for _, tok := range []string{tokHNA, tokOfficer, tokAuditor, "Bearer"} {
		assert.NotContains(t, logs, tok, "tokens never reach the log")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	down := true
	a := newAPI(t, func(c *Config) {
		c.Ready = func(ctx context.Context) map[string]string {
			k := ""
			if down {
				k = "dial tcp 127.0.0.1:9092: connection refused"
			}
			return map[string]string{"store": "", "kafka": k}
		}
	})
	r := a.get("/healthz", "")
	require.Equal(t, nethttp.StatusOK, r.Status)

	r = a.get("/readyz", "")
	require.Equal(t, nethttp.StatusServiceUnavailable, r.Status, "body: %s", r.Body)
	var rd readiness
	require.NoError(t, json.Unmarshal(r.Body, &rd))
	assert.False(t, rd.Ready)
	assert.Equal(t, "ok", rd.Components["store"])
	assert.Contains(t, rd.Components["kafka"], "connection refused")

	// The API keeps serving while Kafka is down.
	a.submit(tokHNA)

	down = false
	r = a.get("/readyz", "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &rd))
	assert.True(t, rd.Ready)

	r = a.get("/metrics", "")
	require.Equal(t, nethttp.StatusOK, r.Status)
	body := string(r.Body)
	assert.Contains(t, body, `bondgate_http_requests_total{method="POST",route="/v1/predeclarations",status="201"} 1`)
	assert.Contains(t, body, `bondgate_http_requests_total{method="GET",route="/readyz",status="503"} 1`)
	assert.Contains(t, body, `bondgate_http_request_duration_seconds_bucket{method="GET",route="/readyz"`)

	// A second server on the same registry reuses the collectors.
	assert.NotPanics(t, func() { NewServer(Config{Tokens: contractTokens(t), Registry: a.registry}) })
}

func TestStartAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	logs := &proctest.Buffer{}
	s := NewServer(Config{Addr: addr, Tokens: contractTokens(t), Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := nethttp.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			require.Equal(t, nethttp.StatusOK, res.StatusCode)
			break
		}
		require.True(t, time.Now().Before(deadline), "server never answered: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, addr, s.Addr())

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
	_, err = nethttp.Get("http://" + addr + "/healthz")
	assert.Error(t, err, "nothing listens after shutdown")

	// A second server on a taken address fails at once.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err = NewServer(Config{Addr: ln.Addr().String(), Tokens: contractTokens(t), Log: s.log}).Start(context.Background())
	assert.Error(t, err)
}

func TestOpenAPIPartsMustNotOverlap(t *testing.T) {
	frame := `{"openapi":"3.1.0","paths":{"/a":{}},"components":{"schemas":{"A":{}}}}`
	_, err := mergeOpenAPI(fstest.MapFS{
		"openapi.json":   {Data: []byte(frame)},
		"openapi/b.json": {Data: []byte(`{"paths":{"/a":{}}}`)},
	})
	assert.ErrorContains(t, err, `"/a" is already defined`)
	_, err = mergeOpenAPI(fstest.MapFS{
		"openapi.json":   {Data: []byte(frame)},
		"openapi/b.json": {Data: []byte(`{"components":{"schemas":{"A":{}}}}`)},
	})
	assert.ErrorContains(t, err, `"A" is already defined`)
	doc, err := mergeOpenAPI(fstest.MapFS{
		"openapi.json":   {Data: []byte(frame)},
		"openapi/b.json": {Data: []byte(`{"paths":{"/b":{}},"components":{"schemas":{"B":{}}}}`)},
	})
	require.NoError(t, err)
	assert.JSONEq(t, `{"openapi":"3.1.0","paths":{"/a":{},"/b":{}},"components":{"schemas":{"A":{},"B":{}}}}`, string(doc))
}
