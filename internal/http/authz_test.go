package http

import (
	"encoding/json"
	nethttp "net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// The callers of the authorization matrix. Records are made by the firm of
// tokHNA; "other firm" is GAMECO asking for them, "other gate" a gate token
// bound to another gate than tokGate's.
const (
	callerNone      = "no token"
	callerBogus     = "unknown token"
	callerMRO       = "mro"
	callerCustoms   = "customs"
	callerGate      = "gate"
	callerAuditor   = "auditor"
	callerOtherFirm = "other firm"
	callerOtherGate = "other gate"

	tokOtherGate = "gate-main"
)

var matrixCallers = []string{callerNone, callerBogus, callerMRO, callerCustoms, callerGate, callerAuditor, callerOtherFirm, callerOtherGate}

var matrixTokens = map[string]string{
	callerNone: "", callerBogus: "not-a-token", callerMRO: tokHNA, callerCustoms: tokOfficer,
	callerGate: tokGate, callerAuditor: tokAuditor, callerOtherFirm: tokGAMECO, callerOtherGate: tokOtherGate,
}

// authzCase is one route's row: how to make the record its :params name
// (owned by HNA-TECHNIC, fresh for every caller so one caller's change
// never decides another's answer), the body to send, and the expected
// status for each caller.
type authzCase struct {
	record func(a *api) string
	body   string
	want   map[string]int
}

// statuses lists the expected answers in matrixCallers order after the two
// unauthenticated ones (always 401 on /v1): mro, customs, gate, auditor,
// other firm, other gate.
func statuses(mro, customs, gate, auditor, otherFirm, otherGate int) map[string]int {
	return map[string]int{callerNone: 401, callerBogus: 401, callerMRO: mro, callerCustoms: customs,
		callerGate: gate, callerAuditor: auditor, callerOtherFirm: otherFirm, callerOtherGate: otherGate}
}

func public() map[string]int {
	m := map[string]int{}
	for _, c := range matrixCallers {
		m[c] = 200
	}
	return m
}

// authzMatrix is keyed "METHOD path" exactly as the router has the route.
// A route missing here fails TestAuthorizationMatrix: add it, with the roles
// CONTRACT.md gives it.
func authzMatrix() map[string]authzCase {
	submitted := func(a *api) string { return a.submit(tokHNA).ID }
	crossed := func(a *api) string {
		id := a.submit(tokHNA).ID
		r := a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"clear"}`)
		require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		a.cross(id)
		return id
	}
	const no, nf = 403, 404
	return map[string]authzCase{
		"GET /healthz":      {want: public()},
		"GET /readyz":       {want: public()},
		"GET /metrics":      {want: public()},
		"GET /openapi.json": {want: public()},

		"POST /v1/predeclarations": {body: engineJSON, want: statuses(201, no, no, no, 201, no)},
		"GET /v1/predeclarations":  {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/predeclarations/:id": {record: submitted,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/predeclarations/:id/decision": {record: submitted, body: `{"decision":"clear"}`,
			want: statuses(no, 200, no, no, no, no)},
		"POST /v1/predeclarations/:id/cancel": {record: submitted, body: `{"reason":"plan changed"}`,
			want: statuses(200, no, no, no, nf, no)},
		"POST /v1/predeclarations/:id/arrival": {record: crossed,
			want: statuses(200, no, no, no, nf, no)},
		"GET /v1/audit": {want: statuses(no, 200, no, 200, no, no)},

		// Issue 4: what flows back from the gates, and the figures (customs).
		"GET /v1/crossings": {want: statuses(no, 200, no, no, no, no)},
		"GET /v1/alarms":    {want: statuses(no, 200, no, no, no, no)},
		"GET /v1/stats":     {want: statuses(no, 200, no, no, no, no)},
		"POST /v1/alarms/:id/ack": {record: openAlarm, body: `{"note":"looked at the video"}`,
			want: statuses(no, 200, no, no, no, no)},
		"POST /v1/predeclarations/:id/close": {record: arrivedDeclaration,
			want: statuses(200, 200, no, no, nf, no)},
	}
}

func matrixAPI(t *testing.T) *api {
	a := newAPI(t, func(c *Config) {
		toks, err := zone.NewTokens([]zone.TokenRecord{
			{Token: tokHNA, Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
			{Token: tokGAMECO, Role: zone.RoleMRO, Firm: "GAMECO"},
			{Token: tokOfficer, Role: zone.RoleCustoms, Officer: "HK-0031"},
			{Token: tokGate, Role: zone.RoleGate, Gate: "G-MRO-1"},
			{Token: tokOtherGate, Role: zone.RoleGate, Gate: "G-MAIN"},
			{Token: tokAuditor, Role: zone.RoleAuditor},
		})
		require.NoError(t, err)
		c.Tokens = toks
	})
	withZoneFeed(a)
	return a
}

// routeKeys lists the router's routes as "METHOD path", leaving out echo's
// internal not-found routes.
func routeKeys(e *echo.Echo) []string {
	seen := map[string]bool{}
	var keys []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		k := r.Method + " " + r.Path
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

var routeParam = regexp.MustCompile(`:[A-Za-z_]+`)

// TestAuthorizationMatrix asks every route the router has as every kind of
// caller and checks the status against authzMatrix. Denials are problem+json;
// a 401 asks for a bearer token; another firm's 404 does not name the owner.
func TestAuthorizationMatrix(t *testing.T) {
	a := matrixAPI(t)
	matrix := authzMatrix()
	keys := routeKeys(a.srv.Echo())
	require.NotEmpty(t, keys)
	for _, key := range keys {
		rc, ok := matrix[key]
		if !ok {
			t.Errorf("route %q has no row in the authorization matrix: add it to authzMatrix in authz_test.go", key)
			continue
		}
		for _, caller := range matrixCallers {
			want, ok := rc.want[caller]
			require.True(t, ok, "%s: no expectation for %s", key, caller)
			t.Run(key+" as "+caller, func(t *testing.T) {
				method, path, _ := strings.Cut(key, " ")
				if rc.record != nil {
					id := rc.record(a)
					path = routeParam.ReplaceAllString(path, id)
				}
				r := a.do(req{method: method, path: path, token: matrixTokens[caller], body: rc.body})
				require.Equal(t, want, r.Status, "body: %s", r.Body)
				if want < 400 {
					return
				}
				p := r.problem(t)
				switch want {
				case 401:
					assert.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
				case 404:
					assert.NotContains(t, p.Detail, "HNA", "a 404 must not reveal the owner")
					assert.NotContains(t, string(r.Body), "HNA-TECHNIC")
				}
			})
		}
	}
	for key := range matrix {
		assert.Contains(t, keys, key, "the matrix has a row for a route the router does not have")
	}
}

// TestAuthorizationMatrixCatchesANewRoute proves the matrix is generated
// from the router: a route nobody put in the table is reported.
func TestAuthorizationMatrixCatchesANewRoute(t *testing.T) {
	a := matrixAPI(t)
	a.srv.Handle(nethttp.MethodGet, "/unlisted", func(c echo.Context) error { return c.NoContent(204) }, zone.RoleCustoms)
	matrix := authzMatrix()
	var missing []string
	for _, k := range routeKeys(a.srv.Echo()) {
		if _, ok := matrix[k]; !ok {
			missing = append(missing, k)
		}
	}
	assert.Equal(t, []string{"GET /v1/unlisted"}, missing)
}

// TestOtherFirmChangesNothing: a denied change by another firm leaves the
// record as it was.
func TestOtherFirmChangesNothing(t *testing.T) {
	a := matrixAPI(t)
	id := a.submit(tokHNA).ID
	before := a.get("/v1/predeclarations/"+id, tokOfficer)
	require.Equal(t, 200, before.Status)
	for _, action := range []string{"cancel", "arrival", "decision"} {
		r := a.post("/v1/predeclarations/"+id+"/"+action, tokGAMECO, `{"decision":"clear","reason":"x"}`)
		assert.Contains(t, []int{403, 404}, r.Status, action)
	}
	after := a.get("/v1/predeclarations/"+id, tokOfficer)
	var b, c map[string]any
	require.NoError(t, json.Unmarshal(before.Body, &b))
	require.NoError(t, json.Unmarshal(after.Body, &c))
	assert.Equal(t, b, c)
}
