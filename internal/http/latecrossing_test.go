package http

import (
	"context"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestLateCrossingIsRecordedAndAlarmed: the gate authorized a crossing from
// its own copy while its link was down; by the time the crossing reaches the
// zone the sweeper has expired the declaration. The declaration still
// records the crossing (crossed, late) and an open alarm puts it before
// customs, in the same transaction; a replay changes nothing more.
func TestLateCrossingIsRecordedAndAlarmed(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	ctx := context.Background()
	d := a.submit(tokHNA)
	require.Equal(t, nethttp.StatusOK, a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`).Status)

	// The window passes while the link is down: the sweeper expires it.
	expired, err := a.srv.cfg.Declarations.ExpireDue(ctx, d.Window.To.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, []string{d.ID}, expired)
	require.Equal(t, zone.StatusExpired, a.declaration(d.ID, tokHNA).Status)

	crossedAt := time.Now().UTC().Truncate(time.Second) // inside the window
	x := zone.Crossing{ID: "X-G-MRO-1-77", Seq: 77, Gate: "G-MRO-1", Segment: 1, Decision: zone.DecisionAuthorized,
		Direction: zone.In, ObjectClass: "engine", ClearanceID: d.ID,
		Identity: &zone.Identity{Kind: "stand_tag", Value: "STAND-0042"}, Time: crossedAt, DecidedAt: crossedAt}
	ev, err := zone.NewEvent("G-MRO-1-77", "bondgate/gate/G-MRO-1", zone.TypeCrossing, x.ID, x.Time, x)
	require.NoError(t, err)
	out, err := a.srv.cfg.Crossings.ApplyCrossingEvent(ctx, ev)
	require.NoError(t, err)
	require.NotNil(t, out.Declaration, "the late crossing moves the declaration")

	got := a.declaration(d.ID, tokHNA)
	assert.Equal(t, zone.StatusCrossed, got.Status)
	assert.True(t, got.Late, "marked late")
	assert.Equal(t, x.ID, got.CrossingID)
	require.NotNil(t, got.CrossedAt)
	assert.True(t, crossedAt.Equal(*got.CrossedAt), "crossed at the gate's time")
	last := got.History[len(got.History)-1]
	assert.Equal(t, zone.StatusExpired, last.From)
	assert.Equal(t, "gate:G-MRO-1", last.Actor)

	alarms := func() []map[string]any {
		r := a.get("/v1/alarms?state=open", tokOfficer)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var out []map[string]any
		for _, it := range r.json(t)["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		return out
	}
	open := alarms()
	require.Len(t, open, 1)
	assert.Equal(t, string(zone.AlarmLateCrossing), open[0]["kind"])
	assert.Equal(t, d.ID, open[0]["record_id"])
	assert.Equal(t, x.ID, open[0]["crossing_id"])
	assert.Contains(t, open[0]["message"], d.ID)

	// The same event again (a redelivery) changes nothing more.
	out, err = a.srv.cfg.Crossings.ApplyCrossingEvent(ctx, ev)
	require.NoError(t, err)
	assert.True(t, out.Duplicate)
	assert.Len(t, alarms(), 1)

	// The arrival can follow, and the trail still verifies.
	r := a.post("/v1/predeclarations/"+d.ID+"/arrival", tokHNA, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	r = a.get("/v1/audit?verify=true", tokAuditor)
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.Equal(t, true, r.json(t)["verified"])
}

// TestLateCrossingElsewhereMovesNothing: an expired declaration is not
// crossed by a crossing at another gate or in the other direction.
func TestLateCrossingElsewhereMovesNothing(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	ctx := context.Background()
	d := a.submit(tokHNA)
	require.Equal(t, nethttp.StatusOK, a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`).Status)
	_, err := a.srv.cfg.Declarations.ExpireDue(ctx, d.Window.To.Add(time.Minute))
	require.NoError(t, err)
	now := time.Now().UTC()
	x := zone.Crossing{ID: "X-G-MAIN-5", Gate: "G-MAIN", Decision: zone.DecisionAuthorized, Direction: zone.In,
		ClearanceID: d.ID, Time: now, DecidedAt: now}
	ev, err := zone.NewEvent("G-MAIN-5", "bondgate/gate/G-MAIN", zone.TypeCrossing, x.ID, x.Time, x)
	require.NoError(t, err)
	out, err := a.srv.cfg.Crossings.ApplyCrossingEvent(ctx, ev)
	require.NoError(t, err)
	assert.Nil(t, out.Declaration)
	assert.Equal(t, zone.StatusExpired, a.declaration(d.ID, tokHNA).Status)
}
