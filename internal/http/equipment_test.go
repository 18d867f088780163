package http

import (
	"encoding/json"
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// equipmentJSON is CONTRACT.md's equipment body with its amounts filled in.
const equipmentJSON = `{"description":"engine borescope","serial":"IPLEX-4471","hs_code":"90318090",
 "import_declaration":"460120261000223344","imported_at":"2026-03-30T16:00:00Z",
 "exempted":{"duty":{"amount":"36000.00","currency":"CNY"},"vat":{"amount":"46800.00","currency":"CNY"}},
 "supervision_months":36}`

func equipmentOfHNA(a *api) string {
	a.t.Helper()
	r := a.post("/v1/equipment", tokHNA, equipmentJSON)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	return r.json(a.t)["id"].(string)
}

func TestEquipmentRegisterOverHTTP(t *testing.T) {
	a, db := newRecordsAPI(t, nil)
	r := a.post("/v1/equipment", tokHNA, equipmentJSON)
	require.Equal(t, nethttp.StatusCreated, r.Status, "%s", r.Body)
	var q zone.Equipment
	require.NoError(t, json.Unmarshal(r.Body, &q))
	assert.Equal(t, "2029-03-30T16:00:00Z", q.SupervisionEnds.Format("2006-01-02T15:04:05Z07:00"), "31 March 2029 in Beijing")
	assert.Equal(t, zone.EquipmentInUse, q.Status)

	p := a.post("/v1/equipment", tokHNA, `{"description":"x","serial":"s","hs_code":"9031","import_declaration":"d",
	  "imported_at":"2026-03-30T16:00:00Z","exempted":{"duty":{"amount":"1.005","currency":"CNY"},"vat":{"amount":"1.00","currency":"CNY"}},
	  "supervision_months":36}`).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.ElementsMatch(t, []string{"hs_code", "exempted.duty.amount"}, p.fields())

	assert.Equal(t, nethttp.StatusNotFound, a.get("/v1/equipment/"+q.ID, tokGAMECO).Status)
	assert.Empty(t, a.get("/v1/equipment", tokGAMECO).json(t)["items"])
	assert.Len(t, a.get("/v1/equipment", tokOfficer).json(t)["items"], 1)

	transfer := "/v1/equipment/" + q.ID + "/transfer"
	assert.Equal(t, nethttp.StatusNotFound, a.post(transfer, tokGAMECO, `{"to_firm":"X","eligible":false,"at":"2026-06-01T00:00:00Z"}`).Status)
	assert.Equal(t, []string{"at"}, a.post(transfer, tokHNA, `{"to_firm":"X","eligible":false,"at":"2099-06-01T00:00:00Z"}`).problem(t).fields(), "not in the future")
	assert.Equal(t, []string{"eligible"}, a.post(transfer, tokHNA, `{"to_firm":"X","at":"2026-06-01T00:00:00Z"}`).problem(t).fields())
	// 2026-05-31T20:00Z is 1 June in Beijing: 33 whole months to 31 March 2029 (1 June + 34 = 1 April).
	r = a.post(transfer, tokHNA, `{"to_firm":"Off-island Aero","eligible":false,"at":"2026-05-31T20:00:00Z"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	m := r.json(t)
	assert.Equal(t, map[string]any{"duty": map[string]any{"amount": "33000.00", "currency": "CNY"},
		"vat": map[string]any{"amount": "42900.00", "currency": "CNY"}}, m["make_up_tax"], "36000 × 33/36, 46800 × 33/36")
	assert.Equal(t, "transferred", m["status"])
	assert.Equal(t, nethttp.StatusConflict, a.post(transfer, tokHNA, `{"to_firm":"Y","eligible":true,"at":"2026-06-02T00:00:00Z"}`).problem(t).Status)

	// Both changes audited and announced on the records topic.
	v, err := bolt.NewAuditTrail(db).VerifyAudit(t.Context())
	require.NoError(t, err)
	assert.True(t, v.Verified)
	msgs, err := db.Outbox().Pending(t.Context(), 1000)
	require.NoError(t, err)
	n := 0
	for _, m := range msgs {
		if m.Topic == zone.TopicRecords && string(m.Key) == q.ID {
			n++
		}
	}
	assert.Equal(t, 2, n, "register and transfer")
}
