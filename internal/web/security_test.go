package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
)

// SecurityHeaders hands every answer the same value slices: what one
// handler does to its answer's headers must not reach the next answer.
func TestSecurityHeadersPerAnswer(t *testing.T) {
	e := echo.New()
	e.Use(SecurityHeaders())
	e.GET("/v1/meddle", func(c echo.Context) error {
		h := c.Response().Header()
		h.Add(echo.HeaderXContentTypeOptions, "extra")
		h.Set(echo.HeaderReferrerPolicy, "origin")
		h.Del(echo.HeaderCacheControl)
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/v1/plain", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/page", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, ContentSecurityPolicy("default-src 'self'"))

	get := func(path string, overTLS bool) http.Header {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if overTLS {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Header()
	}
	h := get("/v1/meddle", false)
	assert.Equal(t, []string{"nosniff", "extra"}, h.Values(echo.HeaderXContentTypeOptions))
	assert.Equal(t, "origin", h.Get(echo.HeaderReferrerPolicy))

	for _, overTLS := range []bool{false, true} {
		h = get("/v1/plain", overTLS)
		assert.Equal(t, []string{"nosniff"}, h.Values(echo.HeaderXContentTypeOptions))
		assert.Equal(t, []string{"no-referrer"}, h.Values(echo.HeaderReferrerPolicy))
		assert.Equal(t, []string{JSONContentSecurityPolicy}, h.Values("Content-Security-Policy"))
		assert.Equal(t, []string{"no-store"}, h.Values(echo.HeaderCacheControl))
		if overTLS {
			assert.Equal(t, []string{HSTSValue}, h.Values("Strict-Transport-Security"))
		} else {
			assert.Empty(t, h.Values("Strict-Transport-Security"))
		}
	}
	h = get("/page", false)
	assert.Equal(t, []string{"default-src 'self'"}, h.Values("Content-Security-Policy"))
	assert.Empty(t, h.Values(echo.HeaderCacheControl), "no-store only under /v1")
	assert.Equal(t, []string{JSONContentSecurityPolicy}, get("/v1/plain", false).Values("Content-Security-Policy"))
}
