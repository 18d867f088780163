package http

import (
	"encoding/json"
	"math/big"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

// newRecordsAPI is the zone API with temporary entries and the parts ledger
// on a real bbolt file of their own. approvalAbove turns on customs approval
// of exits above that exempted duty (nil: off).
func newRecordsAPI(t *testing.T, approvalAbove *big.Rat) (*api, *bolt.DB) {
	t.Helper()
	db := bolttest.MustOpenDB(t)
	newID := func() string { return ulid.Make().String() }
	a := newAPI(t, func(cfg *Config) {
		cfg.TemporaryEntries = &zone.TemporaryEntryService{Store: bolt.NewTemporaryEntryStore(db),
			Declarations: cfg.Declarations.Store, Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
		cfg.Parts = &zone.PartsService{Store: bolt.NewPartsStore(db), Now: time.Now, NewID: newID,
			Source: "bondgate/api-test", ExitApprovalAbove: approvalAbove}
		cfg.Equipment = &zone.EquipmentService{Store: bolt.NewEquipmentStore(db), Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
	})
	return a, db
}

// temporaryEntryJSON is CONTRACT.md's temporary-entry body, verbatim.
const temporaryEntryJSON = `{"object":{"kind":"aircraft","registration":"RP-C3441","type":"A321"},
 "owner":"Philippine Airlines","entered_at":"2026-11-20T08:00:00Z",
 "repair":"C-check and repaint","guarantee":{"kind":"exempt"}}`

func decodeEntry(t *testing.T, r reply) zone.TemporaryEntry {
	t.Helper()
	var e zone.TemporaryEntry
	require.NoError(t, json.Unmarshal(r.Body, &e), "body: %s", r.Body)
	return e
}

func (a *api) createEntry(token, body string) zone.TemporaryEntry {
	a.t.Helper()
	r := a.post("/v1/temporary-entries", token, body)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	return decodeEntry(a.t, r)
}

func TestTemporaryEntryLifecycleOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	r := a.post("/v1/temporary-entries", tokHNA, temporaryEntryJSON)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	m := r.json(t)
	id, _ := m["id"].(string)
	require.NotEmpty(t, id)
	assert.Equal(t, "entered", m["status"])
	assert.Equal(t, "2027-05-20T08:00:00Z", m["reexport_deadline"], "entry + 6 months")
	assert.Equal(t, []any{}, m["extensions"], "an empty list, never null")
	assert.Equal(t, "HNA-TECHNIC", m["firm"])
	assert.Equal(t, "/v1/temporary-entries/"+id, r.Header.Get("Location"))

	// Read: owner and customs; another firm as if it did not exist.
	assert.Equal(t, nethttp.StatusOK, a.get("/v1/temporary-entries/"+id, tokHNA).Status)
	assert.Equal(t, nethttp.StatusOK, a.get("/v1/temporary-entries/"+id, tokOfficer).Status)
	assert.Equal(t, nethttp.StatusNotFound, a.get("/v1/temporary-entries/"+id, tokGAMECO).problem(t).Status)
	assert.Equal(t, nethttp.StatusForbidden, a.get("/v1/temporary-entries/"+id, tokGate).Status)
	assert.Equal(t, nethttp.StatusUnauthorized, a.get("/v1/temporary-entries/"+id, "").Status)
	assert.Equal(t, nethttp.StatusForbidden, a.post("/v1/temporary-entries", tokOfficer, temporaryEntryJSON).Status, "mro creates")

	// Extension: customs only, 1 to 6 months, with a reason, at most 3.
	path := "/v1/temporary-entries/" + id + "/extension"
	assert.Equal(t, nethttp.StatusForbidden, a.post(path, tokHNA, `{"months":2,"reason":"please"}`).Status)
	p := a.post(path, tokOfficer, `{"months":7,"reason":"too long"}`).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.Equal(t, []string{"months"}, p.fields())
	p = a.post(path, tokOfficer, `{"months":2}`).problem(t)
	assert.Equal(t, []string{"reason"}, p.fields())
	r = a.post(path, tokOfficer, `{"months":2,"reason":"engine shop slot moved"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	e := decodeEntry(t, r)
	assert.Equal(t, "2027-07-20T08:00:00Z", e.ReexportDeadline.Format(time.RFC3339))
	require.Len(t, e.Extensions, 1)
	assert.Equal(t, "customs:HK-0031", e.Extensions[0].By)
	for range 2 {
		require.Equal(t, nethttp.StatusOK, a.post(path, tokOfficer, `{"months":6,"reason":"again"}`).Status)
	}
	assert.Equal(t, nethttp.StatusConflict, a.post(path, tokOfficer, `{"months":1,"reason":"a fourth"}`).problem(t).Status)

	// Re-export: the other firm cannot; the owner closes it; once.
	reexport := "/v1/temporary-entries/" + id + "/reexport"
	assert.Equal(t, nethttp.StatusNotFound, a.post(reexport, tokGAMECO, exportEvidence).Status)
	r = a.post(reexport, tokHNA, exportEvidence)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "reexported", r.json(t)["status"])
	assert.Equal(t, nethttp.StatusConflict, a.post(reexport, tokHNA, exportEvidence).problem(t).Status)
	assert.Equal(t, nethttp.StatusConflict, a.post(path, tokOfficer, `{"months":1,"reason":"late"}`).Status)
}

func TestTemporaryEntryValidationOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	p := a.post("/v1/temporary-entries", tokHNA, `{"object":{"kind":"aircraft","registration":"RP-C3441"},
	  "entered_at":"2026-11-20T08:00:00Z","repair":"x","guarantee":{"kind":"deposit"}}`).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.ElementsMatch(t, []string{"owner", "object.type", "guarantee.amount"}, p.fields())

	p = a.post("/v1/temporary-entries", tokHNA, `{"object":{"kind":"aircraft","registration":"R","type":"A321"},"owner":"o",
	  "entered_at":"yesterday","repair":"x","guarantee":{"kind":"exempt"}}`).problem(t)
	assert.Equal(t, []string{"entered_at"}, p.fields())

	// The amount as a money object, a string or a number.
	for _, g := range []string{`{"kind":"deposit","amount":{"amount":"500000.00","currency":"CNY"}}`,
		`{"kind":"bank_guarantee","amount":"500000.00"}`, `{"kind":"deposit","amount":500000,"currency":"USD"}`} {
		e := a.createEntry(tokHNA, `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B"},"owner":"Qatar Airways",
		  "entered_at":"2023-08-31T00:00:00Z","repair":"shop visit","guarantee":`+g+`}`)
		require.NotNil(t, e.Guarantee.Amount, g)
		assert.Equal(t, "2024-02-29T00:00:00Z", e.ReexportDeadline.Format(time.RFC3339), "leap-year clamp")
	}

	// A link to a pre-declaration: the firm's own only, and its crossing
	// is the entry.
	d := a.crossedAs(tokHNA, zone.In, zone.RegimeTemporaryEntryRepair)
	body := `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B"},"owner":"Qatar Airways",
	  "entered_at":"2026-11-26T11:00:00Z","repair":"shop visit","guarantee":{"kind":"exempt"},"predeclaration_id":"` + d.ID + `"}`
	e := a.createEntry(tokHNA, body)
	assert.Equal(t, d.ID, e.PreDeclarationID)
	assert.True(t, d.CrossedAt.Equal(e.EnteredAt), "entered_at is the crossing's, not the firm's")
	p = a.post("/v1/temporary-entries", tokGAMECO, body).problem(t)
	assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status)
	assert.Equal(t, []string{"predeclaration_id"}, p.fields())
}

func TestTemporaryEntryListOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	body := func(entered string) string {
		return `{"object":{"kind":"aircraft","registration":"RP-C3441","type":"A321"},"owner":"PAL",
		  "entered_at":"` + entered + `","repair":"C-check","guarantee":{"kind":"exempt"}}`
	}
	first := a.createEntry(tokHNA, body("2026-01-10T00:00:00Z"))
	a.createEntry(tokHNA, body("2026-06-10T00:00:00Z"))
	a.createEntry(tokGAMECO, body("2026-01-10T00:00:00Z"))
	require.Equal(t, nethttp.StatusOK, a.post("/v1/temporary-entries/"+first.ID+"/reexport", tokHNA, exportEvidence).Status)

	list := func(q, token string) []zone.TemporaryEntry {
		t.Helper()
		r := a.get("/v1/temporary-entries"+q, token)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var l struct {
			Items []zone.TemporaryEntry `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &l))
		require.NotNil(t, l.Items)
		return l.Items
	}
	assert.Len(t, list("", tokHNA), 2)
	assert.Len(t, list("", tokGAMECO), 1)
	assert.Len(t, list("", tokOfficer), 3)
	assert.Len(t, list("?firm=GAMECO", tokOfficer), 1)
	assert.Len(t, list("?firm=HNA-TECHNIC", tokGAMECO), 1, "a firm cannot ask for another's")
	assert.Len(t, list("?status=entered", tokHNA), 1)
	assert.Len(t, list("?status=reexported", tokHNA), 1)
	assert.Len(t, list("?due_before=2026-08-01", tokOfficer), 2)
	assert.Len(t, list("?due_before=2026-08-01T00:00:00Z&status=entered", tokOfficer), 1)
	assert.Equal(t, []string{"due_before"}, a.get("/v1/temporary-entries?due_before=soon", tokHNA).problem(t).fields())
	assert.Equal(t, []string{"status"}, a.get("/v1/temporary-entries?status=gone", tokHNA).problem(t).fields())
}

// withRecords gives an API made by newAPI the temporary-entry and parts
// services, on its own bbolt file (for the authorization matrix).
func withRecords(a *api) {
	newID := func() string { return ulid.Make().String() }
	decls := a.srv.cfg.Declarations.Store
	a.srv.cfg.TemporaryEntries = &zone.TemporaryEntryService{Store: bolt.NewTemporaryEntryStore(a.db),
		Declarations: decls, Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
	a.srv.cfg.Parts = &zone.PartsService{Store: bolt.NewPartsStore(a.db), Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
	a.srv.cfg.Equipment = &zone.EquipmentService{Store: bolt.NewEquipmentStore(a.db), Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
}

// entryOfHNA and lotOfHNA make a fresh record of HNA-TECHNIC for the
// authorization matrix.
func entryOfHNA(a *api) string { return a.createEntry(tokHNA, temporaryEntryJSON).ID }

func lotOfHNA(a *api) string { return a.createLot(tokHNA, lotJSON) }
