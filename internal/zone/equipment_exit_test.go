package zone_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// borescope is an item in use, imported 31 March 2026 (Beijing), 36 months.
func borescope(t *testing.T) *zone.Equipment {
	t.Helper()
	cny := func(a string) zone.Money { return zone.Money{Amount: a, Currency: "CNY"} }
	q := &zone.Equipment{ID: "E1", Firm: "HNA-TECHNIC", Description: "borescope", Serial: "IPLEX-4471",
		HSCode: "90318090", ImportDeclaration: "460120261000223344", ImportedAt: date("2026-03-30T16:00:00Z"),
		Exempted: zone.EquipmentTaxes{Duty: cny("36000.00"), VAT: cny("46800.00")}, SupervisionMonths: 36,
		Status: zone.EquipmentInUse}
	require.NoError(t, q.Validate())
	q.SupervisionEnds = zone.AddMonths(q.ImportedAt.In(zone.Shanghai), 36).UTC()
	return q
}

// TestEquipmentExitReturnByIsABeijingDate: return_by is read on Beijing's
// calendar, both when it is given and when it passes.
func TestEquipmentExitReturnByIsABeijingDate(t *testing.T) {
	// 2026-05-31T17:00Z is 1 June, 01:00 in Beijing.
	now := date("2026-05-31T17:00:00Z")
	for _, c := range []struct {
		returnBy string
		ok       bool
		why      string
	}{
		{"2026-06-01", true, "today in Beijing"},
		{"2026-05-31", false, "still 31 May in UTC, but yesterday in Beijing"},
		{"2028-06-01", true, "731 days ahead (2028 is a leap year)"},
		{"2028-06-02", false, "more than 731 days ahead"},
		{"2026-6-1", false, "not YYYY-MM-DD"},
		{"2026-02-30", false, "no such date"},
		{"2026-06-01T00:00:00Z", false, "a time, not a date"},
	} {
		q := borescope(t)
		err := q.ExitForRepair("fibre bundle replaced by Olympus", c.returnBy, "mro:HNA-TECHNIC", now)
		if c.ok {
			assert.NoError(t, err, c.why)
			assert.Equal(t, zone.EquipmentOutForRepair, q.Status, c.why)
			continue
		}
		assert.Equal(t, []string{"return_by"}, fieldsOf(err), c.why)
		assert.Equal(t, zone.EquipmentInUse, q.Status, "%s: a refusal changes nothing", c.why)
		assert.Empty(t, q.Exits, c.why)
	}

	// Back by 1 June: late from 00:00 on 2 June in Beijing, 16:00Z on 1 June.
	for _, c := range []struct {
		at   string
		late bool
		why  string
	}{
		{"2026-06-01T00:00:00Z", false, "1 June in Beijing"},
		{"2026-06-01T15:59:59Z", false, "23:59:59 on 1 June in Beijing"},
		{"2026-06-01T16:00:00Z", true, "00:00 on 2 June in Beijing, though still 1 June in UTC"},
		{"2026-06-02T12:00:00Z", true, "a day later"},
	} {
		q := borescope(t)
		require.NoError(t, q.ExitForRepair("repair", "2026-06-01", "mro:HNA-TECHNIC", now))
		assert.Equal(t, date("2026-06-01T16:00:00Z"), q.CurrentExit().ReturnDeadline())
		assert.Equal(t, c.late, q.MarkExitOverdue(date(c.at)), c.why)
		if c.late {
			assert.False(t, q.MarkExitOverdue(date(c.at)), "%s: marked once", c.why)
			a := zone.EquipmentOverdueAlarm(q, date(c.at))
			assert.Equal(t, zone.AlarmEquipmentOverdue, a.Kind)
			assert.Equal(t, "EQUIPMENT-OVERDUE-E1-1", a.ID)
			assert.Equal(t, "2026-06-01", a.Params["return_by"])
		}
	}
}

// TestEquipmentOutForRepair: out, it cannot be transferred or sent out
// again; back, it can; an item not out cannot come back.
func TestEquipmentOutForRepair(t *testing.T) {
	now := date("2026-06-01T02:00:00Z")
	by := "mro:HNA-TECHNIC"
	q := borescope(t)
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.ReturnFromRepair(by, now)), "not out")
	assert.ElementsMatch(t, []string{"reason", "return_by"}, fieldsOf(q.ExitForRepair(" ", "", by, now)))
	require.NoError(t, q.ExitForRepair("fibre bundle", "2026-07-15", by, now))
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.ExitForRepair("again", "2026-07-20", by, now)), "already out")
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.TransferTo("GAMECO", true, now, by, now)), "no transfer while out")
	assert.Nil(t, q.Transfer)

	back := date("2026-07-01T03:00:00Z")
	require.NoError(t, q.ReturnFromRepair(by, back))
	assert.Equal(t, zone.EquipmentInUse, q.Status)
	require.Len(t, q.Exits, 1)
	assert.Equal(t, back, *q.Exits[0].ReturnedAt)
	assert.False(t, q.MarkExitOverdue(date("2026-08-01T00:00:00Z")), "back in time: never overdue")

	require.NoError(t, q.ExitForRepair("recalibration", "2026-08-01", by, back))
	assert.Nil(t, q.CurrentExit().OverdueAt)
	assert.True(t, q.MarkExitOverdue(date("2026-08-02T00:00:00Z")))
	assert.Equal(t, "EQUIPMENT-OVERDUE-E1-2", zone.EquipmentOverdueAlarm(q, back).ID, "one alarm per exit")

	// Out and not coming back: it may leave for good, which ends the exit.
	require.NoError(t, q.LeaveIsland("", back, by, date("2026-08-03T00:00:00Z")))
	assert.Equal(t, zone.EquipmentLeftIsland, q.Status)
	assert.Nil(t, q.CurrentExit())
	assert.False(t, q.MarkExitOverdue(date("2026-08-04T00:00:00Z")))
}

// TestEquipmentLeavesTheIsland: leaving for good owes what a transfer to a
// firm that is not eligible owes.
func TestEquipmentLeavesTheIsland(t *testing.T) {
	now := date("2029-01-05T00:00:00Z")
	q := borescope(t)
	require.NoError(t, q.LeaveIsland("", date("2029-01-01T00:00:00Z"), "mro:HNA-TECHNIC", now))
	assert.Equal(t, zone.EquipmentLeftIsland, q.Status)
	assert.Equal(t, zone.TransferLeaveIsland, q.Transfer.Kind)
	assert.Equal(t, zone.EquipmentTaxes{Duty: zone.Money{Amount: "2000.00", Currency: "CNY"},
		VAT: zone.Money{Amount: "2600.00", Currency: "CNY"}}, q.Transfer.MakeUpTax, "2 of 36 months, as a non-eligible transfer")
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.TransferTo("GAMECO", true, now, "mro:HNA-TECHNIC", now)), "gone")
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.ExitForRepair("x", "2029-02-01", "mro:HNA-TECHNIC", now)), "gone")

	q = borescope(t)
	require.NoError(t, q.TransferTo("GAMECO", true, date("2029-01-01T00:00:00Z"), "mro:HNA-TECHNIC", now))
	assert.Equal(t, zone.TransferToFirm, q.Transfer.Kind)
	assert.Equal(t, zone.EquipmentTransferred, q.Status)
}
