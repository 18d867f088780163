package api

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// `bondgate dev` loads the sample temporary entries and parts lots into the
// API's real store; a second start (a day later, the store reopened) adds
// nothing. The samples fill the console: an entry due within 30 days and one
// the scheduler marks overdue, with its alarm.
func TestDevSamplesLoadOnceIntoTheAPIStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "api.db")
	log := slog.New(slog.DiscardHandler)
	customs := zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}
	now := time.Now().UTC()

	start := func(at time.Time) (*bolt.DB, *records) {
		db, err := bolt.Open(path, bolt.Options{Logger: log})
		require.NoError(t, err)
		recs, err := newRecords(db, RecordsConfig{}, nil, log)
		require.NoError(t, err)
		require.NoError(t, loadSamples(ctx, recs, at, log))
		decls := &zone.DeclarationService{Store: bolt.NewDeclarationStore(db), ReleaseNotes: bolt.NewDeclarationStore(db),
			Now: func() time.Time { return at }, NewID: func() string { return ulid.Make().String() }, Source: "test"}
		crossings := &zone.CrossingService{Store: bolt.NewCrossingStore(db), Declarations: decls, Log: log}
		require.NoError(t, loadVisitSamples(ctx, decls, crossings, recs, at, log))
		return db, recs
	}
	count := func(recs *records) (entries, lots, movements int) {
		es, err := recs.entries.List(ctx, customs, zone.TemporaryEntryFilter{Limit: 500})
		require.NoError(t, err)
		ls, err := recs.parts.Lots(ctx, customs, zone.PartsLotFilter{Limit: 500})
		require.NoError(t, err)
		for _, l := range ls.Items {
			movements += len(l.Movements)
		}
		return len(es.Items), len(ls.Items), movements
	}
	// The maintenance samples: a foreign aircraft's C-check and an engine
	// shop visit, both entered through a crossing of their inbound
	// declaration, the engine with two old parts off (one scrap waiting for
	// customs).
	checkVisits := func(db *bolt.DB, recs *records) {
		t.Helper()
		vs, err := recs.visits.List(ctx, customs, zone.VisitFilter{Limit: 500})
		require.NoError(t, err)
		require.Len(t, vs.Items, 2, "maintenance visits")
		byKind := map[zone.ObjectKind]*zone.Visit{}
		for _, v := range vs.Items {
			byKind[v.Object.Kind] = v
			assert.Equal(t, zone.VisitInRepair, v.Status, "the inbound declaration crossed")
			d, err := bolt.NewDeclarationStore(db).Declaration(ctx, v.InboundPreDeclaration)
			require.NoError(t, err)
			assert.Equal(t, zone.StatusCrossed, d.Status)
			assert.Contains(t, d.CrossingID, "SAMPLE-X-", "a sample crossing says so")
			x, err := bolt.NewCrossingStore(db).Crossing(ctx, d.CrossingID)
			require.NoError(t, err)
			require.NotNil(t, x.Identity, "the board shows what a camera would have read")
			assert.Equal(t, d.Identifiers()[0], *x.Identity)
			assert.Equal(t, d.ReleaseNote.Number, x.ReleaseNote, "the crossing carries the release note")
		}
		c := byKind[zone.KindAircraft]
		require.NotNil(t, c)
		assert.Equal(t, zone.DepositExempt, c.Deposit, "a foreign aircraft is exempt from a deposit")
		assert.Len(t, c.TaskCards, 2)
		e := byKind[zone.KindEngine]
		require.NotNil(t, e)
		require.Len(t, e.RemovedParts, 2, "removed parts of the engine")
		assert.Nil(t, e.RemovedParts[0].Disposition)
		require.NotNil(t, e.RemovedParts[1].Disposition)
		assert.Equal(t, zone.DispositionPending, e.RemovedParts[1].Disposition.Status, "the scrap waits for customs")
		// One engine move waits in the green-channel queue, once.
		queue, err := bolt.NewDeclarationStore(db).Declarations(ctx, zone.DeclarationFilter{Status: zone.StatusSubmitted, Limit: 50})
		require.NoError(t, err)
		require.Len(t, queue.Items, 1, "one declaration waits for the officer")
		assert.Equal(t, "CFM56-7B", queue.Items[0].Object.Model)
	}

	db, recs := start(now)
	e, l, m := count(recs)
	assert.Equal(t, 3, e, "temporary entries")
	assert.Equal(t, 3, l, "parts lots: own, serialized, consigned")
	assert.Equal(t, 7, m, "four movements of the first lot (one an installed-part pledge), three of the consigned one")
	eq, err := recs.equipment.List(ctx, customs, zone.EquipmentFilter{Limit: 500})
	require.NoError(t, err)
	assert.Len(t, eq.Items, 2, "equipment register")
	checkVisits(db, recs)
	rep, err := recs.parts.ConsignmentReport(ctx, customs, "AAR OSS", time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.Len(t, rep.Items, 2, "the supplier's consumption report: one consumed, one installed")

	due := now.AddDate(0, 0, 30)
	soon, err := recs.entries.List(ctx, customs, zone.TemporaryEntryFilter{DueBefore: &due, Limit: 500})
	require.NoError(t, err)
	assert.Len(t, soon.Items, 2, "the console's 30-day panel shows the entry due soon and the overdue one")
	_, err = recs.reminders.Tick(ctx, now)
	require.NoError(t, err)
	alarms, err := bolt.NewAlarmStore(db).Alarms(ctx, zone.AlarmFilter{State: zone.AlarmOpen, Limit: 10})
	require.NoError(t, err)
	require.Len(t, alarms.Items, 1, "the overdue sample raises its alarm")
	assert.Equal(t, zone.AlarmOverdue, alarms.Items[0].Kind)
	require.NoError(t, db.Close())

	// A second start a day later: the samples are found, not added again.
	db, recs = start(now.Add(24 * time.Hour))
	defer db.Close()
	e, l, m = count(recs)
	assert.Equal(t, 3, e, "temporary entries after a second start")
	assert.Equal(t, 3, l, "parts lots after a second start")
	assert.Equal(t, 7, m, "movements after a second start")
	eq, err = recs.equipment.List(ctx, customs, zone.EquipmentFilter{Limit: 500})
	require.NoError(t, err)
	assert.Len(t, eq.Items, 2, "equipment after a second start")
	checkVisits(db, recs)
}
