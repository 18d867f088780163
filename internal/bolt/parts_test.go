package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

func partsService(db *bolt.DB, now func() time.Time) *zone.PartsService {
	return &zone.PartsService{Store: bolt.NewPartsStore(db), Now: now, NewID: newIDs().New, Source: "bondgate/test"}
}

func blades(q int, serials ...string) zone.PartsLot {
	return zone.PartsLot{PartNumber: "1795M36P01", Description: "HPT blade", Quantity: q, Unit: "EA", Serials: serials,
		ImportDeclaration: "460120261000123456", DutyExempted: zone.Money{Amount: "86400.00", Currency: "CNY"}}
}

var taskCard = &zone.TaskCard{Number: "TC-2026-1187", AircraftRegistration: "B-1234"}

func TestSerialsAreUniqueAcrossTheFirmsOpenLots(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := partsService(db, newClock().Now)
	a, _, err := svc.CreateLot(ctx, hna, blades(0, "SN1", "SN2"), nil)
	require.NoError(t, err)
	_, _, err = svc.CreateLot(ctx, hna, blades(0, "SN2", "SN3"), nil)
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "SN2 is in stock in lot A")
	_, _, err = svc.CreateLot(ctx, gameco, blades(0, "SN2"), nil)
	require.NoError(t, err, "another firm's serials are its own")

	// SN2 leaves on an aircraft; a new import of SN2 may come in.
	_, _, _, err = svc.Move(ctx, hna, a.ID, zone.Movement{Kind: zone.MoveExitIsland, Serials: []string{"SN2"}, TaskCard: taskCard}, nil)
	require.NoError(t, err)
	b, _, err := svc.CreateLot(ctx, hna, blades(0, "SN2", "SN3"), nil)
	require.NoError(t, err)
	// Now SN2 cannot come back into lot A while lot B holds it.
	before, err := svc.Lot(ctx, hna, a.ID)
	require.NoError(t, err)
	_, _, _, err = svc.Move(ctx, hna, a.ID, zone.Movement{Kind: zone.MoveReturn, Serials: []string{"SN2"}}, nil)
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	after, err := svc.Lot(ctx, hna, a.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the refusal changed nothing")
	_, _, _, err = svc.Move(ctx, hna, b.ID, zone.Movement{Kind: zone.MoveConsume, Serials: []string{"SN2"}}, nil)
	require.NoError(t, err)
	_, _, _, err = svc.Move(ctx, hna, a.ID, zone.Movement{Kind: zone.MoveReturn, Serials: []string{"SN2"}}, nil)
	require.NoError(t, err, "no lot holds SN2 in stock any more: the rule is one lot in stock at a time")
}

func TestMovementIdempotencyAndApproval(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := partsService(db, newClock().Now)
	svc.ExitApprovalAbove = big.NewRat(10000, 1)
	l, _, err := svc.CreateLot(ctx, hna, blades(24), nil)
	require.NoError(t, err)
	idem := &zone.Idempotency{Scope: hna.Actor(), Key: "mv-1", BodyHash: "h"}
	_, m1, replayed, err := svc.Move(ctx, hna, l.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 2}, idem)
	require.NoError(t, err)
	require.False(t, replayed)
	got, m2, replayed, err := svc.Move(ctx, hna, l.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 2}, idem)
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, m1.ID, m2.ID)
	assert.Equal(t, 22, got.View().Balance, "consumed once")

	_, pend, _, err := svc.Move(ctx, hna, l.ID, zone.Movement{Kind: zone.MoveExitIsland, Quantity: 10, TaskCard: taskCard}, nil)
	require.NoError(t, err)
	require.Equal(t, zone.MovementPending, pend.Status, "36000 of duty is above 10000")
	_, _, err = svc.Decide(ctx, hna, l.ID, pend.ID, true, "")
	assert.Equal(t, zone.EFORBIDDEN, zone.ErrorCode(err), "only customs approves")
	got, dm, err := svc.Decide(ctx, customs, l.ID, pend.ID, true, "")
	require.NoError(t, err)
	assert.Equal(t, zone.MovementDone, dm.Status)
	assert.Equal(t, 12, got.View().Balance)

	v, err := bolt.NewAuditTrail(db).VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.Verified)
	assert.Equal(t, 4, v.Entries, "import, consume, exit, approval")
	assert.Len(t, recordEvents(t, db)[zone.TypePartsLotChanged], 4)
}

// TestPartsStoreProperty runs random movements through the service and the
// real bbolt store against a model: the balance never goes negative, the
// pledge never exceeds it, every refusal leaves the stored lot, the audit
// trail and the outbox exactly as they were, and the ledger closes.
func TestPartsStoreProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PARTS_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (replay with PARTS_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 7))
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := partsService(db, newClock().Now)
	svc.ExitApprovalAbove = big.NewRat(20000, 1)
	l, _, err := svc.CreateLot(ctx, hna, blades(20), nil)
	require.NoError(t, err)

	// One aircraft: installed, exited, returned and pledged installed on it.
	balance, pledged, pending := 20, 0, 0
	inst, exited, returned, pledgedInst := 0, 0, 0, 0
	var pendingIDs []string
	trail := bolt.NewAuditTrail(db)
	for step := range 150 {
		auditBefore, err := trail.VerifyAudit(ctx)
		require.NoError(t, err)
		depthBefore, err := db.Outbox().Depth(ctx)
		require.NoError(t, err)
		before, err := svc.Lot(ctx, hna, l.ID)
		require.NoError(t, err)

		if len(pendingIDs) > 0 && r.IntN(4) == 0 {
			id := pendingIDs[0]
			pendingIDs = pendingIDs[1:]
			var q int
			var kind zone.MovementKind
			for _, m := range before.Movements {
				if m.ID == id {
					q, kind = m.Quantity, m.Kind
				}
			}
			approve := r.IntN(2) == 0
			_, _, err := svc.Decide(ctx, customs, l.ID, id, approve, "checked")
			require.NoError(t, err)
			pending -= q
			if approve {
				balance -= q
				if kind == zone.MoveExitIsland {
					exited += q
				}
			}
			continue
		}
		kind := zone.MovementKinds[r.IntN(len(zone.MovementKinds))]
		q := 1 + r.IntN(9)
		m := zone.Movement{Kind: kind, Quantity: q, GuaranteeRef: "BG-2026-001"}
		installed := (kind == zone.MovePledge || kind == zone.MoveReleasePledge) && r.IntN(2) == 0
		if kind == zone.MoveInstall || kind == zone.MoveReturn || installed {
			m.AircraftRegistration = "B-1234"
		}
		if kind == zone.MoveExitIsland {
			m.TaskCard = &zone.TaskCard{Number: "TC-" + fmt.Sprint(step), AircraftRegistration: "B-1234"}
		}
		out := inst + exited - returned
		var allowed bool
		switch {
		case kind == zone.MoveReturn:
			allowed = q <= out-pledgedInst
		case installed && kind == zone.MovePledge:
			allowed = q <= min(inst, out)-pledgedInst
		case installed:
			allowed = q <= pledgedInst
		case kind == zone.MoveReleasePledge:
			allowed = q <= pledged
		default:
			allowed = q <= balance-pledged-pending
		}
		_, mv, _, err := svc.Move(ctx, hna, l.ID, m, nil)
		if !allowed {
			require.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "step %d: %s of %d should be refused (%v)", step, kind, q, err)
			after, err := svc.Lot(ctx, hna, l.ID)
			require.NoError(t, err)
			b1, _ := json.Marshal(before)
			b2, _ := json.Marshal(after)
			require.JSONEq(t, string(b1), string(b2), "step %d: refused but the lot changed", step)
			auditAfter, err := trail.VerifyAudit(ctx)
			require.NoError(t, err)
			require.Equal(t, auditBefore.Entries, auditAfter.Entries, "a refusal writes no audit entry")
			depthAfter, err := db.Outbox().Depth(ctx)
			require.NoError(t, err)
			require.Equal(t, depthBefore, depthAfter, "a refusal announces nothing")
			continue
		}
		require.NoError(t, err, "step %d: %s of %d", step, kind, q)
		switch {
		case kind == zone.MoveConsume:
			balance -= q
		case kind == zone.MoveInstall:
			balance -= q
			inst += q
		case kind == zone.MoveScrap || kind == zone.MoveExitIsland:
			if mv.Status == zone.MovementPending || mv.Status == zone.MovementRequested {
				pending += q
				pendingIDs = append(pendingIDs, mv.ID)
			} else {
				balance -= q
				exited += q
			}
		case kind == zone.MoveReturn:
			balance += q
			returned += q
		case installed && kind == zone.MovePledge:
			pledgedInst += q
		case installed:
			pledgedInst -= q
		case kind == zone.MovePledge:
			pledged += q
		case kind == zone.MoveReleasePledge:
			pledged -= q
		}
		got, err := svc.Lot(ctx, hna, l.ID)
		require.NoError(t, err)
		v := got.View()
		require.Equal(t, balance, v.Balance, "step %d", step)
		require.Equal(t, pledged+pledgedInst, v.Pledged, "step %d", step)
		require.Equal(t, pledgedInst, v.PledgedInstalled, "step %d", step)
		require.GreaterOrEqual(t, v.Balance, 0)
		require.LessOrEqual(t, v.Pledged-v.PledgedInstalled, v.Balance)

		lg, err := svc.LotLedger(ctx, hna, l.ID, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.Len(t, lg.Lots, 1)
		require.Equal(t, balance, lg.Lots[0].Closing)
		require.True(t, lg.Lots[0].Closes())
	}
	final, err := trail.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, final.Verified, final.Problem)
}

func TestFirmLedgerIsolation(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := partsService(db, newClock().Now)
	a, _, err := svc.CreateLot(ctx, hna, blades(24), nil)
	require.NoError(t, err)
	_, _, err = svc.CreateLot(ctx, gameco, blades(5), nil)
	require.NoError(t, err)
	_, _, _, err = svc.Move(ctx, hna, a.ID, zone.Movement{Kind: zone.MoveExitIsland, Quantity: 4, TaskCard: taskCard}, nil)
	require.NoError(t, err)

	lg, err := svc.FirmLedger(ctx, hna, "GAMECO", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Len(t, lg.Lots, 1, "a firm's ledger is its own whatever it asks")
	assert.Equal(t, "HNA-TECHNIC", lg.Firm)
	assert.Equal(t, 20, lg.Totals[0].Closing)
	assert.Equal(t, "14400.00", lg.Totals[0].DutyExcepted.Amount)
	assert.Equal(t, "0.00", lg.Totals[0].DutyDue.Amount)

	lg, err = svc.FirmLedger(ctx, customs, "", time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.Len(t, lg.Lots, 2, "customs sees every firm")
	assert.Equal(t, 25, lg.Totals[0].Closing)

	_, err = svc.LotLedger(ctx, gameco, a.ID, time.Time{}, time.Time{})
	assert.Equal(t, zone.ENOTFOUND, zone.ErrorCode(err))
	_, _, _, err = svc.Move(ctx, gameco, a.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 1}, nil)
	assert.Equal(t, zone.ENOTFOUND, zone.ErrorCode(err))
	page, err := svc.Lots(ctx, gameco, zone.PartsLotFilter{Firm: "HNA-TECHNIC"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	assert.Equal(t, "GAMECO", page.Items[0].Firm)
}

// TestLotEventCarriesTheChangeNotTheHistory records 200 small movements with
// long notes on one lot (560 such once made events of about 1.2 MB that Kafka
// refused): each event carries the lot's position and its one movement, so
// its size stays the same however long the lot's history grows.
func TestLotEventCarriesTheChangeNotTheHistory(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := partsService(db, newClock().Now)
	l, _, err := svc.CreateLot(ctx, hna, blades(10000), nil)
	require.NoError(t, err)
	note := strings.Repeat("borescope finding, see attached work order; ", 60) // about 2.6 KB
	const moves = 200
	var last *zone.Movement
	for i := 0; i < moves; i++ {
		_, last, _, err = svc.Move(ctx, hna, l.ID, zone.Movement{Kind: zone.MoveConsume, Quantity: 1, Note: note}, nil)
		require.NoError(t, err)
	}
	msgs, err := db.Outbox().Pending(ctx, 10000)
	require.NoError(t, err)
	require.Len(t, msgs, moves+1)
	largest := 0
	for _, m := range msgs {
		largest = max(largest, len(m.Value))
	}
	assert.Less(t, largest, 8<<10, "the largest event is %d bytes: it must not carry the history", largest)
	var ev zone.Event
	require.NoError(t, json.Unmarshal(msgs[len(msgs)-1].Value, &ev))
	var got struct {
		Balance   int             `json:"balance"`
		Movements json.RawMessage `json:"movements"`
		Movement  *zone.Movement  `json:"movement"`
	}
	require.NoError(t, json.Unmarshal(ev.Data, &got))
	assert.Equal(t, 10000-moves, got.Balance)
	assert.Equal(t, strconv.Itoa(moves), string(got.Movements[:min(len(got.Movements), 8)]), "a count, which tells a reader whether it missed one")
	require.NotNil(t, got.Movement)
	assert.Equal(t, last.ID, got.Movement.ID, "the movement this change made")
}
