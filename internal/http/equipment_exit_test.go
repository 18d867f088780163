package http

import (
	nethttp "net/http"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// exitBody sends an item out for repair for two weeks.
func exitBody(*api, string) string {
	return `{"reason":"fibre bundle replaced by Olympus","return_by":"` +
		time.Now().In(zone.Shanghai).AddDate(0, 0, 14).Format("2006-01-02") + `"}`
}

// equipmentOutOfHNA is an item of HNA's out for repair.
func equipmentOutOfHNA(a *api) string {
	a.t.Helper()
	id := equipmentOfHNA(a)
	r := a.post("/v1/equipment/"+id+"/exit", tokHNA, exitBody(a, ""))
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	return id
}

// TestEquipmentExitForRepairOverHTTP: out for repair with a return date,
// no transfer while out (409), back again; a late item raises one
// equipment_overdue alarm that customs sees.
func TestEquipmentExitForRepairOverHTTP(t *testing.T) {
	a, db := newRecordsAPI(t, nil)
	a.srv.cfg.Alarms = &zone.AlarmService{Store: bolt.NewAlarmStore(db), Now: time.Now}
	id := equipmentOfHNA(a)
	base := "/v1/equipment/" + id
	today := time.Now().In(zone.Shanghai)
	returnBy := today.AddDate(0, 0, 14).Format("2006-01-02")

	assert.Equal(t, nethttp.StatusNotFound, a.post(base+"/exit", tokGAMECO, `{"reason":"repair","return_by":"`+returnBy+`"}`).Status)
	assert.Equal(t, nethttp.StatusForbidden, a.post(base+"/exit", tokOfficer, `{"reason":"repair","return_by":"`+returnBy+`"}`).Status)
	p := a.post(base+"/exit", tokHNA, `{"reason":"repair","return_by":"`+today.AddDate(0, 0, -1).Format("2006-01-02")+`"}`).problem(t)
	assert.Equal(t, nethttp.StatusBadRequest, p.Status)
	assert.Equal(t, []string{"return_by"}, p.fields(), "yesterday in Beijing")
	assert.ElementsMatch(t, []string{"reason", "return_by"}, a.post(base+"/exit", tokHNA, `{}`).problem(t).fields())
	assert.Equal(t, nethttp.StatusConflict, a.post(base+"/return", tokHNA, ``).problem(t).Status, "not out")

	r := a.post(base+"/exit", tokHNA, `{"reason":"fibre bundle replaced by Olympus","return_by":"`+returnBy+`"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	m := r.json(t)
	assert.Equal(t, "out_for_repair", m["status"])
	assert.Equal(t, returnBy, m["exits"].([]any)[0].(map[string]any)["return_by"])

	at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	p = a.post(base+"/transfer", tokHNA, `{"to_firm":"GAMECO","eligible":true,"at":"`+at+`"}`).problem(t)
	assert.Equal(t, nethttp.StatusConflict, p.Status, "no transfer while out")
	assert.Contains(t, p.Detail, returnBy)
	assert.Equal(t, nethttp.StatusConflict, a.post(base+"/exit", tokHNA, `{"reason":"again","return_by":"`+returnBy+`"}`).Status)

	// The return date passes: the reminder service raises one alarm.
	rs := &zone.ReminderService{Store: bolt.NewTemporaryEntryStore(db), Equipment: bolt.NewEquipmentStore(db),
		Source: "bondgate/api-test", NewID: func() string { return ulid.Make().String() }}
	for range 2 {
		_, err := rs.Tick(t.Context(), time.Now().AddDate(0, 0, 16))
		require.NoError(t, err)
	}
	alarms := a.get("/v1/alarms", tokOfficer).json(t)["items"].([]any)
	require.Len(t, alarms, 1)
	al := alarms[0].(map[string]any)
	assert.Equal(t, "equipment_overdue", al["kind"])
	assert.Equal(t, id, al["record_id"])
	assert.NotNil(t, a.get(base, tokHNA).json(t)["exits"].([]any)[0].(map[string]any)["overdue_at"])

	r = a.post(base+"/return", tokHNA, ``)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "in_use", r.json(t)["status"])
	require.Equal(t, nethttp.StatusOK, a.post(base+"/transfer", tokHNA, `{"to_firm":"GAMECO","eligible":true,"at":"`+at+`"}`).Status,
		"back, it can be transferred")
}

// TestEquipmentLeavesTheIslandOverHTTP: kind leave_island needs no firm
// and owes the make-up tax like a transfer to a firm that is not eligible.
func TestEquipmentLeavesTheIslandOverHTTP(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := equipmentOfHNA(a)
	transfer := "/v1/equipment/" + id + "/transfer"
	assert.Equal(t, []string{"eligible"}, a.post(transfer, tokHNA,
		`{"kind":"leave_island","eligible":true,"at":"2026-05-31T20:00:00Z"}`).problem(t).fields())
	assert.Equal(t, []string{"kind"}, a.post(transfer, tokHNA,
		`{"kind":"lend","to_firm":"X","eligible":false,"at":"2026-05-31T20:00:00Z"}`).problem(t).fields())
	assert.ElementsMatch(t, []string{"to_firm", "eligible"}, a.post(transfer, tokHNA, `{"at":"2026-05-31T20:00:00Z"}`).problem(t).fields(),
		"a transfer to a firm names the firm and whether it is eligible")

	r := a.post(transfer, tokHNA, `{"kind":"leave_island","at":"2026-05-31T20:00:00Z"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	m := r.json(t)
	assert.Equal(t, "left_island", m["status"])
	assert.Equal(t, map[string]any{"duty": map[string]any{"amount": "33000.00", "currency": "CNY"},
		"vat": map[string]any{"amount": "42900.00", "currency": "CNY"}}, m["make_up_tax"], "36000 × 33/36, 46800 × 33/36")
	assert.Equal(t, "leave_island", m["transfer"].(map[string]any)["kind"])
	assert.Equal(t, nethttp.StatusConflict, a.post(transfer, tokHNA, `{"kind":"leave_island","at":"2026-06-01T20:00:00Z"}`).Status)
}
