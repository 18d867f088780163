package http

import (
	"encoding/csv"
	"encoding/json"
	"math/big"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
)

// lotJSON is CONTRACT.md's parts lot body, verbatim.
const lotJSON = `{"part_number":"1795M36P01","description":"HPT blade","quantity":24,"unit":"EA",
 "serials":[],"import_declaration":"460120261000123456",
 "duty_exempted":{"amount":"86400.00","currency":"CNY"}}`

const exitJSON = `{"kind":"exit_island","quantity":4,"task_card":{"number":"TC-2026-1187","aircraft_registration":"B-1234"}}`

func (a *api) createLot(token, body string) string {
	a.t.Helper()
	r := a.post("/v1/parts/lots", token, body)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	m := r.json(a.t)
	require.EqualValues(a.t, m["quantity"], m["balance"], "a new lot's balance is what was imported")
	return m["id"].(string)
}

func TestPartsMovementsOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, lotJSON)
	moves := "/v1/parts/lots/" + id + "/movements"
	lot := func() map[string]any {
		r := a.get("/v1/parts/lots/"+id, tokHNA)
		require.Equal(t, nethttp.StatusOK, r.Status)
		return r.json(t)
	}

	p := a.post(moves, tokHNA, `{"kind":"exit_island","quantity":1}`).problem(t)
	assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status, "no task card")
	assert.Equal(t, []string{"task_card"}, p.fields())
	p = a.post(moves, tokHNA, `{"kind":"exit_island","quantity":1,"task_card":{"number":"TC-1"}}`).problem(t)
	assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status, "a task card naming no aircraft")
	p = a.post(moves, tokHNA, `{"kind":"pledge","quantity":1}`).problem(t)
	assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status)
	assert.Equal(t, []string{"guarantee_ref"}, p.fields())
	p = a.post(moves, tokHNA, `{"kind":"install","quantity":1}`).problem(t)
	assert.Equal(t, []string{"aircraft_registration"}, p.fields())
	p = a.post(moves, tokHNA, `{"kind":"sell","quantity":1}`).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.Equal(t, nethttp.StatusConflict, a.post(moves, tokHNA, `{"kind":"consume","quantity":25}`).problem(t).Status)
	assert.EqualValues(t, 24, lot()["balance"], "refusals changed nothing")
	assert.Equal(t, []any{}, lot()["movements"])

	r := a.post(moves, tokHNA, `{"kind":"pledge","quantity":20,"guarantee_ref":"BG-2026-001"}`)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	assert.EqualValues(t, 20, r.json(t)["pledged"])
	assert.Equal(t, nethttp.StatusConflict, a.post(moves, tokHNA, `{"kind":"consume","quantity":5}`).problem(t).Status, "pledged parts stay")
	r = a.post(moves, tokHNA, exitJSON)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	m := r.json(t)
	assert.EqualValues(t, 20, m["balance"])
	mv := m["movement"].(map[string]any)
	assert.Equal(t, "done", mv["status"])
	assert.Equal(t, "task_card", mv["exception"])
	assert.Equal(t, nethttp.StatusConflict, a.post(moves, tokHNA, `{"kind":"release_pledge","quantity":21}`).problem(t).Status)
	r = a.post(moves, tokHNA, `{"kind":"return","quantity":1}`)
	require.Equal(t, nethttp.StatusCreated, r.Status)
	l := lot()
	assert.EqualValues(t, 21, l["balance"])
	assert.EqualValues(t, 20, l["pledged"])
	assert.EqualValues(t, 1, l["available"])
	assert.Len(t, l["movements"], 3)

	// Idempotent movement.
	h := map[string]string{HeaderIdempotencyKey: "consume-1"}
	r1 := a.do(req{method: "POST", path: moves, token: tokHNA, body: `{"kind":"consume","quantity":1}`, header: h})
	require.Equal(t, nethttp.StatusCreated, r1.Status, "body: %s", r1.Body)
	r2 := a.do(req{method: "POST", path: moves, token: tokHNA, body: `{"kind":"consume","quantity":1}`, header: h})
	require.Equal(t, nethttp.StatusCreated, r2.Status)
	assert.Equal(t, "true", r2.Header.Get(HeaderIdempotentReplayed))
	assert.EqualValues(t, 20, lot()["balance"], "consumed once")

	// Serialized lots: each serial once in the firm's stock.
	ser := `{"part_number":"2080M11P02","description":"fuel nozzle","unit":"EA","serials":["FN1","FN2"],
	  "import_declaration":"460120261000123457","duty_exempted":{"amount":"1000.00","currency":"CNY"}}`
	sid := a.createLot(tokHNA, ser)
	assert.Equal(t, nethttp.StatusConflict, a.post("/v1/parts/lots", tokHNA, ser).problem(t).Status)
	r = a.post("/v1/parts/lots/"+sid+"/movements", tokHNA, `{"kind":"install","serial":"FN1","aircraft_registration":"B-1234"}`)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	assert.Equal(t, []any{"FN2"}, r.json(t)["serials_in_hand"])
	p = a.post("/v1/parts/lots/"+sid+"/movements", tokHNA, `{"kind":"install","quantity":1,"aircraft_registration":"B-1234"}`).problem(t)
	assert.Equal(t, nethttp.StatusUnprocessableEntity, p.Status, "serialized: name the serial")
}

func TestPartsExitApprovalOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, big.NewRat(10000, 1))
	id := a.createLot(tokHNA, lotJSON)
	r := a.post("/v1/parts/lots/"+id+"/movements", tokHNA, exitJSON)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	m := r.json(t)
	mv := m["movement"].(map[string]any)
	require.Equal(t, "pending_approval", mv["status"], "14400 of duty is above 10000")
	assert.EqualValues(t, 24, m["balance"])
	assert.EqualValues(t, 20, m["available"])

	approval := "/v1/parts/lots/" + id + "/movements/" + mv["id"].(string) + "/approval"
	assert.Equal(t, nethttp.StatusForbidden, a.post(approval, tokHNA, `{"decision":"approve"}`).Status)
	assert.Equal(t, nethttp.StatusBadRequest, a.post(approval, tokOfficer, `{"decision":"reject"}`).problem(t).Status, "a rejection needs a reason")
	r = a.post(approval, tokOfficer, `{"decision":"approve"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.EqualValues(t, 20, r.json(t)["balance"])
	assert.Equal(t, nethttp.StatusConflict, a.post(approval, tokOfficer, `{"decision":"approve"}`).problem(t).Status, "decided once")
	assert.Equal(t, nethttp.StatusNotFound, a.post("/v1/parts/lots/"+id+"/movements/nope/approval", tokOfficer, `{"decision":"approve"}`).Status)
}

func TestPartsFirmIsolationOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, lotJSON)
	gid := a.createLot(tokGAMECO, lotJSON)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/parts/lots/" + id, ""},
		{"POST", "/v1/parts/lots/" + id + "/movements", `{"kind":"consume","quantity":1}`},
		{"GET", "/v1/parts/lots/" + id + "/ledger", ""},
	} {
		r := a.do(req{method: c.method, path: c.path, token: tokGAMECO, body: c.body})
		assert.Equal(t, nethttp.StatusNotFound, r.Status, "%s %s", c.method, c.path)
		r = a.do(req{method: c.method, path: c.path, token: tokOfficer, body: c.body})
		assert.Less(t, r.Status, 300, "customs sees every firm: %s %s: %s", c.method, c.path, r.Body)
	}
	assert.Equal(t, nethttp.StatusForbidden, a.post("/v1/parts/lots", tokOfficer, lotJSON).Status, "mro registers lots")
	assert.Equal(t, nethttp.StatusForbidden, a.get("/v1/parts/lots", tokGate).Status)

	ids := func(token, q string) []string {
		r := a.get("/v1/parts/lots"+q, token)
		require.Equal(t, nethttp.StatusOK, r.Status)
		var l struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &l))
		var out []string
		for _, it := range l.Items {
			out = append(out, it.ID)
		}
		return out
	}
	assert.Equal(t, []string{gid}, ids(tokGAMECO, ""))
	assert.Equal(t, []string{gid}, ids(tokGAMECO, "?firm=HNA-TECHNIC"))
	assert.ElementsMatch(t, []string{id, gid}, ids(tokOfficer, ""))
	assert.Equal(t, []string{id}, ids(tokOfficer, "?firm=HNA-TECHNIC"))

	r := a.get("/v1/parts/ledger?firm=HNA-TECHNIC", tokGAMECO)
	require.Equal(t, nethttp.StatusOK, r.Status)
	lots := r.json(t)["lots"].([]any)
	require.Len(t, lots, 1)
	assert.Equal(t, gid, lots[0].(map[string]any)["lot_id"], "a firm's ledger is its own")
}

func TestPartsLedgerJSONAndCSV(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, lotJSON)
	moves := "/v1/parts/lots/" + id + "/movements"
	for _, b := range []string{`{"kind":"consume","quantity":3}`, exitJSON, `{"kind":"install","quantity":2,"aircraft_registration":"B-5678"}`,
		`{"kind":"return","quantity":1,"aircraft_registration":"B-5678"}`, `{"kind":"scrap","quantity":1}`, `{"kind":"pledge","quantity":5,"guarantee_ref":"BG-1"}`,
		`{"kind":"release_pledge","quantity":2}`} {
		r := a.post(moves, tokHNA, b)
		require.Equal(t, nethttp.StatusCreated, r.Status, b)
		a.approvePending(t, id, r)
	}
	a.createLot(tokGAMECO, lotJSON)

	r := a.get("/v1/parts/lots/"+id+"/ledger", tokHNA)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var lg struct {
		Lots   []map[string]any `json:"lots"`
		Totals []map[string]any `json:"totals"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &lg))
	require.Len(t, lg.Lots, 1)
	x := lg.Lots[0]
	want := map[string]float64{"opening_balance": 0, "imported": 24, "consumed": 3, "exited": 4, "installed": 2,
		"returned": 1, "scrapped": 1, "pledged": 5, "released": 2, "closing_balance": 15, "closing_pledged": 3}
	for k, v := range want {
		assert.EqualValues(t, v, x[k], k)
	}
	assert.Equal(t, map[string]any{"amount": "86400.00", "currency": "CNY"}, x["duty_exempted"])
	assert.Equal(t, "14400.00", x["duty_excepted"].(map[string]any)["amount"])
	assert.Equal(t, "0.00", x["duty_due"].(map[string]any)["amount"])
	// The closing balance is the lot's derived balance.
	assert.EqualValues(t, a.get("/v1/parts/lots/"+id, tokHNA).json(t)["balance"], x["closing_balance"])

	// A period after everything: it opens at the closing balance, nothing moves.
	r = a.get("/v1/parts/lots/"+id+"/ledger?from=2099-01-01&to=2099-02-01", tokHNA)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	require.NoError(t, json.Unmarshal(r.Body, &lg))
	assert.EqualValues(t, 15, lg.Lots[0]["opening_balance"])
	assert.EqualValues(t, 0, lg.Lots[0]["imported"])
	assert.EqualValues(t, 15, lg.Lots[0]["closing_balance"])
	assert.Equal(t, []string{"to"}, a.get("/v1/parts/ledger?from=2026-02-01&to=2026-01-01", tokHNA).problem(t).fields())
	assert.Equal(t, []string{"from"}, a.get("/v1/parts/ledger?from=monday", tokHNA).problem(t).fields())

	// CSV for customs across firms.
	r = a.do(req{method: "GET", path: "/v1/parts/ledger", token: tokOfficer, header: map[string]string{"Accept": "text/csv"}})
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv"), r.Header.Get("Content-Type"))
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header, two lots, one total: %s", r.Body)
	assert.Equal(t, ledgerColumns, rows[0])
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	var hnaRow []string
	for _, row := range rows[1:3] {
		if row[col["lot_id"]] == id {
			hnaRow = row
		}
	}
	require.NotNil(t, hnaRow)
	assert.Equal(t, "15", hnaRow[col["closing_balance"]])
	assert.Equal(t, "4", hnaRow[col["exited"]])
	assert.Equal(t, "TOTAL", rows[3][col["lot_id"]])
	assert.Equal(t, "39", rows[3][col["closing_balance"]], "15 + 24")
	assert.Equal(t, "172800.00", rows[3][col["duty_exempted"]])

	// JSON stays the default, and wins when preferred.
	r = a.do(req{method: "GET", path: "/v1/parts/ledger", token: tokOfficer, header: map[string]string{"Accept": "application/json, text/csv"}})
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
}

// TestPartsFixtureReconciles replays fixtures/parts.json and
// fixtures/temporary_entries.json through the API: the first lot's ledger
// is the one the fixture states.
func TestPartsFixtureReconciles(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	raw, err := fixtures.FS.ReadFile("parts.json")
	require.NoError(t, err)
	var fx struct {
		Lots      []json.RawMessage `json:"lots"`
		Movements []json.RawMessage `json:"movements_of_first_lot"`
		Expected  map[string]any    `json:"expected_ledger_of_first_lot"`
	}
	require.NoError(t, json.Unmarshal(raw, &fx))
	var first string
	for i, l := range fx.Lots {
		id := a.createLot(tokHNA, string(l))
		if i == 0 {
			first = id
		}
	}
	for _, m := range fx.Movements {
		r := a.post("/v1/parts/lots/"+first+"/movements", tokHNA, string(m))
		require.Equal(t, nethttp.StatusCreated, r.Status, "%s: %s", m, r.Body)
		a.approvePending(t, first, r) // the scrap request
	}
	r := a.get("/v1/parts/lots/"+first+"/ledger", tokHNA)
	require.Equal(t, nethttp.StatusOK, r.Status)
	x := r.json(t)["lots"].([]any)[0].(map[string]any)
	for k, v := range fx.Expected {
		if s, ok := v.(string); ok {
			assert.Equal(t, s, x[k].(map[string]any)["amount"], k)
			continue
		}
		assert.EqualValues(t, v, x[k], k)
	}

	raw, err = fixtures.FS.ReadFile("temporary_entries.json")
	require.NoError(t, err)
	var entries []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &entries))
	for _, e := range entries {
		a.createEntry(tokHNA, string(e))
	}
}

// approvePending has customs approve the movement r answered when it waits
// for customs (a scrap request).
func (a *api) approvePending(t *testing.T, lotID string, r reply) {
	t.Helper()
	mv := r.json(t)["movement"].(map[string]any)
	if mv["status"] != "pending" {
		return
	}
	d := a.post("/v1/parts/lots/"+lotID+"/movements/"+mv["id"].(string)+"/approval", tokOfficer, `{"decision":"approve"}`)
	require.Equal(t, nethttp.StatusOK, d.Status, "%s", d.Body)
}
