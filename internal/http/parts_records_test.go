package http

import (
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consignedLotJSON is a supplier's stock on consignment with the three taxes.
const consignedLotJSON = `{"part_number":"3214552-1","description":"starter valve","quantity":6,"unit":"EA",
 "serials":[],"import_declaration":"460120261000123458","owner":{"kind":"consignment","supplier":"AAR OSS"},
 "exempted":{"duty":{"amount":"6000.00","currency":"CNY"},"vat":{"amount":"7800.00","currency":"CNY"},
  "consumption_tax":{"amount":"0.00","currency":"CNY"}}}`

func TestInstalledPartsPledgedOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, lotJSON)
	moves := "/v1/parts/lots/" + id + "/movements"
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"install","quantity":4,"aircraft_registration":"B-1234"}`).Status)
	require.Equal(t, nethttp.StatusConflict,
		a.post(moves, tokHNA, `{"kind":"pledge","quantity":5,"aircraft_registration":"B-1234","guarantee_ref":"BG-1"}`).problem(t).Status,
		"only 4 installed on B-1234")
	r := a.post(moves, tokHNA, `{"kind":"pledge","quantity":4,"aircraft_registration":"B-1234","guarantee_ref":"BG-1"}`)
	require.Equal(t, nethttp.StatusCreated, r.Status, "%s", r.Body)
	m := r.json(t)
	assert.EqualValues(t, 4, m["pledged_installed"])
	assert.EqualValues(t, 20, m["available"], "stock is untouched by an installed pledge")
	assert.Equal(t, nethttp.StatusConflict, a.post(moves, tokHNA, `{"kind":"return","quantity":1,"aircraft_registration":"B-1234"}`).problem(t).Status,
		"a pledged installed part cannot come off")
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"release_pledge","quantity":1,"aircraft_registration":"B-1234"}`).Status)
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"return","quantity":1,"aircraft_registration":"B-1234"}`).Status)
	lg := a.get("/v1/parts/lots/"+id+"/ledger", tokHNA)
	require.Equal(t, nethttp.StatusOK, lg.Status)
	assert.EqualValues(t, 3, lg.json(t)["lots"].([]any)[0].(map[string]any)["closing_pledged"])
}

func TestConsignmentStockOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, consignedLotJSON)
	lot := a.get("/v1/parts/lots/"+id, tokHNA).json(t)
	assert.Equal(t, map[string]any{"kind": "consignment", "supplier": "AAR OSS"}, lot["owner"])
	assert.Equal(t, "7800.00", lot["exempted"].(map[string]any)["vat"].(map[string]any)["amount"])
	assert.Equal(t, "6000.00", lot["duty_exempted"].(map[string]any)["amount"], "duty_exempted is the duty")
	own := a.createLot(tokHNA, lotJSON)
	assert.Equal(t, "own", a.get("/v1/parts/lots/"+own, tokHNA).json(t)["owner"].(map[string]any)["kind"], "own by default")

	moves := "/v1/parts/lots/" + id + "/movements"
	p := a.post(moves, tokHNA, `{"kind":"pledge","quantity":1,"guarantee_ref":"BG-1"}`).problem(t)
	assert.Equal(t, nethttp.StatusConflict, p.Status, "the supplier's stock cannot be pledged")
	assert.Empty(t, a.get("/v1/parts/lots/"+id, tokHNA).json(t)["movements"])
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"consume","quantity":2,"task_card":{"number":"TC-0042"}}`).Status)
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"install","quantity":1,"aircraft_registration":"B-1234","task_card":{"number":"TC-0043"}}`).Status)
	require.Equal(t, nethttp.StatusCreated, a.post("/v1/parts/lots/"+own+"/movements", tokHNA, `{"kind":"consume","quantity":2}`).Status)
	gid := a.createLot(tokGAMECO, consignedLotJSON)
	require.Equal(t, nethttp.StatusCreated, a.post("/v1/parts/lots/"+gid+"/movements", tokGAMECO, `{"kind":"consume","quantity":1}`).Status)

	r := a.get("/v1/parts/consignment?supplier=AAR%20OSS", tokHNA)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	items := r.json(t)["items"].([]any)
	require.Len(t, items, 2, "HNA's consumption of the supplier's stock, not its own, not GAMECO's")
	assert.Equal(t, "TC-0042", items[0].(map[string]any)["task_card"].(map[string]any)["number"])
	assert.Equal(t, "install", items[1].(map[string]any)["kind"])
	assert.Len(t, a.get("/v1/parts/consignment", tokOfficer).json(t)["items"], 3, "customs sees every firm")
	assert.Empty(t, a.get("/v1/parts/consignment?supplier=Boeing", tokHNA).json(t)["items"])
	assert.Equal(t, []string{"from"}, a.get("/v1/parts/consignment?from=soon", tokHNA).problem(t).fields())

	lg := a.get("/v1/parts/ledger", tokHNA).json(t)
	totals := lg["totals"].([]any)
	require.Len(t, totals, 2, "own and consigned stock totalled apart")
	byOwner := map[string]map[string]any{}
	for _, x := range totals {
		byOwner[x.(map[string]any)["ownership"].(string)] = x.(map[string]any)
	}
	assert.EqualValues(t, 3, byOwner["consignment"]["closing_balance"])
	assert.EqualValues(t, 22, byOwner["own"]["closing_balance"])
	assert.Equal(t, "7800.00", byOwner["consignment"]["vat_exempted"].(map[string]any)["amount"])

	p = a.post("/v1/parts/lots", tokHNA, `{"part_number":"X","quantity":1,"unit":"EA","import_declaration":"4601","owner":{"kind":"consignment"},
		"exempted":{"duty":{"amount":"1.00","currency":"CNY"}}}`).problem(t)
	assert.Equal(t, []string{"owner.supplier"}, p.fields())
}

func TestScrapWaitsForCustomsOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, lotJSON)
	r := a.post("/v1/parts/lots/"+id+"/movements", tokHNA, `{"kind":"scrap","quantity":4}`)
	require.Equal(t, nethttp.StatusCreated, r.Status)
	m := r.json(t)
	mv := m["movement"].(map[string]any)
	assert.Equal(t, "pending", mv["status"])
	assert.EqualValues(t, 24, m["balance"])
	assert.EqualValues(t, 20, m["available"], "its quantity is held")
	approval := "/v1/parts/lots/" + id + "/movements/" + mv["id"].(string) + "/approval"
	assert.Equal(t, nethttp.StatusForbidden, a.post(approval, tokHNA, `{"decision":"approve"}`).problem(t).Status)
	assert.Equal(t, []string{"reason"}, a.post(approval, tokOfficer, `{"decision":"reject"}`).problem(t).fields())
	r = a.post(approval, tokOfficer, `{"decision":"approve"}`)
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.EqualValues(t, 20, r.json(t)["balance"])
	assert.Equal(t, nethttp.StatusConflict, a.post(approval, tokOfficer, `{"decision":"approve"}`).problem(t).Status, "decided once")
}
