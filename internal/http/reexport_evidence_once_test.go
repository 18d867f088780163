package http

import (
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestOneOutboundDeclarationClosesOneEntry: a crossed outbound
// pre-declaration is the re-export evidence of one temporary entry; a second
// entry citing it is 409 naming the first and stays open. An export
// declaration number (which may list several objects) can close two.
func TestOneOutboundDeclarationClosesOneEntry(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	engine := `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B"},"owner":"Qatar Airways",
	  "entered_at":"2026-01-20T08:00:00Z","repair":"shop visit","guarantee":{"kind":"exempt"}}`
	first, second := a.createEntry(tokHNA, engine), a.createEntry(tokHNA, engine)
	out := a.crossedAs(tokHNA, zone.Out, zone.RegimeTemporaryEntryRepair)
	evidence := `{"predeclaration":"` + out.ID + `"}`

	require.Equal(t, nethttp.StatusOK, a.post("/v1/temporary-entries/"+first.ID+"/reexport", tokHNA, evidence).Status)
	p := a.post("/v1/temporary-entries/"+second.ID+"/reexport", tokHNA, evidence).problem(t)
	assert.Equal(t, nethttp.StatusConflict, p.Status)
	assert.Contains(t, p.Detail, first.ID, "names the entry the declaration already closed")
	assert.Equal(t, []string{"predeclaration"}, p.fields())
	assert.Equal(t, "entered", a.get("/v1/temporary-entries/"+second.ID, tokHNA).json(t)["status"], "nothing changed")
	assert.Equal(t, nethttp.StatusConflict, a.post("/v1/temporary-entries/"+first.ID+"/reexport", tokHNA, evidence).Status,
		"the first entry is re-exported once")

	third := a.createEntry(tokHNA, engine)
	for _, id := range []string{second.ID, third.ID} {
		r := a.post("/v1/temporary-entries/"+id+"/reexport", tokHNA, exportEvidence)
		assert.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	}
}
