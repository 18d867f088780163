package http

import (
	"encoding/json"
	nethttp "net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStandbyWriteAnswerIsDocumented: a standby answers a write with 503,
// the primary's Location and Retry-After, serves reads, and the OpenAPI
// document describes exactly those headers on the write operations.
func TestStandbyWriteAnswerIsDocumented(t *testing.T) {
	e := echo.New()
	e.Use(standbyWrites(func() (string, bool) { return "https://api-a.zone.example", false }))
	ok := func(c echo.Context) error { return c.NoContent(nethttp.StatusNoContent) }
	e.POST("/v1/predeclarations/:id/cancel", ok)
	e.GET("/v1/predeclarations/:id", ok)

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(nethttp.MethodPost, "/v1/predeclarations/D-1/cancel?x=1", nil))
	assert.Equal(t, nethttp.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "https://api-a.zone.example/v1/predeclarations/D-1/cancel?x=1", rec.Header().Get("Location"))
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(nethttp.MethodGet, "/v1/predeclarations/D-1", nil))
	assert.Equal(t, nethttp.StatusNoContent, rec.Code, "a standby serves reads")

	var doc struct {
		Info       struct{ Description string }
		Paths      map[string]map[string]struct{ Responses map[string]map[string]any }
		Components struct {
			Responses map[string]struct{ Headers map[string]any }
		}
	}
	require.NoError(t, json.Unmarshal(OpenAPI(), &doc))
	standby := doc.Components.Responses["StandbyWrite"]
	assert.Contains(t, standby.Headers, "Location")
	assert.Contains(t, standby.Headers, "Retry-After")
	for _, path := range []string{"/v1/predeclarations", "/v1/predeclarations/{id}/decision",
		"/v1/predeclarations/{id}/cancel", "/v1/predeclarations/{id}/arrival"} {
		assert.Equal(t, "#/components/responses/StandbyWrite", doc.Paths[path]["post"].Responses["503"]["$ref"], path)
	}
	assert.Contains(t, doc.Info.Description, "StandbyWrite", "the info says every other write answers the same")
}
