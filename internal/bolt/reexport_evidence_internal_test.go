package bolt

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestReexportEvidenceClaimIndexesOlderFiles: on a file whose entries were
// re-exported before the claim existed, the first claim indexes them, so a
// declaration already used is refused naming its entry.
func TestReexportEvidenceClaimIndexesOlderFiles(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "zone.db"), Options{})
	require.NoError(t, err)
	defer db.Close()
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	entry := func(id, pre string) *zone.TemporaryEntry {
		return &zone.TemporaryEntry{ID: id, Firm: "HNA-TECHNIC", Status: zone.EntryReexported, ReexportedAt: &at,
			ReexportEvidence: &zone.ReexportEvidence{PreDeclaration: pre}, UpdatedAt: at}
	}
	// As an older file holds it: the entry, no claim.
	require.NoError(t, db.bdb.Update(func(tx *bbolt.Tx) error {
		raw, err := json.Marshal(entry("01OLD", "01OUT"))
		require.NoError(t, err)
		return tx.Bucket(bucketTempEntries).Put([]byte("01OLD"), raw)
	}))
	err = db.update(func(tx *bbolt.Tx) error {
		return claimReexportEvidence(tx, &zone.TemporaryEntry{ID: "01NEW", Status: zone.EntryEntered}, entry("01NEW", "01OUT"))
	})
	require.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	assert.Contains(t, err.Error(), "01OLD")
	require.NoError(t, db.update(func(tx *bbolt.Tx) error {
		return claimReexportEvidence(tx, nil, entry("01NEW", "01OUT2"))
	}), "another declaration is free")
}
