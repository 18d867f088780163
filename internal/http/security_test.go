package http

import (
	"github.com/bondgate/bondgate/internal/web"

	"context"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/tlsconf/tlstest"
)

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	a := newAPI(t)
	// The console at / will serve HTML with its own policy.
	const consoleCSP = "default-src 'self'; frame-ancestors 'none'"
	a.srv.Echo().GET("/console-test", func(c echo.Context) error { return c.HTML(200, "<p>hi</p>") },
		web.ContentSecurityPolicy(consoleCSP))

	for _, r := range []struct {
		method, path, token, body string
		status                    int
	}{
		{"GET", "/v1/predeclarations", tokOfficer, "", 200},
		{"POST", "/v1/predeclarations", tokHNA, engineJSON, 201},
		{"POST", "/v1/predeclarations", tokHNA, `{"object":`, 400},
		{"GET", "/v1/predeclarations", "", "", 401},
		{"GET", "/v1/audit", tokHNA, "", 403},
		{"GET", "/v1/predeclarations/nope", tokHNA, "", 404},
		{"GET", "/v1/no-such-route", tokHNA, "", 404},
		{"DELETE", "/v1/predeclarations", tokHNA, "", 405},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/openapi.json", "", "", 200},
	} {
		res := a.do(req{method: r.method, path: r.path, token: r.token, body: r.body})
		name := r.method + " " + r.path
		require.Equal(t, r.status, res.Status, "%s: %s", name, res.Body)
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), name)
		assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), name)
		assert.Equal(t, web.JSONContentSecurityPolicy, res.Header.Get("Content-Security-Policy"), name)
		assert.Empty(t, res.Header.Get("Strict-Transport-Security"), "%s: no HSTS over plain HTTP", name)
		if strings.HasPrefix(r.path, "/v1/") {
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), name)
		}
	}
	res := a.get("/console-test", "")
	require.Equal(t, 200, res.Status)
	assert.Equal(t, consoleCSP, res.Header.Get("Content-Security-Policy"), "a route may carry its own policy")
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
}

func TestAPIServesTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "bondgate test CA")
	a := newAPI(t, func(c *Config) {
		c.TLS = tlsconf.ServerConfig(ca.Server(t).TLS)
	})
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
	base := "https://" + ln.Addr().String()

	client := &nethttp.Client{Timeout: 10 * time.Second, Transport: &nethttp.Transport{TLSClientConfig: tlstest.ClientConfig(ca)}}
	defer client.CloseIdleConnections()
	hr, err := nethttp.NewRequest("GET", base+"/v1/predeclarations", nil)
	require.NoError(t, err)
	hr.Header.Set("Authorization", "Bearer "+tokOfficer)
	res, err := client.Do(hr)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode, string(body))
	assert.Equal(t, web.HSTSValue, res.Header.Get("Strict-Transport-Security"))

	// Plain HTTP to the TLS port is not served.
	res, err = (&nethttp.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String() + "/healthz")
	if err == nil {
		res.Body.Close()
		assert.Equal(t, nethttp.StatusBadRequest, res.StatusCode)
	}
	// A client that does not trust the server's CA gets no answer.
	_, err = (&nethttp.Client{Timeout: 10 * time.Second}).Get(base + "/healthz")
	require.Error(t, err)
}
