package bolt

import (
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// One crossed outbound pre-declaration evidences one re-export: the claim
// is kept per declaration and checked in the entry's own write
// transaction, so two re-exports racing with one declaration cannot both
// land.
var bucketTEEvidence = []byte("te_reexport_evidence") // pre-declaration id → entry id

// evidenceIndexed marks that entries re-exported before the claim existed
// have been indexed (once, by the first claim on an older file).
var evidenceIndexed = []byte("\x00indexed")

func init() { allBuckets = append(allBuckets, bucketTEEvidence) }

// claimReexportEvidence records that e's re-export rests on its
// pre-declaration; ECONFLICT naming the first entry when another entry's
// re-export already does. Entries without such evidence, or re-exported
// before (old already had it), claim nothing.
func claimReexportEvidence(tx *bbolt.Tx, old, e *zone.TemporaryEntry) error {
	pre := evidencePreDeclaration(e)
	if pre == "" || (old != nil && evidencePreDeclaration(old) == pre) {
		return nil
	}
	b := tx.Bucket(bucketTEEvidence)
	if b.Get(evidenceIndexed) == nil {
		if err := indexReexportEvidence(tx, b); err != nil {
			return err
		}
	}
	if first := b.Get([]byte(pre)); first != nil && string(first) != e.ID {
		return zone.ReexportEvidenceUsed(pre, string(first))
	}
	return wrapInternal(b.Put([]byte(pre), []byte(e.ID)))
}

// indexReexportEvidence claims, for every entry already re-exported on a
// pre-declaration, its declaration (the first entry by ID keeps it).
func indexReexportEvidence(tx *bbolt.Tx, b *bbolt.Bucket) error {
	err := tx.Bucket(bucketTempEntries).ForEach(func(k, v []byte) error {
		e, err := getTempEntry(tx, string(k))
		if err != nil {
			return err
		}
		if pre := evidencePreDeclaration(e); pre != "" && b.Get([]byte(pre)) == nil {
			return b.Put([]byte(pre), []byte(e.ID))
		}
		return nil
	})
	if err != nil {
		return wrapInternal(err)
	}
	return wrapInternal(b.Put(evidenceIndexed, nil))
}

func evidencePreDeclaration(e *zone.TemporaryEntry) string {
	if e.Status != zone.EntryReexported || e.ReexportEvidence == nil {
		return ""
	}
	return e.ReexportEvidence.PreDeclaration
}
