package kafka

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// boltOutbox is a small zone.Outbox over a real bbolt file, for these tests
// only (the product's outbox lives in internal/bolt).
type boltOutbox struct{ db *bolt.DB }

var (
	bOutbox     = []byte("outbox")
	bQuarantine = []byte("quarantine")
)

type quarantineEntry struct {
	Msg    zone.OutboxMessage `json:"msg"`
	Reason string             `json:"reason"`
}

func newBoltOutbox(t *testing.T) *boltOutbox {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "outbox.db"), 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bOutbox); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bQuarantine)
		return err
	}))
	return &boltOutbox{db: db}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Append stores msgs with fresh sequence numbers, in one transaction.
func (o *boltOutbox) Append(msgs ...zone.OutboxMessage) ([]uint64, error) {
	var seqs []uint64
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		seqs = seqs[:0]
		for _, m := range msgs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			m.Seq = seq
			raw, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), raw); err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	return seqs, err
}

func (o *boltOutbox) Pending(_ context.Context, max int) ([]zone.OutboxMessage, error) {
	var out []zone.OutboxMessage
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			var m zone.OutboxMessage
			// Unmarshal copies out of the mmap.
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

func (o *boltOutbox) Delivered(_ context.Context, through uint64) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= through; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (o *boltOutbox) Failed(_ context.Context, seq uint64) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		v := b.Get(seqKey(seq))
		if v == nil {
			return zone.Errorf(zone.ENOTFOUND, "no outbox message %d", seq)
		}
		var m zone.OutboxMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		m.Attempts++
		raw, _ := json.Marshal(m)
		return b.Put(seqKey(seq), raw)
	})
}

func (o *boltOutbox) Quarantine(_ context.Context, seq uint64, reason string) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox)
		v := b.Get(seqKey(seq))
		if v == nil {
			return zone.Errorf(zone.ENOTFOUND, "no outbox message %d", seq)
		}
		var m zone.OutboxMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		raw, _ := json.Marshal(quarantineEntry{Msg: m, Reason: reason})
		if err := tx.Bucket(bQuarantine).Put(seqKey(seq), raw); err != nil {
			return err
		}
		return b.Delete(seqKey(seq))
	})
}

func (o *boltOutbox) Depth(_ context.Context) (int, error) {
	n := 0
	err := o.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

func (o *boltOutbox) quarantineEntries(t *testing.T) []quarantineEntry {
	t.Helper()
	var out []quarantineEntry
	require.NoError(t, o.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bQuarantine).ForEach(func(_, v []byte) error {
			var q quarantineEntry
			if err := json.Unmarshal(v, &q); err != nil {
				return err
			}
			out = append(out, q)
			return nil
		})
	}))
	return out
}

func (o *boltOutbox) depth(t *testing.T) int {
	t.Helper()
	n, err := o.Depth(context.Background())
	require.NoError(t, err)
	return n
}

var _ zone.Outbox = (*boltOutbox)(nil)
