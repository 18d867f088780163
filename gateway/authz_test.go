package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// The callers of the gate's authorization matrix (as in the zone API's):
// "gate" is this gate's token, "other gate" a token bound to G-MAIN.
var gateCallers = map[string]string{
	"no token": "", "unknown token": "not-a-token", "mro": tokMRO, "customs": tokCustoms,
	"gate": tokGate, "auditor": "auditor-1", "other firm": "mro-gameco", "other gate": tokOtherGate,
}

// gateRow lists the expected status for mro, customs, gate, auditor, other
// firm and other gate; no token and an unknown token are always 401.
func gateRow(mro, customs, gate, auditor, otherFirm, otherGate int) map[string]int {
	return map[string]int{"no token": 401, "unknown token": 401, "mro": mro, "customs": customs, "gate": gate,
		"auditor": auditor, "other firm": otherFirm, "other gate": otherGate}
}

func gatePublic() map[string]int {
	m := map[string]int{}
	for c := range gateCallers {
		m[c] = 200
	}
	return m
}

// gateMatrix is keyed "METHOD path" as the gate's router has it. A route
// missing here fails TestGateAuthorizationMatrix.
func gateMatrix() map[string]map[string]int {
	const no = 403
	return map[string]map[string]int{
		"GET /healthz": gatePublic(),
		"GET /readyz":  gatePublic(),
		"GET /metrics": gatePublic(),
		// The gate's own API description, for hardware integrators.
		"GET /openapi.json": gatePublic(),
		// Only this gate's hardware posts; customs reads.
		"POST /v1/events":   gateRow(no, no, 202, no, no, no),
		"GET /v1/events":    gateRow(no, 200, 200, no, no, no),
		"GET /v1/status":    gateRow(no, 200, 200, no, no, no),
		"GET /v1/crossings": gateRow(no, 200, 200, no, no, no),
		// ":id" is no clearance the gate holds, hence 404 for the readers.
		"GET /v1/clearances/:id": gateRow(no, 404, 404, no, no, no),
		// Hardware adapters: this gate's token or the device's own
		// credentials; ":device_id" is no listed device, hence 404.
		"POST /v1/hardware/isapi/:device_id": gateRow(no, no, 404, no, no, no),
		"POST /v1/hardware/onvif/:device_id": gateRow(no, no, 404, no, no, no),
		// A hot copy of the gate's store: customs and auditors.
		"GET /v1/admin/backup": gateRow(no, 200, no, 200, no, no),
	}
}

func gateRouteKeys(e *echo.Echo) []string {
	seen := map[string]bool{}
	var keys []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		if k := r.Method + " " + r.Path; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// TestGateAuthorizationMatrix asks every route of the gate's router as every
// kind of caller. An event for another gate, posted with this gate's token,
// is refused too (the event's gate field).
func TestGateAuthorizationMatrix(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) {
		tk, err := zone.NewTokens([]zone.TokenRecord{
			{Token: tokGate, Role: zone.RoleGate, Gate: testGate},
			{Token: tokOtherGate, Role: zone.RoleGate, Gate: "G-MAIN"},
			{Token: tokCustoms, Role: zone.RoleCustoms, Officer: "HK-0031"},
			{Token: tokMRO, Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
			{Token: "mro-gameco", Role: zone.RoleMRO, Firm: "GAMECO"},
			{Token: "auditor-1", Role: zone.RoleAuditor},
		})
		require.NoError(t, err)
		c.Tokens = tk
	})
	matrix := gateMatrix()
	keys := gateRouteKeys(g.svc.echo)
	require.NotEmpty(t, keys)
	var n atomic.Int64
	for _, key := range keys {
		want, ok := matrix[key]
		if !ok {
			t.Errorf("gate route %q has no row in the authorization matrix: add it to gateMatrix in gateway/authz_test.go", key)
			continue
		}
		for caller, token := range gateCallers {
			t.Run(key+" as "+caller, func(t *testing.T) {
				var method, path string
				_, err := fmt.Sscan(key, &method, &path)
				require.NoError(t, err)
				var body any
				if method == http.MethodPost {
					body = heartbeat(fmt.Sprintf("IR-1-%06d", n.Add(1)), time.Now())
				}
				st, raw := g.do(method, path, token, body)
				require.Equal(t, want[caller], st, "body: %s", raw)
				if st >= 400 {
					assert.Contains(t, string(raw), `"status":`+fmt.Sprint(st), "problem+json body")
				}
			})
		}
	}
	for key := range matrix {
		assert.Contains(t, keys, key, "the matrix has a row for a route the gate does not have")
	}

	// The token's gate is right but the event names another gate.
	other := heartbeat("IR-1-X", time.Now())
	other["gate"] = "G-MAIN"
	st, raw := g.do(http.MethodPost, "/v1/events", tokGate, []any{heartbeat("IR-1-Y", time.Now()), other})
	require.Equal(t, http.StatusForbidden, st, string(raw))
	var p web.Problem
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "[1].gate", p.Errors[0].Field)
}
