package bolt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"
)

// mirror is a Replicator that applies each record, through its encoding,
// to a replica file: what a standby does with the log.
type mirror struct {
	replica *DB
	epoch   uint64
	fail    bool
	records int
}

func (m *mirror) Next(last Position) (Position, error) {
	return Position{Epoch: m.epoch, Seq: last.Seq + 1}, nil
}

func (m *mirror) Replicate(rec TxRecord) error {
	if m.fail {
		return errors.New("log refused it")
	}
	raw, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	var back TxRecord
	if err := back.UnmarshalBinary(raw); err != nil {
		return err
	}
	m.records++
	_, err = m.replica.Apply(back)
	return err
}

// dump lists every bucket, key, value and sequence of a file, nested.
func dump(t *testing.T, db *DB) string {
	var sb strings.Builder
	var walk func(prefix string, b *bbolt.Bucket)
	walk = func(prefix string, b *bbolt.Bucket) {
		fmt.Fprintf(&sb, "%s seq=%d\n", prefix, b.Sequence())
		require.NoError(t, b.ForEach(func(k, v []byte) error {
			if v == nil {
				walk(prefix+"/"+string(k), b.Bucket(k))
			} else {
				fmt.Fprintf(&sb, "%s %q=%q\n", prefix, k, v)
			}
			return nil
		}))
	}
	require.NoError(t, db.bdb.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			walk(string(name), b)
			return nil
		})
	}))
	return sb.String()
}

func openPair(t *testing.T) (*DB, *DB, *mirror) {
	dir := t.TempDir()
	primary, err := Open(filepath.Join(dir, "primary.db"), Options{NoSync: true})
	require.NoError(t, err)
	replica, err := Open(filepath.Join(dir, "replica.db"), Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { primary.Close(); replica.Close() })
	m := &mirror{replica: replica, epoch: 1}
	require.NoError(t, primary.SetReplicator(m))
	return primary, replica, m
}

// TestChangelogReplicaMatchesPrimary: random transactions (puts large and
// small, deletes, nested buckets made inline and grown past a page, bucket
// sequences, buckets dropped) leave a replica that applied only the
// captured records identical to the primary.
func TestChangelogReplicaMatchesPrimary(t *testing.T) {
	primary, replica, m := openPair(t)
	rng := rand.New(rand.NewPCG(18, 2))
	key := func() []byte { return fmt.Appendf(nil, "k%04d", rng.IntN(300)) }
	size := func() int {
		if rng.IntN(20) == 0 {
			return 6000 // past a page: overflow pages
		}
		return rng.IntN(1500)
	}
	for i := range 200 {
		err := primary.update(func(tx *bbolt.Tx) error {
			for range 1 + rng.IntN(20) {
				top := []byte(fmt.Sprintf("b%d", rng.IntN(3)))
				b, err := tx.CreateBucketIfNotExists(top)
				if err != nil {
					return err
				}
				switch r := rng.IntN(10); {
				case r < 5:
					if err := b.Put(key(), []byte(strings.Repeat("v", size()))); err != nil {
						return err
					}
				case r < 7:
					if err := b.Delete(key()); err != nil {
						return err
					}
				case r < 8:
					nb, err := b.CreateBucketIfNotExists([]byte(fmt.Sprintf("n%d", rng.IntN(3))))
					if err != nil {
						return err
					}
					if _, err := nb.NextSequence(); err != nil {
						return err
					}
					if err := nb.Put(key(), []byte(strings.Repeat("w", rng.IntN(200)))); err != nil {
						return err
					}
				case r < 9:
					name := []byte(fmt.Sprintf("n%d", rng.IntN(3)))
					if b.Bucket(name) != nil && rng.IntN(4) == 0 {
						if err := b.DeleteBucket(name); err != nil {
							return err
						}
					}
				default:
					if _, err := b.NextSequence(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		require.NoError(t, err, "transaction %d", i)
		if i%10 == 9 { // a missed write stays missed: checking every tenth catches it
			require.Equal(t, dump(t, primary), dump(t, replica), "after transaction %d", i)
		}
	}
	require.Equal(t, 200, m.records)
}

// TestChangelogRefusedWriteIsUndone: when the log refuses a transaction the
// primary's file is as it was before it, and the write's caller gets the
// refusal.
func TestChangelogRefusedWriteIsUndone(t *testing.T) {
	primary, replica, m := openPair(t)
	put := func(k, v string) error {
		return primary.update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("things"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), []byte(v))
		})
	}
	require.NoError(t, put("a", "1"))
	before := dump(t, primary)
	m.fail = true
	require.ErrorContains(t, put("a", "2"), "log refused it")
	require.Equal(t, before, dump(t, primary))
	m.fail = false
	require.NoError(t, put("b", "3"))
	require.Equal(t, dump(t, primary), dump(t, replica))
	pos, err := replica.Position()
	require.NoError(t, err)
	require.Equal(t, Position{Epoch: 1, Seq: 2}, pos)
}

// TestChangelogApplyRefusesAGap: a record that does not follow the file's
// position, or takes the file's place from another epoch, is ErrDiverged;
// one already held is skipped.
func TestChangelogApplyRefusesAGap(t *testing.T) {
	_, replica, _ := openPair(t)
	applied, err := replica.Apply(TxRecord{Epoch: 1, Seq: 1})
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = replica.Apply(TxRecord{Epoch: 1, Seq: 1})
	require.NoError(t, err)
	require.False(t, applied)
	_, err = replica.Apply(TxRecord{Epoch: 1, Seq: 3})
	require.ErrorIs(t, err, ErrDiverged)
	_, err = replica.Apply(TxRecord{Epoch: 2, Seq: 1})
	require.ErrorIs(t, err, ErrDiverged, "the same place in the log from another writer")
}
