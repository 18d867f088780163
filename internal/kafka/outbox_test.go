package kafka

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

// boltOutbox is the product's outbox over a real bbolt file, seen only
// through zone.Outbox: its per-topic lanes are hidden, so the publisher
// drains it as the one ordered queue these tests are about (lanes have
// their own tests in lanes_test.go).
type boltOutbox struct {
	zone.Outbox
	ob *bolt.Outbox
}

type quarantineEntry struct {
	Msg    zone.OutboxMessage
	Reason string
}

func newBoltOutbox(t *testing.T) *boltOutbox {
	t.Helper()
	ob := bolttest.MustOpenDB(t).Outbox()
	return &boltOutbox{Outbox: ob, ob: ob}
}

// Append stores msgs with fresh sequence numbers, in one transaction.
func (o *boltOutbox) Append(msgs ...zone.OutboxMessage) ([]uint64, error) {
	ptrs := make([]*zone.OutboxMessage, len(msgs))
	for i := range msgs {
		ptrs[i] = &msgs[i]
	}
	if err := o.ob.Append(context.Background(), ptrs...); err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		seqs[i] = m.Seq
	}
	return seqs, nil
}

func (o *boltOutbox) quarantineEntries(t *testing.T) []quarantineEntry {
	t.Helper()
	qs, err := o.ob.Quarantined(context.Background())
	require.NoError(t, err)
	out := make([]quarantineEntry, 0, len(qs))
	for _, q := range qs {
		out = append(out, quarantineEntry{Msg: q.Message, Reason: q.Reason})
	}
	return out
}

func (o *boltOutbox) depth(t *testing.T) int {
	t.Helper()
	n, err := o.Depth(context.Background())
	require.NoError(t, err)
	return n
}

var _ zone.Outbox = (*boltOutbox)(nil)
