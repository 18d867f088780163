package bolt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

func alarmN(gate string, i int) *zone.Alarm {
	return &zone.Alarm{ID: fmt.Sprintf("A-%s-%d", gate, i), Gate: gate, Kind: zone.AlarmUnidentified,
		Severity: "critical", Message: "crossing nobody identified", CrossingID: fmt.Sprintf("X-%s-%d", gate, i),
		Time: time.Date(2026, 11, 26, 10, 0, i, 0, time.UTC)}
}

func TestPutAlarmReplayRaisesNothingTwice(t *testing.T) {
	db := bolttest.MustOpenDB(t)
	ctx := context.Background()
	put := func(a *zone.Alarm) bool {
		var created bool
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
			var err error
			created, err = bolt.PutAlarm(tx, a)
			return err
		}))
		return created
	}
	require.True(t, put(alarmN("G-MRO-1", 1)))
	again := alarmN("G-MRO-1", 1)
	again.Message = "changed on replay"
	require.False(t, put(again))

	st := bolt.NewAlarmStore(db)
	got, err := st.Alarm(ctx, "A-G-MRO-1-1")
	require.NoError(t, err)
	require.Equal(t, "crossing nobody identified", got.Message, "a replay must not overwrite the stored alarm")
	require.Equal(t, zone.AlarmOpen, got.State)

	v, err := bolt.NewAuditTrail(db).VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, v.Verified)
	require.Equal(t, 1, v.Entries, "one raise, audited once")
}

func TestAlarmsListByStateAndGateWithCursor(t *testing.T) {
	db := bolttest.MustOpenDB(t)
	ctx := context.Background()
	st := bolt.NewAlarmStore(db)
	for i := 1; i <= 5; i++ {
		for _, g := range []string{"G-MRO-1", "G-MAIN"} {
			_, err := st.Put(ctx, alarmN(g, i))
			require.NoError(t, err)
		}
	}
	svc := &zone.AlarmService{Store: st, Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }}
	officer := zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}
	_, err := svc.Ack(ctx, officer, "A-G-MRO-1-2", "checked the video: a tug")
	require.NoError(t, err)
	_, err = svc.Ack(ctx, officer, "A-G-MRO-1-2", "again")
	requireCode(t, zone.ECONFLICT, err)
	_, err = svc.Ack(ctx, officer, "nope", "x")
	requireCode(t, zone.ENOTFOUND, err)
	_, err = svc.Ack(ctx, hna, "A-G-MRO-1-3", "x")
	requireCode(t, zone.EFORBIDDEN, err)

	collect := func(f zone.AlarmFilter) []string {
		var ids []string
		for {
			p, err := svc.List(ctx, officer, f)
			require.NoError(t, err)
			for _, a := range p.Items {
				ids = append(ids, a.ID)
			}
			if p.NextCursor == "" {
				return ids
			}
			f.Cursor = p.NextCursor
		}
	}
	require.Equal(t, []string{"A-G-MRO-1-5", "A-G-MRO-1-4", "A-G-MRO-1-3", "A-G-MRO-1-1"},
		collect(zone.AlarmFilter{State: zone.AlarmOpen, Gate: "G-MRO-1", Limit: 2}))
	require.Equal(t, []string{"A-G-MRO-1-2"}, collect(zone.AlarmFilter{State: zone.AlarmAcked, Limit: 1}))
	require.Len(t, collect(zone.AlarmFilter{Limit: 3}), 10)
	require.Equal(t, []string{"A-G-MAIN-5", "A-G-MAIN-4", "A-G-MAIN-3", "A-G-MAIN-2", "A-G-MAIN-1"},
		collect(zone.AlarmFilter{Gate: "G-MAIN", Limit: 4}))

	acked, err := st.Alarm(ctx, "A-G-MRO-1-2")
	require.NoError(t, err)
	require.Equal(t, "customs:HK-0031", acked.AckedBy)
	require.Equal(t, "checked the video: a tug", acked.AckNote)
	require.NotNil(t, acked.AckedAt)

	entries, err := bolt.NewAuditTrail(db).AuditEntries(ctx, 0, 100)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	require.Equal(t, "ack", last.Action)
	require.Equal(t, "A-G-MRO-1-2", last.EntityID)
	require.Equal(t, "customs:HK-0031", last.Actor)
}
