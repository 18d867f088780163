package bolt_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

var gameco = zone.Principal{Role: zone.RoleMRO, Firm: "GAMECO"}

func TestTemporaryEntriesStoreAndList(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := tempEntryService(db, newClock().Now)

	var hnaIDs []string
	for _, at := range []string{"2026-01-10T00:00:00Z", "2026-03-10T00:00:00Z", "2026-05-10T00:00:00Z"} {
		e, _, err := svc.Create(ctx, hna, aircraftEntry(at), nil)
		require.NoError(t, err)
		hnaIDs = append(hnaIDs, e.ID)
	}
	other, _, err := svc.Create(ctx, gameco, aircraftEntry("2026-02-01T00:00:00Z"), nil)
	require.NoError(t, err)
	_, err = svc.Reexport(ctx, hna, hnaIDs[0], zone.ReexportEvidence{ExportDeclaration: "460120261000654321"})
	require.NoError(t, err)

	page, err := svc.List(ctx, hna, zone.TemporaryEntryFilter{})
	require.NoError(t, err)
	require.Len(t, page.Items, 3, "a firm sees its own")
	assert.Equal(t, hnaIDs[2], page.Items[0].ID, "newest first")

	page, err = svc.List(ctx, customs, zone.TemporaryEntryFilter{})
	require.NoError(t, err)
	assert.Len(t, page.Items, 4, "customs sees all")

	page, err = svc.List(ctx, hna, zone.TemporaryEntryFilter{Status: zone.EntryEntered})
	require.NoError(t, err)
	assert.Len(t, page.Items, 2)

	due := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC) // deadlines: 07-10, 09-10, 11-10
	page, err = svc.List(ctx, hna, zone.TemporaryEntryFilter{DueBefore: &due})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)

	page, err = svc.List(ctx, hna, zone.TemporaryEntryFilter{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.NotEmpty(t, page.NextCursor)
	next, err := svc.List(ctx, hna, zone.TemporaryEntryFilter{Limit: 2, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Len(t, next.Items, 1)
	assert.Equal(t, hnaIDs[0], next.Items[0].ID)
	assert.Empty(t, next.NextCursor)

	_, err = svc.Get(ctx, hna, other.ID)
	assert.Equal(t, zone.ENOTFOUND, zone.ErrorCode(err), "another firm's entry does not exist for HNA")
	_, err = svc.Reexport(ctx, hna, other.ID, zone.ReexportEvidence{ExportDeclaration: "460120261000654321"})
	assert.Equal(t, zone.ENOTFOUND, zone.ErrorCode(err))
	_, err = svc.Extend(ctx, hna, other.ID, 1, "please")
	assert.Equal(t, zone.EFORBIDDEN, zone.ErrorCode(err), "only customs extends")

	_, err = svc.Reexport(ctx, hna, hnaIDs[0], zone.ReexportEvidence{ExportDeclaration: "460120261000654321"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "second re-export")

	v, err := bolt.NewAuditTrail(db).VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.Verified)
	assert.Equal(t, 5, v.Entries, "4 entries + 1 re-export; refusals leave no trace")
	assert.Len(t, recordEvents(t, db)[zone.TypeTemporaryEntryChanged], 5)
}

func TestTemporaryEntryIdempotencyAndLink(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	svc := tempEntryService(db, newClock().Now)
	idem := &zone.Idempotency{Scope: hna.Actor(), Key: "k1", BodyHash: "h1"}
	a, replayed, err := svc.Create(ctx, hna, aircraftEntry("2026-11-20T08:00:00Z"), idem)
	require.NoError(t, err)
	require.False(t, replayed)
	b, replayed, err := svc.Create(ctx, hna, aircraftEntry("2026-11-20T08:00:00Z"), idem)
	require.NoError(t, err)
	assert.True(t, replayed)
	assert.Equal(t, a.ID, b.ID)
	_, _, err = svc.Create(ctx, hna, aircraftEntry("2026-11-20T08:00:00Z"), &zone.Idempotency{Scope: hna.Actor(), Key: "k1", BodyHash: "h2"})
	assert.Equal(t, zone.EUNPROCESSABLE, zone.ErrorCode(err))

	decls := &zone.DeclarationService{Store: bolt.NewDeclarationStore(db), Now: newClock().Now, NewID: newIDs().New, Source: "t"}
	in := engine("HNA-TECHNIC", "G-MRO-1", 1)
	in.Regime = zone.RegimeTemporaryEntryRepair
	d, _, err := decls.Submit(ctx, hna, in, nil)
	require.NoError(t, err)
	e := aircraftEntry("2026-11-20T08:00:00Z")
	e.PreDeclarationID = d.ID
	_, _, err = svc.Create(ctx, hna, e, nil)
	assert.Equal(t, zone.EUNPROCESSABLE, zone.ErrorCode(err), "not crossed yet")
	crossedAt := newClock().Now().Add(-time.Hour).UTC()
	_, err = bolt.NewDeclarationStore(db).UpdateDeclaration(ctx, d.ID, func(d *zone.PreDeclaration) (zone.Change, error) {
		d.Status, d.CrossedAt = zone.StatusCrossed, &crossedAt
		return zone.Change{Actor: "gate:G-MRO-1", Action: "cross"}, nil
	})
	require.NoError(t, err)
	linked, _, err := svc.Create(ctx, hna, e, nil)
	require.NoError(t, err)
	assert.Equal(t, d.ID, linked.PreDeclarationID)
	assert.Equal(t, crossedAt, linked.EnteredAt, "the crossing is the entry")
	_, _, err = svc.Create(ctx, gameco, e, nil)
	assert.Equal(t, zone.EUNPROCESSABLE, zone.ErrorCode(err), "another firm's pre-declaration")
	e.PreDeclarationID = "01NOPE"
	_, _, err = svc.Create(ctx, hna, e, nil)
	assert.Equal(t, zone.EUNPROCESSABLE, zone.ErrorCode(err))
}
