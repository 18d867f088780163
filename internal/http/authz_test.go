package http

import (
	"context"
	"encoding/json"
	"io"
	"math/big"
	nethttp "net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

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
	// params, for routes with more than one parameter (or a wildcard *),
	// gives each its value; it wins over record.
	params func(a *api) map[string]string
	body   string
	// bodyOf, when set, makes the body from the filled-in path.
	bodyOf func(a *api, path string) string
	// stream: the answer is a never-ending event stream; only its status
	// and headers are read.
	stream bool
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
		"GET /v1/predeclarations/:id/release-note": {record: crossed,
			want: statuses(200, 200, no, no, nf, no)},

		// Issue 4: what flows back from the gates, and the figures (customs).
		"GET /v1/crossings": {want: statuses(no, 200, no, no, no, no)},
		"GET /v1/alarms":    {want: statuses(no, 200, no, no, no, no)},
		"GET /v1/stats":     {want: statuses(no, 200, no, no, no, no)},
		"POST /v1/alarms/:id/ack": {record: openAlarm, body: `{"note":"looked at the video"}`,
			want: statuses(no, 200, no, no, no, no)},
		"POST /v1/predeclarations/:id/close": {record: arrivedDeclaration,
			want: statuses(200, 200, no, no, nf, no)},

		// Issue 5: temporary entries and the zero-tariff parts ledger.
		"POST /v1/temporary-entries": {body: temporaryEntryJSON, want: statuses(201, no, no, no, 201, no)},
		"GET /v1/temporary-entries":  {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/temporary-entries/:id": {record: entryOfHNA,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/temporary-entries/:id/reexport": {record: entryOfHNA, body: exportEvidence,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/temporary-entries/:id/extension": {record: entryOfHNA, body: `{"months":2,"reason":"shop slot moved"}`,
			want: statuses(no, 200, no, no, no, no)},
		"POST /v1/parts/lots": {body: lotJSON, want: statuses(201, no, no, no, 201, no)},
		"GET /v1/parts/lots":  {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/parts/lots/:id": {record: lotOfHNA,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/parts/lots/:id/movements": {record: lotOfHNA, body: `{"kind":"consume","quantity":1}`,
			want: statuses(201, 201, no, no, nf, no)},
		"POST /v1/parts/lots/:id/movements/:mid/approval": {params: pendingExitOfHNA, body: `{"decision":"approve"}`,
			want: statuses(no, 200, no, no, no, no)},
		"GET /v1/parts/lots/:id/ledger": {record: lotOfHNA,
			want: statuses(200, 200, no, no, nf, no)},
		"GET /v1/parts/ledger":      {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/parts/consignment": {want: statuses(200, 200, no, no, 200, no)},
		"POST /v1/equipment":        {body: equipmentJSON, want: statuses(201, no, no, no, 201, no)},
		"GET /v1/equipment":         {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/equipment/:id":     {record: equipmentOfHNA, want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/equipment/:id/transfer": {record: equipmentOfHNA, body: `{"to_firm":"GAMECO","eligible":true,"at":"2026-06-01T00:00:00Z"}`,
			want: statuses(200, no, no, no, nf, no)},
		"POST /v1/equipment/:id/exit":   {record: equipmentOfHNA, bodyOf: exitBody, want: statuses(200, no, no, no, nf, no)},
		"POST /v1/equipment/:id/return": {record: equipmentOutOfHNA, want: statuses(200, no, no, no, nf, no)},

		// Issue 14: bonded maintenance and write-offs.
		"POST /v1/maintenance/visits": {bodyOf: visitBodyOfHNA, want: statuses(201, no, no, no, 422, no)},
		"GET /v1/maintenance/visits":  {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/maintenance/visits/:id": {record: visitOfHNA,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/maintenance/visits/:id/task-cards": {record: visitOfHNA, bodyOf: newTaskCardBody,
			want: statuses(201, no, no, no, nf, no)},
		"POST /v1/maintenance/visits/:id/removed-parts": {record: visitOfHNA, bodyOf: removedPartBody,
			want: statuses(201, no, no, no, nf, no)},
		"POST /v1/maintenance/visits/:id/removed-parts/:rid/disposition": {params: removedPartOfHNA, body: `{"kind":"scrap"}`,
			want: statuses(200, no, no, no, nf, no)},
		"POST /v1/maintenance/visits/:id/removed-parts/:rid/disposition/approval": {params: scrapOfHNA, body: `{"decision":"approve"}`,
			want: statuses(no, 200, no, no, no, no)},
		"POST /v1/maintenance/visits/:id/outcome": {record: visitOfHNA, body: `{"outcome":"repaired"}`,
			want: statuses(200, no, no, no, nf, no)},
		"GET /v1/maintenance/ledger": {want: statuses(200, 200, no, no, 200, no)},
		"POST /v1/writeoffs":         {bodyOf: nextPeriodBody, want: statuses(201, no, no, no, 201, no)},
		"GET /v1/writeoffs":          {want: statuses(200, 200, no, no, 200, no)},
		"GET /v1/writeoffs/:id": {record: writeOffOfHNA,
			want: statuses(200, 200, no, no, nf, no)},
		"POST /v1/writeoffs/:id/submit": {record: writeOffOfHNA,
			want: statuses(200, no, no, no, nf, no)},
		"POST /v1/writeoffs/:id/decision": {record: submittedWriteOffOfHNA, body: `{"decision":"verify"}`,
			want: statuses(no, 200, no, no, no, no)},

		// Hot backup of the store: whoever may read everything.
		"GET /v1/admin/backup": {want: statuses(no, 200, no, 200, no, no)},

		// The officers' console: the page and its assets are public (they
		// hold no data); what they show comes from customs-only routes.
		"GET /":          {want: public()},
		"GET /console/*": {params: func(*api) map[string]string { return map[string]string{"*": "i18n.js"} }, want: public()},
		"GET /v1/gates":  {want: statuses(no, 200, no, no, no, no)},
		"GET /v1/stream": {stream: true, want: statuses(no, 200, no, no, no, no)},
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
	withRecords(a)
	withMaintenance(a)
	a.srv.cfg.Parts.ExitApprovalAbove = big.NewRat(10000, 1)
	a.srv.cfg.Backup = a.db.WriteBackup
	return a
}

// pendingExitOfHNA is an exit of HNA-TECHNIC's parts waiting for customs'
// approval (its duty is above the matrix API's threshold).
func pendingExitOfHNA(a *api) map[string]string {
	a.t.Helper()
	id := lotOfHNA(a)
	r := a.post("/v1/parts/lots/"+id+"/movements", tokHNA, exitJSON)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	mv := r.json(a.t)["movement"].(map[string]any)
	require.Equal(a.t, "pending_approval", mv["status"])
	return map[string]string{"id": id, "mid": mv["id"].(string)}
}

// fillPath puts the row's parameter values into a route pattern.
func fillPath(a *api, rc authzCase, pattern string) string {
	switch {
	case rc.params != nil:
		vals := rc.params(a)
		out := routeParam.ReplaceAllStringFunc(pattern, func(p string) string {
			v, ok := vals[p[1:]]
			require.True(a.t, ok, "%s: no value for %s", pattern, p)
			return v
		})
		if v, ok := vals["*"]; ok {
			out = strings.Replace(out, "*", v, 1)
		}
		return out
	case rc.record != nil:
		return routeParam.ReplaceAllString(pattern, rc.record(a))
	}
	return pattern
}

// askStream opens an event stream and reads only the status and headers;
// a refusal is read whole.
func askStream(t *testing.T, a *api, path, token string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, a.url+path, nil)
	require.NoError(t, err)
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := nethttp.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer res.Body.Close()
	r := reply{Status: res.StatusCode, Header: res.Header}
	if res.StatusCode == nethttp.StatusOK {
		assert.Contains(t, res.Header.Get("Content-Type"), "text/event-stream")
		return r
	}
	r.Body, err = io.ReadAll(res.Body)
	require.NoError(t, err)
	return r
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
				method, pattern, _ := strings.Cut(key, " ")
				path := fillPath(a, rc, pattern)
				var r reply
				if rc.stream {
					r = askStream(t, a, path, matrixTokens[caller])
				} else {
					body := rc.body
					if rc.bodyOf != nil {
						body = rc.bodyOf(a, path)
					}
					r = a.do(req{method: method, path: path, token: matrixTokens[caller], body: body})
				}
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
	matrix := authzMatrix()
	missing := func() []string {
		var out []string
		for _, k := range routeKeys(a.srv.Echo()) {
			if _, ok := matrix[k]; !ok {
				out = append(out, k)
			}
		}
		return out
	}
	require.Empty(t, missing())
	a.srv.Handle(nethttp.MethodGet, "/unlisted", func(c echo.Context) error { return c.NoContent(204) }, zone.RoleCustoms)
	assert.Equal(t, []string{"GET /v1/unlisted"}, missing())
}

// TestOtherFirmChangesNothing: a denied change by another firm leaves the
// record as it was.
func TestOtherFirmChangesNothing(t *testing.T) {
	a := matrixAPI(t)
	id := a.submit(tokHNA).ID
	before := a.get("/v1/predeclarations/"+id, tokOfficer)
	require.Equal(t, 200, before.Status)
	for action, body := range map[string]string{"cancel": `{"reason":"x"}`, "arrival": "", "decision": `{"decision":"clear"}`,
		"close": ""} {
		r := a.post("/v1/predeclarations/"+id+"/"+action, tokGAMECO, body)
		assert.Contains(t, []int{403, 404}, r.Status, "%s: %s", action, r.Body)
	}
	after := a.get("/v1/predeclarations/"+id, tokOfficer)
	var b, c map[string]any
	require.NoError(t, json.Unmarshal(before.Body, &b))
	require.NoError(t, json.Unmarshal(after.Body, &c))
	assert.Equal(t, b, c)
}
