package zone_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

var t0 = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func rpcAircraft() zone.Object {
	return zone.Object{Kind: zone.KindAircraft, Registration: "RP-C3441", Type: "A321"}
}

func inboundDecl(id string) *zone.PreDeclaration {
	return &zone.PreDeclaration{ID: id, Firm: "HNA-TECHNIC", Direction: zone.In, Regime: zone.RegimeBondedMaintenance,
		Object: rpcAircraft(), Status: zone.StatusCleared, Gate: "G-MAIN"}
}

func newVisit() *zone.Visit {
	return &zone.Visit{ID: "V1", Firm: "HNA-TECHNIC", Object: rpcAircraft(), InboundPreDeclaration: "D-IN",
		Scope: "C-check and repaint", Customer: "Philippine Airlines", Status: zone.VisitAwaitingEntry,
		TaskCards: []zone.VisitTaskCard{}, RemovedParts: []zone.RemovedPart{}, CreatedAt: t0, UpdatedAt: t0, Version: 1}
}

func code(err error) string { return zone.ErrorCode(err) }

func TestVisitInboundChecks(t *testing.T) {
	v := newVisit()
	require.NoError(t, v.CheckInbound(inboundDecl("D-IN")))
	for name, tc := range map[string]func(d *zone.PreDeclaration){
		"another firm": func(d *zone.PreDeclaration) { d.Firm = "GAMECO" },
		"outbound":     func(d *zone.PreDeclaration) { d.Direction = zone.Out },
		"zero tariff":  func(d *zone.PreDeclaration) { d.Regime = zone.RegimeZeroTariff },
		"other object": func(d *zone.PreDeclaration) { d.Object.Registration = "B-1234" },
		"engine": func(d *zone.PreDeclaration) {
			d.Object = zone.Object{Kind: zone.KindEngine, ESN: "RP-C3441", Model: "x"}
		},
		"rejected":      func(d *zone.PreDeclaration) { d.Status = zone.StatusRejected },
		"cancelled one": func(d *zone.PreDeclaration) { d.Status = zone.StatusCancelled },
	} {
		d := inboundDecl("D-IN")
		tc(d)
		err := v.CheckInbound(d)
		assert.Equal(t, zone.EUNPROCESSABLE, code(err), name)
		assert.Equal(t, []zone.FieldError{{Field: "inbound_predeclaration", Message: zone.ErrorFields(err)[0].Message}}, zone.ErrorFields(err), name)
	}
	assert.Equal(t, zone.EUNPROCESSABLE, code(v.CheckInbound(nil)))
	// The registration is read as a gate reads it.
	d := inboundDecl("D-IN")
	d.Object.Registration = "rp c3441"
	assert.NoError(t, v.CheckInbound(d))
}

func TestVisitLifecycle(t *testing.T) {
	v := newVisit()
	// Nothing happens to a visit before its object is in.
	assert.Equal(t, zone.ECONFLICT, code(v.AddTaskCard("TC-0042", "Replace HPT blades", "mro", t0)))
	assert.Equal(t, zone.ECONFLICT, code(v.Conclude(zone.VisitRepaired, t0)))
	assert.Equal(t, zone.ECONFLICT, code(v.Depart(&zone.PreDeclaration{ID: "D-OUT"}, t0)))

	require.NoError(t, v.Enter(t0.Add(time.Hour)))
	assert.Equal(t, zone.VisitInRepair, v.Status)
	assert.Equal(t, zone.ECONFLICT, code(v.Enter(t0)), "entered twice")

	assert.Equal(t, zone.EINVALID, code(v.AddTaskCard(" ", "", "mro", t0)))
	require.NoError(t, v.AddTaskCard("TC-0042", "Replace HPT blades", "mro", t0.Add(2*time.Hour)))
	assert.Equal(t, zone.ECONFLICT, code(v.AddTaskCard("TC-0042", "again", "mro", t0)))

	_, err := v.RemovePart(zone.RemovedPart{ID: "R1", PartNumber: "1795M36P01", Serial: "S1", TaskCard: "TC-9999"}, t0)
	assert.Equal(t, zone.EUNPROCESSABLE, code(err))
	assert.Equal(t, "task_card", zone.ErrorFields(err)[0].Field)
	_, err = v.RemovePart(zone.RemovedPart{ID: "R1"}, t0)
	assert.Equal(t, zone.EINVALID, code(err))
	rp, err := v.RemovePart(zone.RemovedPart{ID: "R1", PartNumber: "1795M36P01", Serial: "S1", TaskCard: "TC-0042"}, t0.Add(3*time.Hour))
	require.NoError(t, err)
	assert.Nil(t, rp.Disposition)
	_, err = v.RemovePart(zone.RemovedPart{ID: "R2", PartNumber: "1795M36P01", Serial: "S1", TaskCard: "TC-0042"}, t0)
	assert.Equal(t, zone.ECONFLICT, code(err), "one serial removed twice")

	assert.Equal(t, zone.EINVALID, code(v.Conclude(zone.VisitDeparted, t0)))
	require.NoError(t, v.Conclude(zone.VisitRepaired, t0.Add(4*time.Hour)))
	assert.Equal(t, zone.ECONFLICT, code(v.Conclude(zone.VisitUnrepairable, t0)))
	assert.Equal(t, zone.ECONFLICT, code(v.AddTaskCard("TC-0043", "late", "mro", t0)), "no task card after the outcome")
	_, err = v.RemovePart(zone.RemovedPart{ID: "R3", PartNumber: "P", Serial: "S", TaskCard: "TC-0042"}, t0)
	assert.Equal(t, zone.ECONFLICT, code(err))

	require.NoError(t, v.Depart(&zone.PreDeclaration{ID: "D-OUT"}, t0.Add(5*time.Hour)))
	assert.Equal(t, zone.VisitDeparted, v.Status)
	assert.Equal(t, "D-OUT", v.OutboundPreDeclaration)
	assert.Equal(t, zone.ECONFLICT, code(v.Depart(&zone.PreDeclaration{ID: "D-OUT"}, t0)))
}

func TestRemovedPartDispositions(t *testing.T) {
	v := newVisit()
	require.NoError(t, v.Enter(t0))
	require.NoError(t, v.AddTaskCard("TC-1", "x", "mro", t0))
	for _, id := range []string{"R1", "R2", "R3"} {
		_, err := v.RemovePart(zone.RemovedPart{ID: id, PartNumber: "P", Serial: id, TaskCard: "TC-1"}, t0)
		require.NoError(t, err)
	}
	out := &zone.PreDeclaration{ID: "D-OUT", Firm: "HNA-TECHNIC", Direction: zone.Out, Status: zone.StatusCrossed}
	_, err := v.Dispose("R9", zone.DisposeScrap, nil, "", "mro", t0)
	assert.Equal(t, zone.ENOTFOUND, code(err))
	_, err = v.Dispose("R1", "burn", nil, "", "mro", t0)
	assert.Equal(t, zone.EINVALID, code(err))
	// A re-export needs a crossed outbound declaration of the firm.
	for name, d := range map[string]*zone.PreDeclaration{
		"none":      nil,
		"other":     {ID: "D-OUT", Firm: "GAMECO", Direction: zone.Out, Status: zone.StatusCrossed},
		"inbound":   {ID: "D-OUT", Firm: "HNA-TECHNIC", Direction: zone.In, Status: zone.StatusCrossed},
		"uncrossed": {ID: "D-OUT", Firm: "HNA-TECHNIC", Direction: zone.Out, Status: zone.StatusCleared},
	} {
		_, err = v.Dispose("R1", zone.DisposeReexport, d, "D-OUT", "mro", t0)
		assert.Equal(t, zone.EUNPROCESSABLE, code(err), name)
		assert.Equal(t, "predeclaration", zone.ErrorFields(err)[0].Field, name)
	}
	_, err = v.Dispose("R1", zone.DisposeReexport, nil, "", "mro", t0)
	assert.Equal(t, zone.EUNPROCESSABLE, code(err), "no evidence")
	r, err := v.Dispose("R1", zone.DisposeReexport, out, "D-OUT", "mro", t0)
	require.NoError(t, err)
	assert.Equal(t, zone.DispositionFinal, r.Disposition.Status)
	_, err = v.Dispose("R1", zone.DisposeScrap, nil, "", "mro", t0)
	assert.Equal(t, zone.ECONFLICT, code(err), "second disposition")

	r, err = v.Dispose("R2", zone.DisposeReturnToOwner, out, "D-OUT", "mro", t0)
	require.NoError(t, err)
	_, ok := r.DisposedAt()
	assert.True(t, ok)

	// Scrap waits for customs; a rejection leaves the part to dispose again.
	r, err = v.Dispose("R3", zone.DisposeScrap, nil, "", "mro", t0)
	require.NoError(t, err)
	assert.Equal(t, zone.DispositionPending, r.Disposition.Status)
	_, ok = r.DisposedAt()
	assert.False(t, ok)
	_, err = v.Dispose("R3", zone.DisposeScrap, nil, "", "mro", t0)
	assert.Equal(t, zone.ECONFLICT, code(err), "pending")
	_, err = v.DecideScrap("R1", true, "HK-0031", "", t0)
	assert.Equal(t, zone.ECONFLICT, code(err), "nothing to approve")
	r, err = v.DecideScrap("R3", false, "HK-0031", "send it back to the OEM", t0)
	require.NoError(t, err)
	assert.Equal(t, zone.DispositionRejected, r.Disposition.Status)
	_, err = v.Dispose("R3", zone.DisposeScrap, nil, "", "mro", t0.Add(time.Hour))
	require.NoError(t, err)
	r, err = v.DecideScrap("R3", true, "HK-0031", "", t0.Add(2*time.Hour))
	require.NoError(t, err)
	at, ok := r.DisposedAt()
	assert.True(t, ok)
	assert.Equal(t, t0.Add(2*time.Hour), at, "a scrap counts when approved")
}

func TestParsePeriod(t *testing.T) {
	s, e, err := zone.ParsePeriod("2026-01-01", "2026-12-31")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC), s, "midnight in Shanghai")
	assert.Equal(t, time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), e)
	_, _, err = zone.ParsePeriod("2026-01-01", "2027-01-01")
	assert.Equal(t, zone.EUNPROCESSABLE, code(err), "12 months and a day")
	assert.Equal(t, "to", zone.ErrorFields(err)[0].Field)
	_, _, err = zone.ParsePeriod("2026-02-30", "x")
	assert.Equal(t, zone.EINVALID, code(err))
	assert.Len(t, zone.ErrorFields(err), 2)
	_, _, err = zone.ParsePeriod("2026-05-01", "2026-04-30")
	assert.Equal(t, zone.EINVALID, code(err))

	w := &zone.WriteOff{ID: "W1", From: "2026-01-01", To: "2026-06-30", Status: zone.WriteOffVerified}
	assert.NotNil(t, zone.Overlapping([]*zone.WriteOff{w}, time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC), e))
	assert.Nil(t, zone.Overlapping([]*zone.WriteOff{w}, time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC), e), "next day in Shanghai")
	assert.Equal(t, zone.ECONFLICT, code(zone.LockedAt([]*zone.WriteOff{w}, time.Date(2026, 6, 30, 15, 59, 0, 0, time.UTC))))
	assert.NoError(t, zone.LockedAt([]*zone.WriteOff{w}, time.Date(2026, 6, 30, 16, 0, 0, 0, time.UTC)))
	w.Status = zone.WriteOffSubmitted
	assert.NoError(t, zone.LockedAt([]*zone.WriteOff{w}, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), "only verified periods lock")
}

func TestUnaccountedNamesEachRecord(t *testing.T) {
	v := newVisit()
	require.NoError(t, v.Enter(t0))
	require.NoError(t, v.AddTaskCard("TC-1", "x", "mro", t0))
	_, err := v.RemovePart(zone.RemovedPart{ID: "R1", PartNumber: "P", Serial: "S1", TaskCard: "TC-1"}, t0)
	require.NoError(t, err)
	require.NoError(t, v.Conclude(zone.VisitRepaired, t0.Add(time.Hour)))
	s, e, _ := zone.ParsePeriod("2026-01-01", "2026-12-31")
	fs := zone.Unaccounted([]*zone.Visit{v}, s, e)
	require.Len(t, fs, 2)
	assert.Equal(t, "visits/V1", fs[0].Field)
	assert.Equal(t, "visits/V1/removed-parts/R1", fs[1].Field)
	s2, e2, _ := zone.ParsePeriod("2027-01-01", "2027-12-31")
	assert.Empty(t, zone.Unaccounted([]*zone.Visit{v}, s2, e2), "another period's records")
}

// TestWriteOffSummaryProperty: for random sequences of lots, movements,
// visits, task cards, removed parts and dispositions, every period's summary
// balances (opening + in − out = closing per part number, materials and
// removed parts), consecutive periods chain (a closing is the next opening),
// and once a period is verified, everything afterwards is either refused (it
// is dated inside) or leaves its summary exactly as it was.
func TestWriteOffSummaryProperty(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { summaryProperty(t, seed) })
	}
}

func summaryProperty(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 14))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, zone.Shanghai)
	clock := start.Add(-30 * 24 * time.Hour) // some history before the first period
	step := func() time.Time {
		clock = clock.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
		return clock
	}
	parts := []string{"1795M36P01", "2040M11P02", "AS3209-024"}
	var lots []*zone.PartsLot
	var visits []*zone.Visit
	// The first half-year is verified at its end; everything after is
	// checked against the lock.
	verified := &zone.WriteOff{ID: "W1", From: "2026-01-01", To: "2026-06-30", Status: zone.WriteOffVerified}
	vs, ve := verified.Bounds()
	var frozen *zone.WriteOffSummary
	n := 0
	id := func(p string) string { n++; return fmt.Sprintf("%s%d", p, n) }
	locked := func(at time.Time) bool { return frozen != nil && zone.LockedAt([]*zone.WriteOff{verified}, at) != nil }
	for i := 0; i < 300; i++ {
		at := step()
		if frozen == nil && !at.Before(ve) {
			s := zone.Summarize(lots, visits, vs, ve)
			frozen = &s
		}
		if frozen != nil && rng.IntN(4) == 0 {
			// Try a record dated back inside the verified period.
			at = vs.Add(time.Duration(rng.Int64N(int64(ve.Sub(vs)))))
		}
		if locked(at) {
			continue // refused: nothing recorded
		}
		switch op := rng.IntN(7); {
		case op == 0 || len(lots) == 0:
			lots = append(lots, &zone.PartsLot{ID: id("L"), Firm: "F", PartNumber: parts[rng.IntN(len(parts))], Unit: "EA",
				Quantity: 1 + rng.IntN(50), DutyExempted: zone.Money{Amount: "100.00", Currency: "CNY"}, CreatedAt: at})
		case op <= 2:
			l := lots[rng.IntN(len(lots))]
			if at.Before(l.CreatedAt) {
				continue
			}
			kinds := []zone.MovementKind{zone.MoveConsume, zone.MoveInstall, zone.MoveExitIsland, zone.MoveReturn, zone.MoveScrap}
			m := zone.Movement{ID: id("M"), Kind: kinds[rng.IntN(len(kinds))], Quantity: 1 + rng.IntN(5), At: at, Actor: "x",
				AircraftRegistration: "B-1234"}
			if m.Kind == zone.MoveExitIsland {
				m.TaskCard = &zone.TaskCard{Number: "TC", AircraftRegistration: "B-1234"}
			}
			_, _ = l.Move(m, zone.MoveOptions{}) // a refused movement changes nothing
		case op == 3 || len(visits) == 0:
			v := &zone.Visit{ID: id("V"), Firm: "F", Status: zone.VisitAwaitingEntry, CreatedAt: at,
				TaskCards: []zone.VisitTaskCard{}, RemovedParts: []zone.RemovedPart{}}
			visits = append(visits, v)
		default:
			v := visits[rng.IntN(len(visits))]
			switch v.Status {
			case zone.VisitAwaitingEntry:
				_ = v.Enter(at)
			case zone.VisitInRepair:
				switch rng.IntN(4) {
				case 0:
					_ = v.AddTaskCard(id("TC"), "t", "x", at)
				case 1, 2:
					if len(v.TaskCards) > 0 {
						_, _ = v.RemovePart(zone.RemovedPart{ID: id("R"), PartNumber: parts[rng.IntN(len(parts))], Serial: id("S"),
							TaskCard: v.TaskCards[rng.IntN(len(v.TaskCards))].Number}, at)
					}
				default:
					_ = v.Conclude(zone.VisitRepaired, at)
				}
			default:
				if len(v.RemovedParts) > 0 && rng.IntN(2) == 0 {
					r := v.RemovedParts[rng.IntN(len(v.RemovedParts))]
					if r.Disposition != nil && r.Disposition.Status == zone.DispositionPending {
						_, _ = v.DecideScrap(r.ID, rng.IntN(3) > 0, "HK", "r", at)
					} else if rng.IntN(2) == 0 {
						_, _ = v.Dispose(r.ID, zone.DisposeScrap, nil, "", "x", at)
					} else {
						out := &zone.PreDeclaration{ID: "D", Firm: "F", Direction: zone.Out, Status: zone.StatusCrossed}
						_, _ = v.Dispose(r.ID, zone.DisposeReexport, out, "D", "x", at)
					}
				} else if v.Status != zone.VisitDeparted {
					_ = v.Depart(&zone.PreDeclaration{ID: "D"}, at)
				}
			}
		}
	}
	require.NotNil(t, frozen, "the run must pass the verified period's end")
	// Every part number balances, in every quarter, and quarters chain.
	q := start
	var prev map[string]int
	for k := 0; k < 4; k++ {
		next := q.AddDate(0, 3, 0)
		s := zone.Summarize(lots, visits, q.UTC(), next.UTC())
		closing := map[string]int{}
		for _, b := range append(s.Parts, s.RemovedParts...) {
			require.True(t, b.Balanced(), "seed %d quarter %d: %+v", seed, k, b)
			require.GreaterOrEqual(t, b.Closing, 0)
		}
		for _, b := range s.Parts {
			if prev != nil {
				require.Equal(t, prev["p"+b.PartNumber], b.Opening, "closing carries into the next opening")
			}
			closing["p"+b.PartNumber] = b.Closing
		}
		prev, q = closing, next
	}
	// The verified period reads as it did when it was verified.
	again := zone.Summarize(lots, visits, vs, ve)
	frozen.ComputedAt, again.ComputedAt = time.Time{}, time.Time{}
	require.Equal(t, *frozen, again, "seed %d: a verified period changed", seed)
}
