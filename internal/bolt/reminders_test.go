package bolt_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

func tempEntryService(db *bolt.DB, now func() time.Time) *zone.TemporaryEntryService {
	return &zone.TemporaryEntryService{Store: bolt.NewTemporaryEntryStore(db), Declarations: bolt.NewDeclarationStore(db),
		Now: now, NewID: newIDs().New, Source: "bondgate/test"}
}

func aircraftEntry(entered string) zone.TemporaryEntry {
	t, _ := time.Parse(time.RFC3339, entered)
	return zone.TemporaryEntry{Object: zone.Object{Kind: zone.KindAircraft, Registration: "RP-C3441", Type: "A321"},
		Owner: "Philippine Airlines", EnteredAt: t, Repair: "C-check and repaint",
		Guarantee: zone.Guarantee{Kind: zone.GuaranteeExempt}}
}

// recordEvents reads the outbox's events on the records topic, by type.
func recordEvents(t *testing.T, db *bolt.DB) map[string][]zone.Event {
	t.Helper()
	msgs, err := db.Outbox().Pending(context.Background(), 10000)
	require.NoError(t, err)
	out := map[string][]zone.Event{}
	for _, m := range msgs {
		if m.Topic != zone.TopicRecords {
			continue
		}
		var ev zone.Event
		require.NoError(t, json.Unmarshal(m.Value, &ev))
		assert.Equal(t, ev.Subject, m.Key, "keyed by record ID")
		out[ev.Type] = append(out[ev.Type], ev)
	}
	return out
}

// reminders runs the zone's reminder service over the real bbolt store.
func reminders(db *bolt.DB) *zone.ReminderService {
	return &zone.ReminderService{Store: bolt.NewTemporaryEntryStore(db), Source: "bondgate/test", NewID: newIDs().New}
}

// TestRemindersFireOnceAcrossRestarts closes and reopens the bbolt file
// between ticks: each reminder goes out once, the overdue notice raises one
// alarm, and an extension arms the reminders again for the new deadline.
func TestRemindersFireOnceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "api.db")
	open := func() *bolt.DB {
		db, err := bolt.Open(path, bolt.Options{})
		require.NoError(t, err)
		return db
	}
	db := open()
	// The clock stands a day after the entry: an entry cannot be in the future.
	entryClock := &clock{t: time.Date(2027, 9, 1, 8, 0, 0, 0, time.UTC)}
	svc := tempEntryService(db, entryClock.Now)
	e, _, err := svc.Create(ctx, hna, aircraftEntry("2027-08-31T08:00:00Z"), nil)
	require.NoError(t, err)
	deadline := e.ReexportDeadline
	require.Equal(t, "2028-02-29T08:00:00Z", deadline.Format(time.RFC3339))
	require.NoError(t, db.Close())

	tick := func(at time.Time) zone.TickResult {
		t.Helper()
		db := open()
		defer db.Close()
		res, err := reminders(db).Tick(ctx, at)
		require.NoError(t, err)
		return res
	}
	day := 24 * time.Hour
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-40*day)), "nothing 40 days out")
	assert.Equal(t, zone.TickResult{Reminders: 1}, tick(deadline.Add(-30*day)), "30-day reminder")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-30*day)), "the same tick again after a restart")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-20*day)))
	assert.Equal(t, zone.TickResult{Reminders: 1}, tick(deadline.Add(-7*day+time.Minute)), "7-day reminder")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-6*day)))
	assert.Equal(t, zone.TickResult{Reminders: 1}, tick(deadline.Add(-12*time.Hour)), "1-day reminder")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(-time.Hour)))
	assert.Equal(t, zone.TickResult{Overdue: 1}, tick(deadline), "overdue at the deadline")
	assert.Equal(t, zone.TickResult{}, tick(deadline.Add(time.Hour)))

	db = open()
	defer db.Close()
	got, err := bolt.NewTemporaryEntryStore(db).TemporaryEntry(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, zone.EntryOverdue, got.Status)
	fired, err := db.FiredReminders(e.ID, deadline)
	require.NoError(t, err)
	assert.Equal(t, []zone.ReminderKind{zone.Reminder30Days, zone.Reminder7Days, zone.Reminder1Day, zone.NoticeOverdue}, fired)

	alarm, err := bolt.NewAlarmStore(db).Alarm(ctx, zone.OverdueAlarmID(e.ID, deadline))
	require.NoError(t, err)
	assert.Equal(t, zone.AlarmOverdue, alarm.Kind)
	assert.Equal(t, e.ID, alarm.RecordID)
	assert.Equal(t, zone.AlarmOpen, alarm.State)
	assert.Equal(t, map[string]string{"entry": e.ID, "object_kind": "aircraft", "object_id": "RP-C3441", "firm": e.Firm,
		"deadline": deadline.Format(time.RFC3339)}, alarm.Params, "the console words the alarm from these")

	evs := recordEvents(t, db)
	require.Len(t, evs[zone.TypeTemporaryEntryReminder], 3)
	var kinds []zone.ReminderKind
	for _, ev := range evs[zone.TypeTemporaryEntryReminder] {
		var r zone.Reminder
		require.NoError(t, json.Unmarshal(ev.Data, &r))
		kinds = append(kinds, r.Kind)
		assert.Equal(t, deadline, r.Deadline)
	}
	assert.Equal(t, []zone.ReminderKind{zone.Reminder30Days, zone.Reminder7Days, zone.Reminder1Day}, kinds)
	assert.Len(t, evs[zone.TypeAlarm], 1)
	assert.Len(t, evs[zone.TypeTemporaryEntryChanged], 2, "entered, then overdue")

	// Customs extends by two months: entered again, reminders re-armed.
	svc = tempEntryService(db, func() time.Time { return deadline.Add(2 * time.Hour) })
	ext, err := svc.Extend(ctx, customs, e.ID, 2, "engine shop slot moved")
	require.NoError(t, err)
	assert.Equal(t, zone.EntryEntered, ext.Status)
	newDeadline := ext.ReexportDeadline
	assert.Equal(t, "2028-04-30T08:00:00Z", newDeadline.Format(time.RFC3339), "2027-08-31 + 8 months, clamped")
	require.NoError(t, db.Close())

	assert.Equal(t, zone.TickResult{Reminders: 1}, tick(newDeadline.Add(-30*day)), "30-day reminder for the new deadline")
	assert.Equal(t, zone.TickResult{}, tick(newDeadline.Add(-29*day)))
	// Down for the last four weeks: one reminder (the 1-day), then overdue.
	assert.Equal(t, zone.TickResult{Reminders: 1}, tick(newDeadline.Add(-time.Hour)))
	assert.Equal(t, zone.TickResult{Overdue: 1}, tick(newDeadline.Add(time.Hour)))
	assert.Equal(t, zone.TickResult{}, tick(newDeadline.Add(2*time.Hour)))

	db2 := open()
	defer db2.Close()
	fired, err = db2.FiredReminders(e.ID, newDeadline)
	require.NoError(t, err)
	assert.Equal(t, []zone.ReminderKind{zone.Reminder30Days, zone.Reminder1Day, zone.NoticeOverdue}, fired, "the 7-day one superseded, not sent")
	_, err = bolt.NewAlarmStore(db2).Alarm(ctx, zone.OverdueAlarmID(e.ID, newDeadline))
	require.NoError(t, err, "a second alarm for the second deadline")
	v, err := bolt.NewAuditTrail(db2).VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.Verified, v.Problem)
}

func TestRemindersSkipClosedEntries(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := tempEntryService(db, newClock().Now)
	e, _, err := svc.Create(ctx, hna, aircraftEntry("2026-11-20T08:00:00Z"), nil)
	require.NoError(t, err)
	_, err = svc.Reexport(ctx, hna, e.ID, zone.ReexportEvidence{ExportDeclaration: "460120261000654321"})
	require.NoError(t, err)
	res, err := reminders(db).Tick(ctx, e.ReexportDeadline.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, zone.TickResult{}, res, "a re-exported entry is never overdue")
}

func TestRemindersRunStopsWithContext(t *testing.T) {
	db := bolttest.MustOpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := reminders(db)
	s.Interval = 10 * time.Millisecond
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}
