package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

func TestDeclarationRoundtrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	d := f.create(t, engine("HNA-TECHNIC", "G-MRO-1", 1))

	got, err := f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.ID, got.ID)
	require.Equal(t, "956-001", got.Object.ESN)
	require.Equal(t, zone.StatusSubmitted, got.Status)
	require.True(t, d.CreatedAt.Equal(got.CreatedAt))

	up := f.apply(t, d.ID, zone.ActClear)
	require.Equal(t, zone.StatusCleared, up.Status)
	got, err = f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusCleared, got.Status)
	require.Equal(t, 2, got.Version)
	require.Len(t, got.History, 2)
	require.Equal(t, "test clear", got.History[1].Reason)

	// Survives a restart.
	require.NoError(t, f.db.Close())
	f.open(t, bolt.Options{})
	got, err = f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusCleared, got.Status)

	_, err = f.store.Declaration(ctx, "01NOPE")
	requireCode(t, zone.ENOTFOUND, err)
	_, err = f.store.UpdateDeclaration(ctx, "01NOPE", func(*zone.PreDeclaration) (zone.Change, error) {
		t.Fatal("fn must not run for an unknown id")
		return zone.Change{}, nil
	})
	requireCode(t, zone.ENOTFOUND, err)
}

func TestDeclarationsListFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	firms := []string{"HNA-TECHNIC", "GAMECO", "AMECO"}
	gates := []string{"G-MRO-1", "G-MAIN"}
	model := map[string]*zone.PreDeclaration{}
	for i := range 41 {
		d := f.create(t, engine(firms[i%3], gates[(i/3)%2], i))
		model[d.ID] = d
	}
	// Move some on, so the status index must follow.
	n := 0
	for _, id := range sortedIDs(model) {
		switch n % 4 {
		case 1:
			model[id] = f.apply(t, id, zone.ActClear)
		case 2:
			f.apply(t, id, zone.ActInspect)
			model[id] = f.apply(t, id, zone.ActReject)
		case 3:
			f.apply(t, id, zone.ActClear)
			model[id] = f.apply(t, id, zone.ActCross)
		}
		n++
	}

	filters := []zone.DeclarationFilter{{}}
	for _, firm := range append(firms, "") {
		for _, gate := range append(gates, "") {
			for _, st := range []zone.Status{"", zone.StatusSubmitted, zone.StatusCleared, zone.StatusRejected, zone.StatusCrossed, zone.StatusInspection} {
				filters = append(filters, zone.DeclarationFilter{Firm: firm, Gate: gate, Status: st})
			}
		}
	}
	for _, flt := range filters {
		for _, limit := range []int{1, 4, 7, 100} {
			name := fmt.Sprintf("firm=%s gate=%s status=%s limit=%d", flt.Firm, flt.Gate, flt.Status, limit)
			var want []string
			for _, id := range sortedIDs(model) {
				d := model[id]
				if (flt.Firm == "" || d.Firm == flt.Firm) && (flt.Gate == "" || d.Gate == flt.Gate) && (flt.Status == "" || d.Status == flt.Status) {
					want = append(want, id)
				}
			}
			slices.Reverse(want) // newest first

			var got []string
			flt := flt
			flt.Limit = limit
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100, name+": cursor does not end")
				page, err := f.store.Declarations(ctx, flt)
				require.NoError(t, err, name)
				require.LessOrEqual(t, len(page.Items), limit, name)
				for _, d := range page.Items {
					got = append(got, d.ID)
					require.Equal(t, model[d.ID].Status, d.Status, name)
				}
				if page.NextCursor == "" {
					break
				}
				require.Len(t, page.Items, limit, name+": a page before the last must be full")
				flt.Cursor = page.NextCursor
			}
			if len(want) == 0 {
				require.Empty(t, got, name)
			} else {
				require.Equal(t, want, got, name)
			}
		}
	}

	_, err := f.store.Declarations(ctx, zone.DeclarationFilter{Cursor: "!!not-base64!!"})
	requireCode(t, zone.EINVALID, err)
}

func sortedIDs(m map[string]*zone.PreDeclaration) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestIdempotentReplay(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	idem := &zone.Idempotency{Scope: hna.Actor(), Key: "key-1", BodyHash: "hash-a"}

	first, replayed, err := f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 1), idem)
	require.NoError(t, err)
	require.False(t, replayed)
	audit, depth := f.counts(t)
	require.Equal(t, 1, audit)
	require.Equal(t, 1, depth)

	again, replayed, err := f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 1), idem)
	require.NoError(t, err)
	require.True(t, replayed)
	require.Equal(t, first.ID, again.ID)
	require.Equal(t, first.Object, again.Object)
	a2, d2 := f.counts(t)
	require.Equal(t, audit, a2, "a replay must not add an audit entry")
	require.Equal(t, depth, d2, "a replay must not add an outbox message")
	page, err := f.store.Declarations(ctx, zone.DeclarationFilter{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)

	_, _, err = f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 2), &zone.Idempotency{Scope: hna.Actor(), Key: "key-1", BodyHash: "hash-b"})
	requireCode(t, zone.EUNPROCESSABLE, err)

	// The same key in another firm's scope is another request.
	gameco := zone.Principal{Role: zone.RoleMRO, Firm: "GAMECO"}
	other, replayed, err := f.svc.Submit(ctx, gameco, engine("", "G-MRO-1", 3), &zone.Idempotency{Scope: gameco.Actor(), Key: "key-1", BodyHash: "hash-b"})
	require.NoError(t, err)
	require.False(t, replayed)
	require.NotEqual(t, first.ID, other.ID)
	a3, d3 := f.counts(t)
	require.Equal(t, 2, a3)
	require.Equal(t, 2, d3)
}

func TestUpdateFnErrorWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	d := f.create(t, engine("HNA-TECHNIC", "G-MRO-1", 1))
	audit, depth := f.counts(t)

	boom := zone.Errorf(zone.ECONFLICT, "refused")
	_, err := f.store.UpdateDeclaration(ctx, d.ID, func(d *zone.PreDeclaration) (zone.Change, error) {
		d.Status = zone.StatusCleared // changed, then refused: must not stick
		d.Gate = "G-MAIN"
		return zone.Change{Actor: "x", Action: "clear", Messages: []zone.OutboxMessage{{Topic: "t", Value: []byte("{}")}}}, boom
	})
	require.Same(t, boom, err, "fn's error must come back unchanged")

	plain := errors.New("plain")
	_, err = f.store.UpdateDeclaration(ctx, d.ID, func(d *zone.PreDeclaration) (zone.Change, error) { return zone.Change{}, plain })
	require.Same(t, plain, err)

	// An illegal transition through the service is refused the same way.
	_, err = f.svc.Arrive(ctx, zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}, d.ID, nil)
	requireCode(t, zone.ECONFLICT, err)

	got, err := f.store.Declaration(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, zone.StatusSubmitted, got.Status)
	require.Equal(t, "G-MRO-1", got.Gate)
	require.Equal(t, 1, got.Version)
	a2, d2 := f.counts(t)
	require.Equal(t, audit, a2)
	require.Equal(t, depth, d2)
	page, err := f.store.Declarations(ctx, zone.DeclarationFilter{Status: zone.StatusCleared})
	require.NoError(t, err)
	require.Empty(t, page.Items, "the status index must not have moved")
	page, err = f.store.Declarations(ctx, zone.DeclarationFilter{Gate: "G-MAIN"})
	require.NoError(t, err)
	require.Empty(t, page.Items, "the gate index must not have moved")
}

// TestServiceClearWritesDeclarationAndClearance runs the real use case on the
// store: a clear lands the declaration, its audit entry and both messages in
// one transaction, declaration event first.
func TestServiceClearWritesDeclarationAndClearance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	d, _, err := f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 7), nil)
	require.NoError(t, err)
	require.Equal(t, "HNA-TECHNIC", d.Firm)

	cleared, err := f.svc.Decide(ctx, customs, d.ID, zone.ActClear, "")
	require.NoError(t, err)
	require.Equal(t, zone.StatusCleared, cleared.Status)
	require.NotNil(t, cleared.DecidedAt)

	msgs, err := f.outbox.Pending(ctx, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 3, "submit event, clear event, clearance")
	for i := 1; i < len(msgs); i++ {
		require.Greater(t, msgs[i].Seq, msgs[i-1].Seq)
	}
	require.Equal(t, zone.TopicDeclarations, msgs[0].Topic)
	require.Equal(t, zone.TopicDeclarations, msgs[1].Topic)
	require.Equal(t, zone.TopicClearances, msgs[2].Topic)
	for _, m := range msgs {
		require.Equal(t, d.ID, m.Key)
	}
	ev := decodeEvent(t, msgs[1].Value)
	require.Equal(t, zone.TypeDeclarationChanged, ev.Type)
	var decl zone.PreDeclaration
	require.NoError(t, jsonUnmarshal(ev.Data, &decl))
	require.Equal(t, zone.StatusCleared, decl.Status)
	ev = decodeEvent(t, msgs[2].Value)
	require.Equal(t, zone.TypeClearance, ev.Type)
	var c zone.Clearance
	require.NoError(t, jsonUnmarshal(ev.Data, &c))
	require.Equal(t, zone.ClearanceActive, c.State)
	require.Equal(t, d.ID, c.ID)
	require.Equal(t, "G-MRO-1", c.Gate)

	entries, err := f.audit.AuditEntries(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "submit", entries[0].Action)
	require.Empty(t, entries[0].Before)
	require.Equal(t, "clear", entries[1].Action)
	require.Equal(t, "customs:HK-0031", entries[1].Actor)
	require.Equal(t, "predeclaration", entries[1].Entity)
	require.Equal(t, d.ID, entries[1].EntityID)
	require.Contains(t, string(entries[1].Before), `"status":"submitted"`)
	require.Contains(t, string(entries[1].After), `"status":"cleared"`)

	// Another firm cannot touch it, and nothing is written for the attempt.
	_, err = f.svc.Cancel(ctx, zone.Principal{Role: zone.RoleMRO, Firm: "GAMECO"}, d.ID, "mine now")
	requireCode(t, zone.ENOTFOUND, err)
	depth, err := f.outbox.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, depth)
}

// TestConcurrentChangesKeepOneChain: writers in parallel still produce one
// unbroken audit chain and one outbox message per change.
func TestConcurrentChangesKeepOneChain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	const workers, each = 8, 15
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			p := zone.Principal{Role: zone.RoleMRO, Firm: fmt.Sprintf("FIRM-%d", w)}
			for i := range each {
				// Each its own stand tag: look-alike clearances are refused.
				d, _, err := f.svc.Submit(ctx, p, engine("", "G-MRO-1", w*each+i), nil)
				if err == nil {
					_, err = f.svc.Decide(ctx, customs, d.ID, zone.ActClear, "")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	audit, depth := f.counts(t)
	require.Equal(t, workers*each*2, audit)
	require.Equal(t, workers*each*3, depth, "submit event, clear event and clearance per declaration")
	page, err := f.store.Declarations(ctx, zone.DeclarationFilter{Status: zone.StatusCleared, Firm: "FIRM-3", Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Items, each)
}
