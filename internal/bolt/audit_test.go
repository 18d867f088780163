package bolt_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// auditedFixture writes five changes (five audit entries) and closes the file.
func auditedFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	a, _, err := f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 1), nil)
	require.NoError(t, err)
	b, _, err := f.svc.Submit(ctx, hna, engine("", "G-MAIN", 2), nil)
	require.NoError(t, err)
	_, err = f.svc.Decide(ctx, customs, a.ID, zone.ActClear, "")
	require.NoError(t, err)
	_, err = f.svc.Decide(ctx, customs, b.ID, zone.ActReject, "HS code does not match the engine")
	require.NoError(t, err)
	_, err = f.svc.Cancel(ctx, hna, a.ID, "flight moved")
	require.NoError(t, err)

	v, err := f.audit.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, v.Verified, "%+v", v)
	require.Equal(t, 5, v.Entries)
	require.NoError(t, f.db.Close())
	return f
}

// rawEdit opens the closed file with plain bbolt, as someone with disk access
// would, and changes the audit bucket.
func rawEdit(t *testing.T, path string, fn func(b *bbolt.Bucket)) {
	t.Helper()
	raw, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, raw.Update(func(tx *bbolt.Tx) error {
		fn(tx.Bucket([]byte("audit")))
		return nil
	}))
	require.NoError(t, raw.Close())
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func TestAuditTamperEditedEntry(t *testing.T) {
	f := auditedFixture(t)
	rawEdit(t, f.path, func(b *bbolt.Bucket) {
		var e map[string]any
		require.NoError(t, json.Unmarshal(b.Get(key(4)), &e))
		require.Equal(t, "customs:HK-0031", e["actor"])
		e["actor"] = "customs:HK-9999"
		raw, err := json.Marshal(e)
		require.NoError(t, err)
		require.NoError(t, b.Put(key(4), raw))
	})
	f.open(t, bolt.Options{})
	v, err := f.audit.VerifyAudit(context.Background())
	require.NoError(t, err)
	require.False(t, v.Verified)
	require.NotNil(t, v.FirstBad)
	require.Equal(t, uint64(4), v.FirstBad.Seq)
	require.Equal(t, "customs:HK-9999", v.FirstBad.Actor)
	require.Contains(t, v.Problem, "hash")
}

func TestAuditTamperResealedEntry(t *testing.T) {
	// Re-sealing the edited entry is not enough: the next one's prev_hash
	// no longer matches.
	f := auditedFixture(t)
	rawEdit(t, f.path, func(b *bbolt.Bucket) {
		var e zone.AuditEntry
		require.NoError(t, json.Unmarshal(b.Get(key(2)), &e))
		e.Reason = "nothing to see"
		e.Seal(e.PrevHash)
		raw, err := json.Marshal(e)
		require.NoError(t, err)
		require.NoError(t, b.Put(key(2), raw))
	})
	f.open(t, bolt.Options{})
	v, err := f.audit.VerifyAudit(context.Background())
	require.NoError(t, err)
	require.False(t, v.Verified)
	require.Equal(t, uint64(3), v.FirstBad.Seq)
	require.Contains(t, v.Problem, "prev_hash")
}

func TestAuditTamperDeletedEntry(t *testing.T) {
	f := auditedFixture(t)
	rawEdit(t, f.path, func(b *bbolt.Bucket) { require.NoError(t, b.Delete(key(3))) })
	f.open(t, bolt.Options{})
	v, err := f.audit.VerifyAudit(context.Background())
	require.NoError(t, err)
	require.False(t, v.Verified)
	require.Equal(t, uint64(4), v.FirstBad.Seq)
	require.Contains(t, v.Problem, "gap")
}

func TestAuditTamperDeletedTail(t *testing.T) {
	f := auditedFixture(t)
	rawEdit(t, f.path, func(b *bbolt.Bucket) { require.NoError(t, b.Delete(key(5))) })
	f.open(t, bolt.Options{})
	v, err := f.audit.VerifyAudit(context.Background())
	require.NoError(t, err)
	require.False(t, v.Verified, "cutting the newest entry must show")
	require.Equal(t, uint64(5), v.FirstBad.Seq)
}

func TestAuditEntriesPaging(t *testing.T) {
	ctx := context.Background()
	f := auditedFixture(t)
	f.open(t, bolt.Options{})
	var seqs []uint64
	var after uint64
	for {
		page, err := f.audit.AuditEntries(ctx, after, 2)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seqs = append(seqs, e.Seq)
		}
		after = page[len(page)-1].Seq
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, seqs)
	all, err := f.audit.AuditEntries(ctx, 0, 100)
	require.NoError(t, err)
	require.True(t, zone.VerifyChain(all).Verified, "entries as served verify with the domain's checker")

	// AppendAudit chains an entry from another store into the same trail.
	require.NoError(t, f.db.Update(func(tx *bbolt.Tx) error {
		return bolt.AppendAudit(tx, &zone.AuditEntry{Actor: "customs:HK-0031", Action: "ack", Entity: "alarm", EntityID: "A-1"})
	}))
	v, err := f.audit.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, v.Verified, "%+v", v)
	require.Equal(t, 6, v.Entries)
}

// TestAuditVerifyLongChain crosses several verification chunks and finds a
// tampered entry deep in the chain.
func TestAuditVerifyLongChain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	const total = 30_000
	for start := 0; start < total; start += 10_000 {
		require.NoError(t, f.db.Update(func(tx *bbolt.Tx) error {
			for i := start; i < start+10_000; i++ {
				if err := bolt.AppendAudit(tx, &zone.AuditEntry{Actor: "gate:G-MRO-1", Action: "cross", Entity: "crossing", EntityID: "x"}); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	began := time.Now()
	v, err := f.audit.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, v.Verified, "%+v", v)
	require.Equal(t, total, v.Entries)
	t.Logf("verified %d entries in %s", total, time.Since(began))

	require.NoError(t, f.db.Close())
	rawEdit(t, f.path, func(b *bbolt.Bucket) {
		var e map[string]any
		require.NoError(t, json.Unmarshal(b.Get(key(21_234)), &e))
		e["entity_id"] = "y"
		raw, err := json.Marshal(e)
		require.NoError(t, err)
		require.NoError(t, b.Put(key(21_234), raw))
	})
	f.open(t, bolt.Options{})
	v, err = f.audit.VerifyAudit(ctx)
	require.NoError(t, err)
	require.False(t, v.Verified)
	require.Equal(t, uint64(21_234), v.FirstBad.Seq)
	require.Equal(t, total, v.Entries)
}

func TestAuditHeadIsTheLastEntry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	head, err := f.audit.AuditHead(ctx)
	require.NoError(t, err)
	require.Zero(t, head, "an empty trail")
	for range 3 {
		_, _, err := f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 1), nil)
		require.NoError(t, err)
	}
	head, err = f.audit.AuditHead(ctx)
	require.NoError(t, err)
	es, err := f.audit.AuditEntries(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.Equal(t, es[len(es)-1].Seq, head)
}
