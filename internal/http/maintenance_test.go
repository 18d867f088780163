package http

import (
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// withMaintenance gives the API its visit and write-off services over its
// bbolt file, visits following crossed declarations and the parts service
// asking the visits about task cards, as internal/api wires them.
func withMaintenance(a *api) {
	newID := func() string { return ulid.Make().String() }
	wo := bolt.NewWriteOffStore(a.db)
	v := &zone.VisitService{Store: bolt.NewVisitStore(a.db), Declarations: a.srv.cfg.Declarations.Store, WriteOffs: wo,
		Lots: bolt.NewPartsStore(a.db), Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
	a.srv.cfg.Visits = v
	a.srv.cfg.WriteOffs = &zone.WriteOffService{Store: wo, Visits: v.Store, Lots: bolt.NewPartsStore(a.db),
		Now: time.Now, NewID: newID, Source: "bondgate/api-test"}
	if a.srv.cfg.Parts != nil {
		a.srv.cfg.Parts.Maintenance = v
	}
	a.db.FollowVisits(v.CrossingMove())
}

const genxObject = `{"kind":"engine","esn":"956-482","model":"GEnx-1B","owner":"Qatar Airways"}`

// moved declares the engine in direction dir for the firm of token, clears
// it and, when cross is set, crosses it.
func (a *api) moved(token, dir string, cross bool) string {
	a.t.Helper()
	n := submitted.Add(1)
	body := strings.NewReplacer(`"STAND-0042"`, fmt.Sprintf(`"STAND-M%d"`, n), `"琼A·D1234"`, fmt.Sprintf(`"琼A·M%d"`, n),
		`"direction":"in"`, `"direction":"`+dir+`"`).Replace(engineJSON)
	r := a.post("/v1/predeclarations", token, body)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	id := r.json(a.t)["id"].(string)
	r = a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	if cross {
		a.cross(id)
	}
	return id
}

func visitBody(inbound string) string {
	return `{"object":` + genxObject + `,"inbound_predeclaration":"` + inbound + `","scope":"shop visit","customer":"Qatar Airways","foreign":true}`
}

func visitBodyOfHNA(a *api, _ string) string { return visitBody(a.moved(tokHNA, "in", false)) }

var cards atomic.Int64

// visitOfHNA opens an HNA-TECHNIC visit whose engine is in (in_repair), with
// task card "TC-<visit id>".
func visitOfHNA(a *api) string {
	a.t.Helper()
	r := a.post("/v1/maintenance/visits", tokHNA, visitBody(a.moved(tokHNA, "in", true)))
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	id := r.json(a.t)["id"].(string)
	r = a.post("/v1/maintenance/visits/"+id+"/task-cards", tokHNA, `{"number":"TC-`+id+`","title":"HPT stage 1 blades"}`)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	return id
}

func newTaskCardBody(*api, string) string {
	return fmt.Sprintf(`{"number":"TC-N%d","title":"borescope"}`, cards.Add(1))
}

// removedPartBody names the card visitOfHNA opened on the path's visit.
func removedPartBody(_ *api, path string) string {
	id := strings.Split(path, "/")[4]
	return fmt.Sprintf(`{"part_number":"1795M36P01","serial":"OLD-%d","task_card":"TC-%s"}`, cards.Add(1), id)
}

func removedPartOfHNA(a *api) map[string]string {
	id := visitOfHNA(a)
	r := a.post("/v1/maintenance/visits/"+id+"/removed-parts", tokHNA, removedPartBody(a, "/v1/maintenance/visits/"+id))
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	return map[string]string{"id": id, "rid": r.json(a.t)["id"].(string)}
}

func scrapOfHNA(a *api) map[string]string {
	p := removedPartOfHNA(a)
	r := a.post("/v1/maintenance/visits/"+p["id"]+"/removed-parts/"+p["rid"]+"/disposition", tokHNA, `{"kind":"scrap"}`)
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	return p
}

var periods atomic.Int64

// nextPeriodBody is a year of its own, long past, so periods never overlap.
func nextPeriodBody(*api, string) string {
	y := 2000 + periods.Add(1)
	return fmt.Sprintf(`{"from":"%d-01-01","to":"%d-12-31"}`, y, y)
}

func writeOffOfHNA(a *api) string {
	r := a.post("/v1/writeoffs", tokHNA, nextPeriodBody(a, ""))
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	return r.json(a.t)["id"].(string)
}

func submittedWriteOffOfHNA(a *api) string {
	id := writeOffOfHNA(a)
	r := a.post("/v1/writeoffs/"+id+"/submit", tokHNA, "")
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	return id
}

func maintenanceAPI(t *testing.T) *api {
	a := newAPI(t)
	withRecords(a)
	withMaintenance(a)
	return a
}

// TestMaintenanceFlow walks the contract's flow over HTTP: open, enter on
// the crossing, task card, material, removed part, outcome, departure on the
// outbound crossing, disposition, write-off, verification and the lock.
func TestMaintenanceFlow(t *testing.T) {
	a := maintenanceAPI(t)
	in := a.moved(tokHNA, "in", false)

	// Refusals name the field and change nothing.
	r := a.post("/v1/maintenance/visits", tokHNA, `{"object":{"kind":"engine"},"inbound_predeclaration":"","scope":"","customer":"x"}`)
	require.Equal(t, 400, r.Status, "body: %s", r.Body)
	assert.Subset(t, r.problem(t).fields(), []string{"object.esn", "inbound_predeclaration", "scope"})
	r = a.post("/v1/maintenance/visits", tokHNA, strings.Replace(visitBody(in), "956-482", "956-999", 1))
	require.Equal(t, 422, r.Status, "body: %s", r.Body)
	assert.Equal(t, []string{"inbound_predeclaration"}, r.problem(t).fields())
	r = a.post("/v1/maintenance/visits", tokGAMECO, visitBody(in))
	require.Equal(t, 422, r.Status, "another firm's declaration: body: %s", r.Body)
	require.Equal(t, 0, len(a.listVisits(tokOfficer)))

	r = a.post("/v1/maintenance/visits", tokHNA, visitBody(in))
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	v := r.json(t)
	id := v["id"].(string)
	assert.Equal(t, "awaiting_entry", v["status"])
	assert.Nil(t, v["deposit"], "an engine: the deposit exemption is a foreign aircraft's")
	r = a.post("/v1/maintenance/visits/"+id+"/task-cards", tokHNA, `{"number":"TC-0042","title":"HPT blades"}`)
	require.Equal(t, 409, r.Status, "no task card before entry: %s", r.Body)
	r = a.get("/v1/maintenance/visits/"+id, tokGAMECO)
	require.Equal(t, 404, r.Status)

	a.cross(in)
	assert.Equal(t, "in_repair", a.visit(id)["status"])
	r = a.post("/v1/maintenance/visits/"+id+"/task-cards", tokHNA, `{"number":"TC-0042","title":"HPT blades"}`)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	r = a.post("/v1/maintenance/visits/"+id+"/task-cards", tokGAMECO, `{"number":"TC-0043","title":"x"}`)
	require.Equal(t, 404, r.Status, "another firm's visit")

	lot := a.createLot(tokHNA, lotJSON)
	r = a.post("/v1/parts/lots/"+lot+"/movements", tokHNA, `{"kind":"consume","quantity":2,"task_card":{"number":"TC-9999"}}`)
	require.Equal(t, 422, r.Status, "body: %s", r.Body)
	assert.Equal(t, []string{"task_card.number"}, r.problem(t).fields())
	r = a.post("/v1/parts/lots/"+lot+"/movements", tokHNA, `{"kind":"consume","quantity":2,"task_card":{"number":"TC-0042"}}`)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)

	r = a.post("/v1/maintenance/visits/"+id+"/removed-parts", tokHNA, `{"part_number":"1795M36P01","serial":"HPT-0091","task_card":"TC-0042"}`)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	rp := r.json(t)
	assert.Nil(t, rp["disposition"])
	rid := rp["id"].(string)
	r = a.post("/v1/maintenance/visits/"+id+"/removed-parts", tokHNA, `{"part_number":"X","serial":"Y","task_card":"TC-1"}`)
	require.Equal(t, 422, r.Status)
	assert.Equal(t, []string{"task_card"}, r.problem(t).fields())

	r = a.post("/v1/maintenance/visits/"+id+"/outcome", tokHNA, `{"outcome":"departed"}`)
	require.Equal(t, 400, r.Status)
	r = a.post("/v1/maintenance/visits/"+id+"/outcome", tokHNA, `{"outcome":"repaired"}`)
	require.Equal(t, 200, r.Status, "body: %s", r.Body)
	r = a.post("/v1/maintenance/visits/"+id+"/outcome", tokHNA, `{"outcome":"repaired"}`)
	require.Equal(t, 409, r.Status)

	// The ledger lists the material under the visit; CSV cells are safe.
	r = a.get("/v1/maintenance/ledger", tokHNA)
	require.Equal(t, 200, r.Status, "body: %s", r.Body)
	var lg zone.MaintenanceLedger
	require.NoError(t, json.Unmarshal(r.Body, &lg))
	require.Len(t, lg.Visits, 1)
	require.Len(t, lg.Visits[0].Materials, 1)
	assert.Equal(t, "TC-0042", lg.Visits[0].Materials[0].TaskCard)
	cny := func(a string) []zone.Money { return []zone.Money{{Amount: a, Currency: "CNY"}} }
	assert.Equal(t, "7200.00", lg.Visits[0].Materials[0].DutyExempted.Amount, "2 of 24 blades of 86400.00")
	assert.Equal(t, cny("7200.00"), lg.Visits[0].DutyExempted)
	assert.Equal(t, cny("0.00"), lg.Visits[0].VATExempted, "duty_exempted alone: no VAT exempted")
	assert.Equal(t, cny("0.00"), lg.Visits[0].ConsumptionTaxExempted)
	r = a.get("/v1/maintenance/ledger", tokGAMECO)
	assert.NotContains(t, string(r.Body), id)
	r = a.do(req{method: "GET", path: "/v1/maintenance/ledger", token: tokOfficer, header: map[string]string{"Accept": "text/csv"}})
	require.Equal(t, 200, r.Status)
	assert.Contains(t, r.Header.Get("Content-Type"), "text/csv")
	assert.Contains(t, string(r.Body), "material_consume,TC-0042")
	assert.Contains(t, string(r.Body), ",7200.00,0.00,0.00,CNY,")
	assert.Contains(t, string(r.Body), "removed_part,TC-0042")

	// Write-off: refused while records are open, with each named.
	r = a.post("/v1/writeoffs", tokHNA, `{"from":"2026-01-01","to":"2027-01-01"}`)
	require.Equal(t, 422, r.Status)
	assert.Equal(t, []string{"to"}, r.problem(t).fields())
	r = a.post("/v1/writeoffs", tokHNA, `{"from":"2026-13-01","to":"2026-12-31"}`)
	require.Equal(t, 400, r.Status)
	today := time.Now().In(zone.Shanghai)
	period := fmt.Sprintf(`{"from":"%s","to":"%s"}`, today.AddDate(0, 0, -30).Format(zone.DateLayout), today.AddDate(0, 0, 30).Format(zone.DateLayout))
	r = a.post("/v1/writeoffs", tokHNA, period)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	w := r.json(t)
	wid := w["id"].(string)
	assert.Equal(t, "draft", w["status"])
	r = a.post("/v1/writeoffs", tokHNA, period)
	require.Equal(t, 409, r.Status, "overlap")
	r = a.post("/v1/writeoffs/"+wid+"/submit", tokHNA, "")
	require.Equal(t, 409, r.Status)
	assert.Equal(t, []string{"visits/" + id, "visits/" + id + "/removed-parts/" + rid}, r.problem(t).fields())

	// The engine leaves: the visit departs; the old blade is re-exported.
	out := a.moved(tokHNA, "out", true)
	assert.Equal(t, "departed", a.visit(id)["status"])
	r = a.post("/v1/maintenance/visits/"+id+"/removed-parts/"+rid+"/disposition", tokHNA, `{"kind":"reexport"}`)
	require.Equal(t, 422, r.Status)
	assert.Equal(t, []string{"predeclaration"}, r.problem(t).fields())
	r = a.post("/v1/maintenance/visits/"+id+"/removed-parts/"+rid+"/disposition", tokHNA, `{"kind":"reexport","predeclaration":"`+out+`"}`)
	require.Equal(t, 200, r.Status, "body: %s", r.Body)

	r = a.post("/v1/writeoffs/"+wid+"/submit", tokHNA, "")
	require.Equal(t, 200, r.Status, "body: %s", r.Body)
	r = a.post("/v1/writeoffs/"+wid+"/decision", tokOfficer, `{"decision":"verify"}`)
	require.Equal(t, 200, r.Status, "body: %s", r.Body)
	verified := r.json(t)
	assert.Equal(t, "verified", verified["status"])

	// Locked: a movement today lies inside the verified period.
	r = a.post("/v1/parts/lots/"+lot+"/movements", tokHNA, `{"kind":"consume","quantity":1}`)
	require.Equal(t, 409, r.Status, "body: %s", r.Body)
	// ... and so does a lot imported today: refused, nothing stored.
	lotsBefore := a.get("/v1/parts/lots", tokHNA).json(t)["items"].([]any)
	r = a.post("/v1/parts/lots", tokHNA, lotJSON)
	require.Equal(t, 409, r.Status, "body: %s", r.Body)
	assert.Contains(t, r.problem(t).Detail, "verified")
	assert.Len(t, a.get("/v1/parts/lots", tokHNA).json(t)["items"], len(lotsBefore), "the refused lot is not stored")
	r = a.post("/v1/parts/lots", tokGAMECO, lotJSON)
	require.Equal(t, 201, r.Status, "another firm's books are not locked: %s", r.Body)
	got := a.get("/v1/writeoffs/"+wid, tokHNA).json(t)
	assert.Equal(t, verified, got, "a verified period never changes")
	r = a.get("/v1/writeoffs?status=verified", tokOfficer)
	assert.Contains(t, string(r.Body), wid)
}

func TestForeignAircraftVisitIsDepositExempt(t *testing.T) {
	a := maintenanceAPI(t)
	n := submitted.Add(1)
	body := strings.NewReplacer(genxObject, `{"kind":"aircraft","registration":"RP-C3441","type":"A321"}`,
		`"STAND-0042"`, fmt.Sprintf(`"STAND-A%d"`, n), `"琼A·D1234"`, fmt.Sprintf(`"琼A·A%d"`, n)).Replace(engineJSON)
	r := a.post("/v1/predeclarations", tokHNA, body)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	in := r.json(t)["id"].(string)
	r = a.post("/v1/maintenance/visits", tokHNA, `{"object":{"kind":"aircraft","registration":"RP-C3441","type":"A321"},
		"inbound_predeclaration":"`+in+`","scope":"C-check and repaint","customer":"Philippine Airlines","foreign":true}`)
	require.Equal(t, 201, r.Status, "body: %s", r.Body)
	assert.Equal(t, "exempt", r.json(t)["deposit"])
}

func (a *api) visit(id string) map[string]any {
	a.t.Helper()
	r := a.get("/v1/maintenance/visits/"+id, tokHNA)
	require.Equal(a.t, 200, r.Status, "body: %s", r.Body)
	return r.json(a.t)
}

func (a *api) listVisits(token string) []any {
	a.t.Helper()
	r := a.get("/v1/maintenance/visits", token)
	require.Equal(a.t, 200, r.Status, "body: %s", r.Body)
	return r.json(a.t)["items"].([]any)
}
