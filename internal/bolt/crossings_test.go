package bolt_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// crossingEvent is what a gate publishes for crossing x.
func crossingEvent(t *testing.T, eventID string, x zone.Crossing) zone.Event {
	t.Helper()
	ev, err := zone.NewEvent(eventID, "bondgate/gate/"+x.Gate, zone.TypeCrossing, x.ID, x.Time, x)
	require.NoError(t, err)
	return ev
}

func authorized(d *zone.PreDeclaration, id string, at time.Time) zone.Crossing {
	return zone.Crossing{ID: id, Seq: 7, Gate: d.Gate, Segment: 1, Decision: zone.DecisionAuthorized, Direction: d.Direction,
		ObjectClass: "engine", ClearanceID: d.ID, Identity: &zone.Identity{Kind: zone.ReadStandTag, Value: d.Conveyance.StandTag},
		Time: at, DecidedAt: at}
}

type crossingFixture struct {
	*fixture
	crossings *bolt.CrossingStore
	svc       *zone.CrossingService
}

func newCrossingFixture(t *testing.T) *crossingFixture {
	f := newFixture(t, bolt.Options{})
	cs := bolt.NewCrossingStore(f.db)
	return &crossingFixture{fixture: f, crossings: cs, svc: &zone.CrossingService{Store: cs, Declarations: f.svc}}
}

func (f *crossingFixture) cleared(t *testing.T, n int) *zone.PreDeclaration {
	t.Helper()
	ctx := context.Background()
	d, _, err := f.fixture.svc.Submit(ctx, hna, engine("", "G-MRO-1", n), nil)
	require.NoError(t, err)
	d, err = f.fixture.svc.Decide(ctx, customs, d.ID, zone.ActClear, "")
	require.NoError(t, err)
	return d
}

// outboxTail decodes the outbox's messages after skip.
func (f *crossingFixture) outbox(t *testing.T) []zone.OutboxMessage {
	t.Helper()
	msgs, err := f.fixture.outbox.Pending(context.Background(), 1000)
	require.NoError(t, err)
	return msgs
}

func TestCrossingMovesClearedDeclarationOnceOnly(t *testing.T) {
	ctx := context.Background()
	f := newCrossingFixture(t)
	d := f.cleared(t, 1)
	at := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	x := authorized(d, "X-G-MRO-1-7", at)
	auditBefore, depthBefore := f.counts(t)

	out, err := f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "G-MRO-1-X-7", x))
	require.NoError(t, err)
	require.False(t, out.Duplicate)
	require.NotNil(t, out.Declaration)

	got, err := f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusCrossed, got.Status)
	require.Equal(t, "X-G-MRO-1-7", got.CrossingID)
	require.Equal(t, at, *got.CrossedAt)
	last := got.History[len(got.History)-1]
	require.Equal(t, zone.ActCross, last.Action)
	require.Equal(t, "gate:G-MRO-1", last.Actor)

	audit, depth := f.counts(t)
	require.Equal(t, auditBefore+2, audit, "crossing recorded + declaration moved, both audited")
	require.Equal(t, depthBefore+2, depth, "declaration event + clearance used event")
	msgs := f.outbox(t)
	var c zone.Clearance
	var ev zone.Event
	require.NoError(t, json.Unmarshal(msgs[len(msgs)-1].Value, &ev))
	require.Equal(t, zone.TopicClearances, msgs[len(msgs)-1].Topic)
	require.NoError(t, json.Unmarshal(ev.Data, &c))
	require.Equal(t, zone.ClearanceUsed, c.State)

	// The same event again (Kafka redelivery), and the same crossing under
	// another event ID (a gate replay): nothing changes.
	for _, evID := range []string{"G-MRO-1-X-7", "G-MRO-1-X-7-again"} {
		out, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, evID, x))
		require.NoError(t, err)
		require.True(t, out.Duplicate)
	}
	audit2, depth2 := f.counts(t)
	require.Equal(t, audit, audit2)
	require.Equal(t, depth, depth2)

	// A second, different crossing with the same clearance (the gate saw the
	// engine twice): stored, but the declaration stays as it is.
	out, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "G-MRO-1-X-9", authorized(d, "X-G-MRO-1-9", at.Add(time.Minute))))
	require.NoError(t, err)
	require.False(t, out.Duplicate)
	require.Nil(t, out.Declaration)
	again, err := f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, got.Version, again.Version)
	require.Equal(t, "X-G-MRO-1-7", again.CrossingID)

	page, err := f.svc.List(ctx, customs, zone.CrossingFilter{Gate: "G-MRO-1"})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.Equal(t, "X-G-MRO-1-7", page.Items[0].ID)
	_, err = f.svc.List(ctx, hna, zone.CrossingFilter{})
	requireCode(t, zone.EFORBIDDEN, err)
}

func TestCrossingOutOfOrderChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newCrossingFixture(t)
	d := f.cleared(t, 2)
	// Customs revokes before the gate's crossing reaches the zone.
	_, err := f.fixture.svc.Decide(ctx, customs, d.ID, zone.ActRevoke, "ESN mismatch on the paperwork")
	require.NoError(t, err)
	out, err := f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "ev-1", authorized(d, "X-1", time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC))))
	require.NoError(t, err)
	require.Nil(t, out.Declaration)
	got, err := f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusRevoked, got.Status)
	x, err := f.crossings.Crossing(ctx, "X-1")
	require.NoError(t, err, "the crossing is kept even though it moved nothing")
	require.Equal(t, d.ID, x.ClearanceID)

	// A crossing naming a clearance nobody issued.
	out, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "ev-2", zone.Crossing{ID: "X-2", Gate: "G-MRO-1",
		Decision: zone.DecisionAuthorized, Direction: zone.In, ClearanceID: "01NOSUCH", Time: time.Now()}))
	require.NoError(t, err)
	require.Nil(t, out.Declaration)

	// Not a crossing at all: refused so the consumer can skip it.
	_, err = f.svc.ApplyCrossingEvent(ctx, zone.Event{ID: "ev-3", Type: zone.TypeAlarm, Data: []byte(`{}`)})
	requireCode(t, zone.EINVALID, err)
}

func TestAlarmEventsAppliedOnce(t *testing.T) {
	ctx := context.Background()
	f := newCrossingFixture(t)
	a := zone.Alarm{ID: "A-G-MRO-1-12-person_on_line", Gate: "G-MRO-1", Kind: zone.AlarmPerson, Severity: "critical",
		Message: "person crossed in on segment 1", CrossingID: "X-12", Time: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC), State: "open"}
	ev, err := zone.NewEvent("ev-a", "bondgate/gate/G-MRO-1", zone.TypeAlarm, a.ID, a.Time, a)
	require.NoError(t, err)
	applied, err := f.svc.ApplyAlarmEvent(ctx, ev)
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = f.svc.ApplyAlarmEvent(ctx, ev)
	require.NoError(t, err)
	require.False(t, applied)
	ev.ID = "ev-a-replayed-by-gate"
	applied, err = f.svc.ApplyAlarmEvent(ctx, ev)
	require.NoError(t, err)
	require.False(t, applied)

	page, err := bolt.NewAlarmStore(f.db).Alarms(ctx, zone.AlarmFilter{State: zone.AlarmOpen})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, "X-12", page.Items[0].CrossingID)
}

func TestExpireDueWithdrawsPassedWindows(t *testing.T) {
	ctx := context.Background()
	f := newCrossingFixture(t)
	cleared := f.cleared(t, 3)
	submitted, _, err := f.fixture.svc.Submit(ctx, hna, engine("", "G-MRO-1", 4), nil)
	require.NoError(t, err)
	crossed := f.cleared(t, 5)
	_, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "ev-5", authorized(crossed, "X-5", crossed.Window.From.Add(time.Hour))))
	require.NoError(t, err)

	// Inside the window: nothing expires.
	ids, err := f.fixture.svc.ExpireDue(ctx, cleared.Window.To.Add(-time.Minute))
	require.NoError(t, err)
	require.Empty(t, ids)

	_, depthBefore := f.counts(t)
	ids, err = f.fixture.svc.ExpireDue(ctx, cleared.Window.To.Add(time.Minute))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{cleared.ID, submitted.ID}, ids)
	_, depth := f.counts(t)
	require.Equal(t, depthBefore+3, depth, "two declaration events + one clearance revocation (only the cleared one was at a gate)")

	for id, want := range map[string]zone.Status{cleared.ID: zone.StatusExpired, submitted.ID: zone.StatusExpired, crossed.ID: zone.StatusCrossed} {
		d, err := f.store.Declaration(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, d.Status, id)
		if want == zone.StatusExpired {
			require.Equal(t, zone.System, d.History[len(d.History)-1].Actor)
		}
	}
	msgs := f.outbox(t)
	var ev zone.Event
	var c zone.Clearance
	require.NoError(t, json.Unmarshal(msgs[len(msgs)-1].Value, &ev))
	require.NoError(t, json.Unmarshal(ev.Data, &c))
	require.Equal(t, cleared.ID, c.ID)
	require.Equal(t, zone.ClearanceRevoked, c.State)

	ids, err = f.fixture.svc.ExpireDue(ctx, cleared.Window.To.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, ids, "a second sweep finds nothing")
}

func alarmEvent(t *testing.T, a zone.Alarm) zone.Event {
	t.Helper()
	ev, err := zone.NewEvent(a.ID, "bondgate/gate/"+a.Gate, zone.TypeAlarm, a.ID, a.Time, a)
	require.NoError(t, err)
	return ev
}

func conflictAlarms(t *testing.T, f *crossingFixture) []*zone.Alarm {
	t.Helper()
	page, err := bolt.NewAlarmStore(f.db).Alarms(context.Background(), zone.AlarmFilter{Limit: 100})
	require.NoError(t, err)
	var out []*zone.Alarm
	for _, a := range page.Items {
		if a.Kind == zone.AlarmIDConflict {
			out = append(out, a)
		}
	}
	return out
}

// TestReusedIDWithOtherContentRaisesAnAlarm: a gate whose file was restored
// from a backup (by an older version, or copied over in place) may send a
// crossing or alarm ID the zone holds already, with other content. That is
// not the normal repeat: it must raise an id_conflict alarm, apply nothing
// of the new one, and raise it once however often Kafka delivers it. The
// same ID with the same content stays a silent duplicate.
func TestReusedIDWithOtherContentRaisesAnAlarm(t *testing.T) {
	ctx := context.Background()
	f := newCrossingFixture(t)
	d1, d2 := f.cleared(t, 11), f.cleared(t, 12)
	at := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	first := authorized(d1, "X-G-MRO-1-7", at)
	out, err := f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, first.ID, first))
	require.NoError(t, err)
	require.NotNil(t, out.Declaration)

	out, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, first.ID, first))
	require.NoError(t, err)
	require.True(t, out.Duplicate, "the same crossing again is the normal repeat")
	require.Empty(t, conflictAlarms(t, f))

	reused := authorized(d2, "X-G-MRO-1-7", at.Add(time.Hour))
	for range 2 { // and its redelivery
		out, err = f.svc.ApplyCrossingEvent(ctx, crossingEvent(t, reused.ID, reused))
		require.NoError(t, err)
		require.False(t, out.Duplicate)
		require.Nil(t, out.Declaration)
		require.NotNil(t, out.Conflict)
	}
	got, err := f.store.Declaration(ctx, d2.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusCleared, got.Status, "nothing of the reused ID is applied")
	cs := conflictAlarms(t, f)
	require.Len(t, cs, 1, "one alarm however often it is delivered")
	require.Equal(t, "X-G-MRO-1-7", cs[0].CrossingID)
	require.Equal(t, "G-MRO-1", cs[0].Gate)
	require.Contains(t, cs[0].Message, d2.ID)

	a := zone.Alarm{ID: "A-G-MRO-1-9-person_on_line", Gate: "G-MRO-1", Kind: zone.AlarmPerson, Severity: "critical",
		Message: "person crossed in on segment 1", Time: at}
	applied, err := f.svc.ApplyAlarmEvent(ctx, alarmEvent(t, a))
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = f.svc.ApplyAlarmEvent(ctx, alarmEvent(t, a))
	require.NoError(t, err)
	require.False(t, applied)
	require.Len(t, conflictAlarms(t, f), 1, "the same alarm again is the normal repeat")

	b := a
	b.Kind, b.Message, b.Time = zone.AlarmUnidentified, "crossing in on segment 2 that no camera identified", at.Add(time.Hour)
	for range 2 {
		applied, err = f.svc.ApplyAlarmEvent(ctx, alarmEvent(t, b))
		require.NoError(t, err)
		require.False(t, applied)
	}
	cs = conflictAlarms(t, f)
	require.Len(t, cs, 2)
	stored, err := bolt.NewAlarmStore(f.db).Alarm(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, zone.AlarmPerson, stored.Kind, "the stored alarm is unchanged")
}
