package http

import (
	"fmt"
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoleMatrix asks every route as every kind of caller: no token and an
// unknown token are 401, a role the contract does not name is 403, another
// firm's record is 404, and the right caller gets a 2xx.
func TestRoleMatrix(t *testing.T) {
	a := newAPI(t)
	const bogus = "not-a-token"
	const (
		none = ""
	)
	// Each call gets a fresh record of HNA-TECHNIC so state changes by one
	// caller never decide another's answer.
	submitted := func() string { return a.submit(tokHNA).ID }
	crossed := func() string {
		id := a.submit(tokHNA).ID
		r := a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"clear"}`)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		a.cross(id)
		return id
	}
	routes := []struct {
		method, path string // %s is replaced by a fresh record's ID
		fresh        func() string
		body         string
		want         map[string]int
	}{
		{"POST", "/v1/predeclarations", nil, engineJSON, map[string]int{
			tokHNA: 201, tokGAMECO: 201, tokOfficer: 403, tokGate: 403, tokAuditor: 403}},
		{"GET", "/v1/predeclarations", nil, "", map[string]int{
			tokHNA: 200, tokGAMECO: 200, tokOfficer: 200, tokGate: 403, tokAuditor: 403}},
		{"GET", "/v1/predeclarations/%s", submitted, "", map[string]int{
			tokHNA: 200, tokGAMECO: 404, tokOfficer: 200, tokGate: 403, tokAuditor: 403}},
		{"POST", "/v1/predeclarations/%s/decision", submitted, `{"decision":"clear"}`, map[string]int{
			tokHNA: 403, tokGAMECO: 403, tokOfficer: 200, tokGate: 403, tokAuditor: 403}},
		{"POST", "/v1/predeclarations/%s/cancel", submitted, `{"reason":"plan changed"}`, map[string]int{
			tokHNA: 200, tokGAMECO: 404, tokOfficer: 403, tokGate: 403, tokAuditor: 403}},
		{"POST", "/v1/predeclarations/%s/arrival", crossed, "", map[string]int{
			tokHNA: 200, tokGAMECO: 404, tokOfficer: 403, tokGate: 403, tokAuditor: 403}},
		{"GET", "/v1/audit?verify=true", nil, "", map[string]int{
			tokHNA: 403, tokGAMECO: 403, tokOfficer: 200, tokGate: 403, tokAuditor: 200}},
		{"GET", "/healthz", nil, "", map[string]int{none: 200, bogus: 200, tokGate: 200}},
		{"GET", "/readyz", nil, "", map[string]int{none: 200, bogus: 200, tokGate: 200}},
		{"GET", "/metrics", nil, "", map[string]int{none: 200, bogus: 200, tokGate: 200}},
		{"GET", "/openapi.json", nil, "", map[string]int{none: 200, bogus: 200, tokGate: 200}},
	}
	for _, rt := range routes {
		want := rt.want
		if _, public := want[none]; !public {
			want[none], want[bogus] = 401, 401
		}
		for tok, status := range want {
			name := tok
			if name == "" {
				name = "no-token"
			}
			t.Run(rt.method+" "+rt.path+" as "+name, func(t *testing.T) {
				path := rt.path
				if rt.fresh != nil {
					path = fmt.Sprintf(rt.path, rt.fresh())
				}
				r := a.do(req{method: rt.method, path: path, token: tok, body: rt.body})
				require.Equal(t, status, r.Status, "body: %s", r.Body)
				if status >= 400 {
					p := r.problem(t)
					if status == 401 {
						assert.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
					}
					if status == 404 {
						assert.NotContains(t, p.Detail, "HNA", "a 404 must not reveal the owner")
					}
				}
			})
		}
	}
}

// TestFirmsSeeOnlyTheirOwn checks lists as well as single records.
func TestFirmsSeeOnlyTheirOwn(t *testing.T) {
	a := newAPI(t)
	hna := a.submit(tokHNA)
	gam := a.submit(tokGAMECO)
	ids := func(tok string) []string {
		r := a.get("/v1/predeclarations", tok)
		require.Equal(t, nethttp.StatusOK, r.Status)
		var out []string
		for _, it := range r.json(t)["items"].([]any) {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	assert.Equal(t, []string{hna.ID}, ids(tokHNA))
	assert.Equal(t, []string{gam.ID}, ids(tokGAMECO))
	assert.ElementsMatch(t, []string{hna.ID, gam.ID}, ids(tokOfficer))
	assert.Equal(t, nethttp.StatusNotFound, a.get("/v1/predeclarations/"+hna.ID, tokGAMECO).Status)
	assert.Equal(t, nethttp.StatusNotFound, a.post("/v1/predeclarations/"+hna.ID+"/cancel", tokGAMECO, "").Status)
	assert.Equal(t, "submitted", a.get("/v1/predeclarations/"+hna.ID, tokHNA).json(t)["status"], "another firm's cancel changed nothing")
}
