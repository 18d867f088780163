package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// The gate serves its own OpenAPI document, and it names every route and
// method the gate has: an integrator reading it misses nothing.
func TestGateOpenAPIDescribesEveryRoute(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	st, raw := g.do(http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, st, string(raw))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	param := regexp.MustCompile(`:([a-z_]+)`)
	for _, r := range g.svc.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		path := param.ReplaceAllString(r.Path, "{$1}")
		ops, ok := doc.Paths[path]
		if !assert.True(t, ok, "the gate's /openapi.json has no path %s", path) {
			continue
		}
		assert.Contains(t, ops, strings.ToLower(r.Method), "the gate's /openapi.json has no %s %s", r.Method, path)
	}
	for _, p := range []string{"/v1/events", "/v1/status", "/v1/crossings", "/healthz", "/readyz", "/metrics"} {
		assert.Contains(t, doc.Paths, p)
	}
}

// The document's event types and read kinds are the ones the gate accepts.
func TestGateOpenAPIEventEnumsMatchTheParser(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	ev := doc.Components.Schemas["SensorEvent"].Properties
	assert.ElementsMatch(t, []string{decide.EventDetection, decide.EventBreak, decide.EventHeartbeat, decide.EventInfraredFault, decide.EventCameraFault}, ev["type"].Enum)
	assert.ElementsMatch(t, []string{decide.ClassEngine, decide.ClassAircraft, decide.ClassVehicle, decide.ClassPerson, decide.ClassUnknown}, ev["object_class"].Enum)
	assert.ElementsMatch(t, []string{decide.StateInitialized, decide.StateChanged, decide.StateDeleted, decide.StateCleared}, ev["state"].Enum)
	assert.ElementsMatch(t, []string{zone.ReadStandTag, zone.ReadVehiclePlate, zone.ReadAircraftRegistration},
		doc.Components.Schemas["Read"].Properties["kind"].Enum)
}
