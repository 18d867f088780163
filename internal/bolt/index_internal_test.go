package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestIndexesFollowChanges looks inside the index buckets: after transitions
// each declaration has exactly one entry per index, under its current value,
// and the per-value counts agree. (Lists re-check every filter on the
// record, so a stale entry would only cost time; this catches it.)
func TestIndexesFollowChanges(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "zone.db"), Options{})
	require.NoError(t, err)
	defer db.Close()
	s := NewDeclarationStore(db)
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for i := range 12 {
		d := &zone.PreDeclaration{ID: fmt.Sprintf("01J%05d", i), Firm: []string{"A", "B", "C"}[i%3],
			Gate: []string{"G-MRO-1", "G-MAIN"}[i%2], Status: zone.StatusSubmitted, UpdatedAt: at}
		_, _, err := s.CreateDeclaration(ctx, d, nil, zone.Change{Actor: "t", Action: "submit"})
		require.NoError(t, err)
	}
	for i := range 12 {
		if i%2 == 0 {
			continue
		}
		_, err := s.UpdateDeclaration(ctx, fmt.Sprintf("01J%05d", i), func(d *zone.PreDeclaration) (zone.Change, error) {
			if err := d.Apply(zone.ActClear, "c", at, ""); err != nil {
				return zone.Change{}, err
			}
			if i%3 == 0 {
				d.Gate = "G-OTHER" // a re-booked gate moves the gate index too
			}
			return zone.Change{Actor: "c", Action: "clear"}, nil
		})
		require.NoError(t, err)
	}

	require.NoError(t, db.view(func(tx *bbolt.Tx) error {
		counts := map[string]uint64{}
		for _, ix := range []struct {
			bucket []byte
			value  func(*zone.PreDeclaration) string
		}{
			{bucketIdxStatus, func(d *zone.PreDeclaration) string { return string(d.Status) }},
			{bucketIdxGate, func(d *zone.PreDeclaration) string { return d.Gate }},
			{bucketIdxFirm, func(d *zone.PreDeclaration) string { return d.Firm }},
		} {
			seen := map[string]bool{}
			require.NoError(t, tx.Bucket(ix.bucket).ForEach(func(k, _ []byte) error {
				i := bytes.IndexByte(k, 0)
				value, id := string(k[:i]), string(k[i+1:])
				require.False(t, seen[id], "%s: two entries for %s", ix.bucket, id)
				seen[id] = true
				d, err := getDeclaration(tx, id)
				require.NoError(t, err)
				require.Equal(t, ix.value(d), value, "%s: stale entry for %s", ix.bucket, id)
				counts[string(countKey(ix.bucket, value))]++
				return nil
			}))
			require.Len(t, seen, 12, "%s: every declaration indexed", ix.bucket)
		}
		stored := map[string]uint64{}
		require.NoError(t, tx.Bucket(bucketIdxCounts).ForEach(func(k, _ []byte) error {
			if n := getU64(tx.Bucket(bucketIdxCounts), k); n > 0 {
				stored[string(k)] = n
			}
			return nil
		}))
		require.Equal(t, counts, stored)
		return nil
	}))
}
