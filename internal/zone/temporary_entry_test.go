package zone_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAddMonthsClampsToMonthEnd(t *testing.T) {
	for _, c := range []struct {
		from   string
		months int
		want   string
	}{
		{"2027-08-31T10:00:00Z", 6, "2028-02-29T10:00:00Z"}, // leap year
		{"2026-08-31T10:00:00Z", 6, "2027-02-28T10:00:00Z"}, // common year
		{"2026-11-20T08:00:00Z", 6, "2027-05-20T08:00:00Z"}, // the contract's example
		{"2026-12-31T23:59:59Z", 6, "2027-06-30T23:59:59Z"}, // across the year, 30-day month
		{"2027-08-31T00:00:00Z", 7, "2028-03-31T00:00:00Z"}, // no clamp lost when counted from entry
		{"2028-02-29T12:00:00Z", 12, "2029-02-28T12:00:00Z"},
		{"2026-01-31T00:00:00Z", 1, "2026-02-28T00:00:00Z"},
		{"2026-03-15T06:30:00Z", 24, "2028-03-15T06:30:00Z"},
	} {
		assert.Equal(t, date(c.want), zone.AddMonths(date(c.from), c.months), "%s + %d months", c.from, c.months)
	}
}

func aircraftEntry() zone.TemporaryEntry {
	return zone.TemporaryEntry{ID: "TE1",
		Object: zone.Object{Kind: zone.KindAircraft, Registration: "RP-C3441", Type: "A321"},
		Owner:  "Philippine Airlines", EnteredAt: date("2027-08-31T08:00:00Z"), Repair: "C-check and repaint",
		Guarantee: zone.Guarantee{Kind: zone.GuaranteeExempt}, Status: zone.EntryEntered}
}

func TestTemporaryEntryDeadlineAndExtensions(t *testing.T) {
	e := aircraftEntry()
	e.ReexportDeadline = e.Deadline()
	require.Equal(t, date("2028-02-29T08:00:00Z"), e.ReexportDeadline)

	now := date("2027-09-01T00:00:00Z")
	require.NoError(t, e.Extend(1, "parts on back-order", "customs:HK-0031", now))
	assert.Equal(t, date("2028-03-31T08:00:00Z"), e.ReexportDeadline, "counted from entry: 7 months, not Feb 29 + 1")
	require.NoError(t, e.Extend(6, "engine shop slot", "customs:HK-0031", now))
	require.NoError(t, e.Extend(6, "again", "customs:HK-0031", now))
	assert.Equal(t, date("2029-03-31T08:00:00Z"), e.ReexportDeadline)
	assert.Equal(t, e.ReexportDeadline, e.Extensions[2].Deadline)

	before := e
	err := e.Extend(1, "a fourth", "customs:HK-0031", now)
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	assert.Len(t, e.Extensions, 3, "a refused extension changes nothing")
	assert.Equal(t, before.ReexportDeadline, e.ReexportDeadline)

	f := aircraftEntry()
	assert.Equal(t, zone.EINVALID, zone.ErrorCode(f.Extend(7, "too long", "c", now)))
	assert.Equal(t, zone.EINVALID, zone.ErrorCode(f.Extend(0, "none", "c", now)))
	assert.Equal(t, zone.EINVALID, zone.ErrorCode(f.Extend(2, "  ", "c", now)))
	assert.Empty(t, f.Extensions)
}

func TestTemporaryEntryStateMachine(t *testing.T) {
	e := aircraftEntry()
	e.ReexportDeadline = e.Deadline()
	assert.False(t, e.MarkOverdue(e.ReexportDeadline.Add(-time.Second)), "not before the deadline")
	assert.True(t, e.MarkOverdue(e.ReexportDeadline))
	assert.Equal(t, zone.EntryOverdue, e.Status)
	assert.False(t, e.MarkOverdue(e.ReexportDeadline.Add(time.Hour)), "overdue once")

	// An extension past now brings it back to entered.
	require.NoError(t, e.Extend(2, "customs agreed", "customs", e.ReexportDeadline.Add(time.Hour)))
	assert.Equal(t, zone.EntryEntered, e.Status)
	assert.Nil(t, e.OverdueAt)

	require.True(t, e.MarkOverdue(e.ReexportDeadline.Add(time.Minute)))
	require.NoError(t, e.Reexport(e.ReexportDeadline.Add(2*time.Minute)), "an overdue entry can still be re-exported")
	assert.Equal(t, zone.EntryReexported, e.Status)
	err := e.Reexport(e.ReexportDeadline.Add(3 * time.Minute))
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "a second re-export")
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(e.Extend(1, "late", "c", time.Now())))
	assert.False(t, e.MarkOverdue(e.ReexportDeadline.Add(time.Hour)))
}

func TestTemporaryEntryValidate(t *testing.T) {
	e := aircraftEntry()
	require.NoError(t, e.Validate())
	e.Guarantee = zone.Guarantee{Kind: zone.GuaranteeDeposit}
	err := e.Validate()
	require.Equal(t, zone.EINVALID, zone.ErrorCode(err))
	assert.Equal(t, "guarantee.amount", zone.ErrorFields(err)[0].Field)
	e.Guarantee.Amount = &zone.Money{Amount: "500000.00", Currency: "CNY"}
	require.NoError(t, e.Validate())
	e.Object = zone.Object{Kind: zone.KindEquipment, Description: "tug"}
	assert.Equal(t, zone.EINVALID, zone.ErrorCode(e.Validate()))
}

func TestDueNoticePicksTheMostUrgentReminder(t *testing.T) {
	e := aircraftEntry()
	e.ReexportDeadline = date("2028-02-29T08:00:00Z")
	none := func(zone.ReminderKind) bool { return false }

	_, ok := e.DueNotice(e.ReexportDeadline.Add(-31*24*time.Hour), none)
	assert.False(t, ok, "nothing owed more than 30 days out")

	n, ok := e.DueNotice(e.ReexportDeadline.Add(-30*24*time.Hour), none)
	require.True(t, ok)
	assert.Equal(t, zone.Reminder30Days, n.Kind)
	assert.Empty(t, n.Superseded)

	// Down for weeks: only the 7-day reminder, the 30-day one superseded.
	n, ok = e.DueNotice(e.ReexportDeadline.Add(-5*24*time.Hour), none)
	require.True(t, ok)
	assert.Equal(t, zone.Reminder7Days, n.Kind)
	assert.Equal(t, []zone.ReminderKind{zone.Reminder30Days}, n.Superseded)

	fired := map[zone.ReminderKind]bool{zone.Reminder30Days: true, zone.Reminder7Days: true}
	_, ok = e.DueNotice(e.ReexportDeadline.Add(-2*24*time.Hour), func(k zone.ReminderKind) bool { return fired[k] })
	assert.False(t, ok, "the 7-day reminder already went")

	n, ok = e.DueNotice(e.ReexportDeadline, func(k zone.ReminderKind) bool { return fired[k] })
	require.True(t, ok)
	assert.Equal(t, zone.NoticeOverdue, n.Kind)
	assert.Equal(t, []zone.ReminderKind{zone.Reminder1Day}, n.Superseded)

	e.Status = zone.EntryReexported
	_, ok = e.DueNotice(e.ReexportDeadline, none)
	assert.False(t, ok, "nothing for a closed entry")
}
