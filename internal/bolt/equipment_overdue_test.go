package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// TestEquipmentOverdueAlarmFiresOnceAcrossRestarts closes and reopens the
// bbolt file between ticks: an item out for repair past its Beijing return
// date raises one equipment_overdue alarm, never a second, and an item
// back in time raises none.
func TestEquipmentOverdueAlarmFiresOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "api.db")
	open := func() *bolt.DB {
		db, err := bolt.Open(path, bolt.Options{})
		require.NoError(t, err)
		return db
	}
	db := open()
	now := func() time.Time { return time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC) }
	svc := &zone.EquipmentService{Store: bolt.NewEquipmentStore(db), Now: now, NewID: newIDs().New, Source: "bondgate/test"}
	register := func(serial string) *zone.Equipment {
		q, _, err := svc.Register(ctx, hna, zone.Equipment{Description: "engine borescope", Serial: serial, HSCode: "90318090",
			ImportDeclaration: "460120261000223344", ImportedAt: time.Date(2026, 3, 30, 16, 0, 0, 0, time.UTC),
			Exempted: zone.EquipmentTaxes{Duty: zone.Money{Amount: "36000.00", Currency: "CNY"},
				VAT: zone.Money{Amount: "46800.00", Currency: "CNY"}}, SupervisionMonths: 36}, nil)
		require.NoError(t, err)
		return q
	}
	late, onTime := register("IPLEX-4471"), register("IPLEX-4472")
	_, err := svc.ExitForRepair(ctx, hna, late.ID, "fibre bundle replaced by Olympus", "2026-06-10")
	require.NoError(t, err)
	_, err = svc.ExitForRepair(ctx, hna, onTime.ID, "recalibration", "2026-06-10")
	require.NoError(t, err)
	_, err = svc.ReturnFromRepair(ctx, hna, onTime.ID)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	tick := func(at time.Time) zone.TickResult {
		t.Helper()
		db := open()
		defer db.Close()
		rs := reminders(db)
		rs.Equipment = bolt.NewEquipmentStore(db)
		res, err := rs.Tick(ctx, at)
		require.NoError(t, err)
		return res
	}
	deadline := time.Date(2026, 6, 10, 16, 0, 0, 0, time.UTC) // 00:00 on 11 June in Beijing
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-time.Second)), "10 June, 23:59:59 in Beijing")
	assert.Equal(t, zone.TickResult{EquipmentOverdue: 1}, tick(deadline), "11 June in Beijing")
	assert.Equal(t, zone.TickResult{}, tick(deadline), "the same tick after a restart")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(72*time.Hour)))

	db = open()
	defer db.Close()
	alarm, err := bolt.NewAlarmStore(db).Alarm(ctx, zone.EquipmentOverdueAlarmID(late.ID, 1))
	require.NoError(t, err)
	assert.Equal(t, zone.AlarmEquipmentOverdue, alarm.Kind)
	assert.Equal(t, zone.AlarmOpen, alarm.State)
	assert.Equal(t, late.ID, alarm.RecordID)
	assert.Equal(t, map[string]string{"equipment": late.ID, "description": "engine borescope", "serial": "IPLEX-4471",
		"firm": "HNA-TECHNIC", "return_by": "2026-06-10"}, alarm.Params)
	page, err := bolt.NewAlarmStore(db).Alarms(ctx, zone.AlarmFilter{Limit: 100})
	require.NoError(t, err)
	assert.Len(t, page.Items, 1, "one alarm, for the late item only")

	got, err := bolt.NewEquipmentStore(db).Equipment(ctx, late.ID)
	require.NoError(t, err)
	assert.Equal(t, zone.EquipmentOutForRepair, got.Status, "still out: the alarm does not bring it back")
	assert.Equal(t, deadline, *got.CurrentExit().OverdueAt)
	evs := recordEvents(t, db)
	assert.Len(t, evs[zone.TypeAlarm], 1)

	// Back, it can go out again; the second exit's alarm is a new one.
	svc.Store = bolt.NewEquipmentStore(db)
	svc.Now = func() time.Time { return deadline.Add(96 * time.Hour) }
	_, err = svc.ReturnFromRepair(ctx, hna, late.ID)
	require.NoError(t, err)
	_, err = svc.ExitForRepair(ctx, hna, late.ID, "second look", "2026-06-15")
	require.NoError(t, err)
	rs := reminders(db)
	rs.Equipment = bolt.NewEquipmentStore(db)
	res, err := rs.Tick(ctx, time.Date(2026, 6, 15, 16, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, zone.TickResult{EquipmentOverdue: 1}, res)
	_, err = bolt.NewAlarmStore(db).Alarm(ctx, zone.EquipmentOverdueAlarmID(late.ID, 2))
	require.NoError(t, err)
	v, err := bolt.NewAuditTrail(db).VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.Verified, v.Problem)
}
