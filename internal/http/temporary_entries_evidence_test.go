package http

import (
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// exportEvidence is a re-export's evidence by export declaration number.
const exportEvidence = `{"export_declaration":"460120261000654321"}`

// crossedAs submits, clears and crosses the contract's engine declaration
// in direction dir under regime.
func (a *api) crossedAs(token string, dir zone.Direction, regime zone.Regime) *zone.PreDeclaration {
	a.t.Helper()
	n := strings.NewReplacer(`"direction":"in"`, `"direction":"`+string(dir)+`"`,
		`"regime":"bonded_maintenance"`, `"regime":"`+string(regime)+`"`).Replace(engineJSON)
	r := a.post("/v1/predeclarations", token, strings.NewReplacer(`"STAND-0042"`, `"STAND-E`+string(dir)+string(regime[:3])+`"`).Replace(n))
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	id := r.json(a.t)["id"].(string)
	require.Equal(a.t, nethttp.StatusOK, a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"clear"}`).Status)
	a.cross(id)
	return a.declaration(id, token)
}

func TestTemporaryEntryOnItsCrossing(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	entry := func(pre string) string {
		return `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B"},"owner":"Qatar Airways",
		  "repair":"shop visit","guarantee":{"kind":"exempt"},"predeclaration_id":"` + pre + `"}`
	}
	good := a.crossedAs(tokHNA, zone.In, zone.RegimeTemporaryEntryRepair)
	notCrossed := a.submit(tokHNA)
	for name, pre := range map[string]string{
		"not crossed":         notCrossed.ID,
		"another regime":      a.crossedAs(tokHNA, zone.In, zone.RegimeBondedMaintenance).ID,
		"outbound":            a.crossedAs(tokHNA, zone.Out, zone.RegimeTemporaryEntryRepair).ID,
		"another firm's":      a.crossedAs(tokGAMECO, zone.In, zone.RegimeTemporaryEntryRepair).ID,
		"no such declaration": "01NOPE",
	} {
		p := a.post("/v1/temporary-entries", tokHNA, entry(pre)).problem(t)
		assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status, name)
		assert.Equal(t, []string{"predeclaration_id"}, p.fields(), name)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	p := a.post("/v1/temporary-entries", tokHNA, strings.Replace(temporaryEntryJSON, "2026-11-20T08:00:00Z", future, 1)).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.Equal(t, []string{"entered_at"}, p.fields())
	assert.Empty(t, a.get("/v1/temporary-entries", tokHNA).json(t)["items"], "nothing stored on refusal")

	e := a.createEntry(tokHNA, entry(good.ID))
	assert.True(t, good.CrossedAt.Equal(e.EnteredAt))

	reexport := "/v1/temporary-entries/" + e.ID + "/reexport"
	for name, c := range map[string]struct{ body, field string }{
		"no evidence":         {"", "predeclaration"},
		"empty evidence":      {`{}`, "predeclaration"},
		"a short number":      {`{"export_declaration":"4601202610006543"}`, "export_declaration"},
		"both kinds":          {`{"export_declaration":"460120261000654321","predeclaration":"` + good.ID + `"}`, "export_declaration"},
		"an inbound crossing": {`{"predeclaration":"` + good.ID + `"}`, "predeclaration"},
		"not crossed":         {`{"predeclaration":"` + notCrossed.ID + `"}`, "predeclaration"},
		"another firm's":      {`{"predeclaration":"` + a.crossedAs(tokGAMECO, zone.Out, zone.RegimeTemporaryEntryRepair).ID + `"}`, "predeclaration"},
	} {
		p := a.post(reexport, tokHNA, c.body).problem(t)
		assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status, name)
		assert.Equal(t, c.field, p.fields()[0], name)
	}
	assert.Equal(t, "entered", a.get("/v1/temporary-entries/"+e.ID, tokHNA).json(t)["status"], "refusals changed nothing")

	out := a.crossedAs(tokHNA, zone.Out, zone.RegimeTemporaryEntryRepair)
	r := a.post(reexport, tokHNA, `{"predeclaration":"`+out.ID+`"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	got := decodeEntry(t, r)
	assert.Equal(t, zone.EntryReexported, got.Status)
	assert.True(t, out.CrossedAt.Equal(*got.ReexportedAt), "re-exported when it crossed out")
	assert.Equal(t, out.ID, got.ReexportEvidence.PreDeclaration)
}
