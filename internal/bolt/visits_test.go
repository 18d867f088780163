package bolt_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// maintenance is a crossing fixture with the visit, write-off and parts
// services of one bbolt file, visits following crossings as in the API.
type maintenance struct {
	*crossingFixture
	visits    *zone.VisitService
	writeoffs *zone.WriteOffService
	parts     *zone.PartsService
}

func newMaintenance(t *testing.T) *maintenance {
	f := newCrossingFixture(t)
	m := &maintenance{crossingFixture: f}
	m.parts = &zone.PartsService{Store: bolt.NewPartsStore(f.db), Now: f.clock.Now, NewID: f.ids.New, Source: "bondgate/test"}
	m.visits = &zone.VisitService{Store: bolt.NewVisitStore(f.db), Declarations: f.store, WriteOffs: bolt.NewWriteOffStore(f.db),
		Lots: bolt.NewPartsStore(f.db), Now: f.clock.Now, NewID: f.ids.New, Source: "bondgate/test"}
	m.writeoffs = &zone.WriteOffService{Store: bolt.NewWriteOffStore(f.db), Visits: bolt.NewVisitStore(f.db), Lots: bolt.NewPartsStore(f.db),
		Now: f.clock.Now, NewID: f.ids.New, Source: "bondgate/test"}
	m.parts.Maintenance = m.visits
	f.db.FollowVisits(m.visits.CrossingMove())
	return m
}

// crossed declares, clears and crosses (through the crossing service) an
// engine move of HNA-TECHNIC in direction dir.
func (m *maintenance) crossed(t *testing.T, n int, dir zone.Direction) *zone.PreDeclaration {
	t.Helper()
	ctx := context.Background()
	d := engine("", "G-MRO-1", n)
	d.Object.ESN, d.Direction = "956-482", dir
	got, _, err := m.fixture.svc.Submit(ctx, hna, d, nil)
	require.NoError(t, err)
	got, err = m.fixture.svc.Decide(ctx, customs, got.ID, zone.ActClear, "")
	require.NoError(t, err)
	out, err := m.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "ev-"+got.ID, authorized(got, "X-"+got.ID, time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC))))
	require.NoError(t, err)
	require.NotNil(t, out.Declaration)
	return out.Declaration
}

var genx = zone.Object{Kind: zone.KindEngine, ESN: "956-482", Model: "GEnx-1B", Owner: "Qatar Airways"}

func TestVisitFollowsItsCrossings(t *testing.T) {
	ctx := context.Background()
	m := newMaintenance(t)
	d := engine("", "G-MRO-1", 1)
	d.Object.ESN = "956-482"
	in, _, err := m.fixture.svc.Submit(ctx, hna, d, nil)
	require.NoError(t, err)
	v, _, err := m.visits.Open(ctx, hna, zone.Visit{Object: genx, InboundPreDeclaration: in.ID, Scope: "shop visit", Customer: "Qatar Airways"}, nil)
	require.NoError(t, err)
	assert.Equal(t, zone.VisitAwaitingEntry, v.Status)
	_, _, err = m.visits.Open(ctx, hna, zone.Visit{Object: genx, InboundPreDeclaration: in.ID, Scope: "again", Customer: "Q"}, nil)
	requireCode(t, zone.ECONFLICT, err)

	in, err = m.fixture.svc.Decide(ctx, customs, in.ID, zone.ActClear, "")
	require.NoError(t, err)
	auditBefore, depthBefore := m.counts(t)
	_, err = m.svc.ApplyCrossingEvent(ctx, crossingEvent(t, "ev-in", authorized(in, "X-in", time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC))))
	require.NoError(t, err)
	v, err = m.visits.Get(ctx, hna, v.ID)
	require.NoError(t, err)
	assert.Equal(t, zone.VisitInRepair, v.Status, "the inbound crossing brings the visit in")
	assert.Equal(t, time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC), v.EnteredAt.UTC())
	audit, depth := m.counts(t)
	assert.Equal(t, auditBefore+3, audit, "crossing, declaration and visit audited in one go")
	assert.Equal(t, depthBefore+3, depth, "declaration, clearance, visit announced")
	msgs := m.outbox(t)
	last := msgs[len(msgs)-1]
	assert.Equal(t, zone.TopicRecords, last.Topic)
	assert.Equal(t, v.ID, last.Key)

	// An outbound crossing before the outcome leaves the visit in repair.
	m.crossed(t, 2, zone.Out)
	v, _ = m.visits.Get(ctx, hna, v.ID)
	assert.Equal(t, zone.VisitInRepair, v.Status)

	_, err = m.visits.Conclude(ctx, hna, v.ID, zone.VisitRepaired)
	require.NoError(t, err)
	out := m.crossed(t, 3, zone.Out)
	v, _ = m.visits.Get(ctx, hna, v.ID)
	assert.Equal(t, zone.VisitDeparted, v.Status)
	assert.Equal(t, out.ID, v.OutboundPreDeclaration)
}

func TestVisitOpenedAfterItsCrossingIsInRepair(t *testing.T) {
	ctx := context.Background()
	m := newMaintenance(t)
	in := m.crossed(t, 1, zone.In)
	v, _, err := m.visits.Open(ctx, hna, zone.Visit{Object: genx, InboundPreDeclaration: in.ID, Scope: "s", Customer: "c"}, nil)
	require.NoError(t, err)
	assert.Equal(t, zone.VisitInRepair, v.Status)
	gameco := zone.Principal{Role: zone.RoleMRO, Firm: "GAMECO"}
	_, _, err = m.visits.Open(ctx, gameco, zone.Visit{Object: genx, InboundPreDeclaration: in.ID, Scope: "s", Customer: "c"}, nil)
	requireCode(t, zone.EUNPROCESSABLE, err)
	_, err = m.visits.Get(ctx, gameco, v.ID)
	requireCode(t, zone.ENOTFOUND, err)
}

// inRepair opens a visit on a crossed inbound declaration with task card tc.
func (m *maintenance) inRepair(t *testing.T, n int, tc string) *zone.Visit {
	t.Helper()
	ctx := context.Background()
	in := m.crossed(t, n, zone.In)
	v, _, err := m.visits.Open(ctx, hna, zone.Visit{Object: genx, InboundPreDeclaration: in.ID, Scope: "shop visit", Customer: "Qatar Airways"}, nil)
	require.NoError(t, err)
	v, _, err = m.visits.AddTaskCard(ctx, hna, v.ID, tc, "Replace HPT stage 1 blades", nil)
	require.NoError(t, err)
	return v
}

func TestTaskCardsAndMaterials(t *testing.T) {
	ctx := context.Background()
	m := newMaintenance(t)
	v := m.inRepair(t, 1, "TC-0042")
	// A task card number is the firm's once: a movement citing it names one visit.
	w := m.inRepair(t, 2, "TC-0043")
	before, _ := m.visits.Get(ctx, hna, w.ID)
	_, _, err := m.visits.AddTaskCard(ctx, hna, w.ID, "TC-0042", "dup", nil)
	requireCode(t, zone.ECONFLICT, err)
	after, _ := m.visits.Get(ctx, hna, w.ID)
	assert.Equal(t, before, after, "nothing changed on refusal")

	lot, _, err := m.parts.CreateLot(ctx, hna, blades(24), nil)
	require.NoError(t, err)
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 2, TaskCard: &zone.TaskCard{Number: "TC-9999"}}, nil)
	requireCode(t, zone.EUNPROCESSABLE, err)
	assert.Equal(t, "task_card.number", zone.ErrorFields(err)[0].Field)
	got, _ := m.parts.Lot(ctx, hna, lot.ID)
	assert.Empty(t, got.Movements, "the refused movement left the lot as it was")
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 2, TaskCard: &zone.TaskCard{Number: "TC-0042"}}, nil)
	require.NoError(t, err)
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveInstall, Quantity: 3, AircraftRegistration: "B-1234", TaskCard: &zone.TaskCard{Number: "TC-0043"}}, nil)
	require.NoError(t, err)

	lg, err := m.visits.Ledger(ctx, hna, "", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, lg.Visits, 2)
	byID := map[string]zone.VisitLedgerEntry{}
	for _, e := range lg.Visits {
		byID[e.ID] = e
	}
	require.Len(t, byID[v.ID].Materials, 1)
	assert.Equal(t, 2, byID[v.ID].Materials[0].Quantity)
	assert.Equal(t, "7200.00", byID[v.ID].Materials[0].DutyExempted.Amount, "86400 × 2 / 24")
	assert.Equal(t, []zone.Money{{Amount: "7200.00", Currency: "CNY"}}, byID[v.ID].DutyExempted)

	// A visit no longer in repair takes no material.
	_, err = m.visits.Conclude(ctx, hna, v.ID, zone.VisitRepaired)
	require.NoError(t, err)
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 1, TaskCard: &zone.TaskCard{Number: "TC-0042"}}, nil)
	requireCode(t, zone.EUNPROCESSABLE, err)
}

func TestWriteOffFlowAndLock(t *testing.T) {
	ctx := context.Background()
	m := newMaintenance(t)
	v := m.inRepair(t, 1, "TC-0042")
	lot, _, err := m.parts.CreateLot(ctx, hna, blades(24), nil)
	require.NoError(t, err)
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 4, TaskCard: &zone.TaskCard{Number: "TC-0042"}}, nil)
	require.NoError(t, err)
	_, rp, _, err := m.visits.RemovePart(ctx, hna, v.ID, zone.RemovedPart{PartNumber: "1795M36P01", Serial: "OLD-1", TaskCard: "TC-0042"}, nil)
	require.NoError(t, err)
	_, err = m.visits.Conclude(ctx, hna, v.ID, zone.VisitRepaired)
	require.NoError(t, err)

	// The fake clock is in November 2026 (Shanghai dates).
	w, _, err := m.writeoffs.Draft(ctx, hna, "2026-01-01", "2026-12-31", nil)
	require.NoError(t, err)
	assert.Equal(t, zone.WriteOffDraft, w.Status)
	assert.Equal(t, []zone.PartBalance{{PartNumber: "1795M36P01", Unit: "EA", Opening: 0, In: 24, Out: 4, Closing: 20}}, w.Summary.Parts)
	assert.Equal(t, []zone.PartBalance{{PartNumber: "1795M36P01", Opening: 0, In: 1, Out: 0, Closing: 1}}, w.Summary.RemovedParts)
	assert.Equal(t, 1, w.Summary.VisitsOpened)
	_, _, err = m.writeoffs.Draft(ctx, hna, "2026-06-01", "2027-01-31", nil)
	requireCode(t, zone.ECONFLICT, err)
	_, _, err = m.writeoffs.Draft(ctx, hna, "2027-01-01", "2028-01-01", nil)
	requireCode(t, zone.EUNPROCESSABLE, err)

	// Submitting names each record not accounted for, and changes nothing.
	_, err = m.writeoffs.Submit(ctx, hna, w.ID)
	requireCode(t, zone.ECONFLICT, err)
	var fields []string
	for _, f := range zone.ErrorFields(err) {
		fields = append(fields, f.Field)
	}
	assert.Equal(t, []string{"visits/" + v.ID, "visits/" + v.ID + "/removed-parts/" + rp.ID}, fields)
	got, _ := m.writeoffs.Get(ctx, hna, w.ID)
	assert.Equal(t, w, got)

	out := m.crossed(t, 9, zone.Out) // the engine leaves: the visit departs
	_, _, err = m.visits.Dispose(ctx, hna, v.ID, rp.ID, zone.DisposeScrap, "")
	require.NoError(t, err)
	_, err = m.writeoffs.Submit(ctx, hna, w.ID)
	requireCode(t, zone.ECONFLICT, err) // scrap waits for customs
	_, _, err = m.visits.DecideScrap(ctx, customs, v.ID, rp.ID, true, "")
	require.NoError(t, err)
	_ = out
	w, err = m.writeoffs.Submit(ctx, hna, w.ID)
	require.NoError(t, err)
	assert.Equal(t, zone.WriteOffSubmitted, w.Status)
	_, err = m.writeoffs.Submit(ctx, hna, w.ID)
	requireCode(t, zone.ECONFLICT, err)
	_, err = m.writeoffs.Decide(ctx, customs, w.ID, false, "")
	requireCode(t, zone.EINVALID, err)
	w, err = m.writeoffs.Decide(ctx, customs, w.ID, false, "ledger lines missing")
	require.NoError(t, err)
	assert.Equal(t, zone.WriteOffReturned, w.Status)
	w, err = m.writeoffs.Submit(ctx, hna, w.ID)
	require.NoError(t, err)
	w, err = m.writeoffs.Decide(ctx, customs, w.ID, true, "")
	require.NoError(t, err)
	assert.Equal(t, zone.WriteOffVerified, w.Status)
	_, err = m.writeoffs.Decide(ctx, customs, w.ID, true, "")
	requireCode(t, zone.ECONFLICT, err)

	// Locked: nothing new dated inside the verified period.
	auditBefore, depthBefore := m.counts(t)
	_, _, _, err = m.parts.Move(ctx, hna, lot.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 1}, nil)
	requireCode(t, zone.ECONFLICT, err)
	v2 := m.crossed(t, 10, zone.In)
	open, _, err := m.visits.Open(ctx, hna, zone.Visit{Object: genx, InboundPreDeclaration: v2.ID, Scope: "s", Customer: "c"}, nil)
	require.NoError(t, err, "a visit may open: its entry is the crossing's")
	auditBefore, depthBefore = m.counts(t)
	_, _, err = m.visits.AddTaskCard(ctx, hna, open.ID, "TC-2", "t", nil)
	requireCode(t, zone.ECONFLICT, err)
	audit, depth := m.counts(t)
	assert.Equal(t, []int{auditBefore, depthBefore}, []int{audit, depth}, "nothing written on refusal")
	again, _ := m.writeoffs.Get(ctx, customs, w.ID)
	assert.Equal(t, w, again)
	raw, _ := json.Marshal(again.Summary)
	assert.Contains(t, string(raw), `"closing":20`, "the refused consume is not in the books")
}
