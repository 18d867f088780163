package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

func msg(i int) *zone.OutboxMessage {
	return &zone.OutboxMessage{Topic: zone.TopicCrossings, Key: "G-MRO-1",
		Value:   []byte(fmt.Sprintf(`{"id":"c-%d"}`, i)),
		Created: time.Date(2026, 11, 26, 10, 0, i, 0, time.UTC)}
}

// TestOutboxSameTransaction: a message lands with the state change it
// announces, or not at all.
func TestOutboxSameTransaction(t *testing.T) {
	ctx := context.Background()
	raw := bolttest.MustOpenDB(t)
	ob := raw.Outbox()

	depth, err := ob.Depth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth)
	pending, err := ob.Pending(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, pending)
	_, ok := ob.Oldest(ctx)
	require.False(t, ok)

	refused := errors.New("refused")
	err = raw.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("crossings"))
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte("c-1"), []byte("x")))
		require.NoError(t, bolt.AppendOutbox(tx, msg(1)))
		return refused
	})
	require.ErrorIs(t, err, refused)
	depth, err = ob.Depth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth, "a rolled-back change leaves no message")

	m := msg(2)
	err = raw.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("crossings"))
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte("c-2"), []byte("x")))
		return bolt.AppendOutbox(tx, m)
	})
	require.NoError(t, err)
	require.Equal(t, uint64(1), m.Seq, "a rolled-back append takes no sequence number")
	pending, err = ob.Pending(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, `{"id":"c-2"}`, string(pending[0].Value))
	require.NoError(t, raw.View(func(tx *bbolt.Tx) error {
		require.NotNil(t, tx.Bucket([]byte("crossings")).Get([]byte("c-2")))
		require.Nil(t, tx.Bucket([]byte("crossings")).Get([]byte("c-1")))
		return nil
	}))
}

func TestOutboxQueue(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	ob := db.Outbox()

	var want [][]byte
	for i := 1; i <= 10; i++ {
		m := msg(i)
		want = append(want, bytes.Clone(m.Value))
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
		require.Equal(t, uint64(i), m.Seq)
	}
	pending, err := ob.Pending(ctx, 4)
	require.NoError(t, err)
	require.Len(t, pending, 4)
	for i, m := range pending {
		require.Equal(t, uint64(i+1), m.Seq)
		require.Equal(t, want[i], m.Value)
		require.Equal(t, zone.TopicCrossings, m.Topic)
		require.Equal(t, "G-MRO-1", m.Key)
	}
	oldest, ok := ob.Oldest(ctx)
	require.True(t, ok)
	require.True(t, oldest.Equal(msg(1).Created))

	// Values stay ours after the transaction: churn the file (new pages,
	// freed pages reused) and check the copies did not change.
	for i := 11; i <= 500; i++ {
		m := msg(i)
		m.Value = bytes.Repeat([]byte{'z'}, 300)
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
	}
	require.NoError(t, ob.Delivered(ctx, 2))
	require.NoError(t, ob.Delivered(ctx, 400))
	for i, m := range pending {
		require.Equal(t, want[i], m.Value, "a Pending value changed after its transaction closed")
	}

	depth, err := ob.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 100, depth)
	through, err := ob.DeliveredThrough(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(400), through)
	require.NoError(t, ob.Delivered(ctx, 3), "an older ack is harmless")
	through, err = ob.DeliveredThrough(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(400), through, "the cursor never goes back")

	// Failed counts attempts on the head; Quarantine moves it aside.
	require.NoError(t, ob.Failed(ctx, 401))
	require.NoError(t, ob.Failed(ctx, 401))
	require.NoError(t, ob.Failed(ctx, 9999), "a message already gone is ignored")
	pending, err = ob.Pending(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, uint64(401), pending[0].Seq)
	require.Equal(t, 2, pending[0].Attempts)

	require.NoError(t, ob.Quarantine(ctx, 401, "message too large"))
	requireCode(t, zone.ENOTFOUND, ob.Quarantine(ctx, 401, "again"))
	pending, err = ob.Pending(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(402), pending[0].Seq, "the queue moves on past a quarantined head")
	depth, err = ob.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 99, depth)
	q, err := ob.Quarantined(ctx)
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.Equal(t, uint64(401), q[0].Message.Seq)
	require.Equal(t, "message too large", q[0].Reason)
	require.Equal(t, 2, q[0].Message.Attempts)
	require.False(t, q[0].At.IsZero())

	require.NoError(t, ob.Delivered(ctx, 500))
	depth, err = ob.Depth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth)
	_, ok = ob.Oldest(ctx)
	require.False(t, ok)

	// Sequence keeps counting after a drain and a restart.
	path := db.Path()
	require.NoError(t, db.Close())
	db = bolttest.MustOpen(t, path, bolt.Options{})
	m := msg(501)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
	require.Equal(t, uint64(501), m.Seq)
}

// TestOutboxDepthLarge appends 100k messages and checks Depth reads the
// counter (the answer is right at every step of a drain).
func TestOutboxDepthLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100k appends")
	}
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	ob := db.Outbox()
	const total, perTx = 100_000, 10_000
	for start := 0; start < total; start += perTx {
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
			for i := start; i < start+perTx; i++ {
				if err := bolt.AppendOutbox(tx, msg(i)); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	began := time.Now()
	depth, err := ob.Depth(ctx)
	took := time.Since(began)
	require.NoError(t, err)
	require.Equal(t, total, depth)
	t.Logf("Depth with %d rows took %s", total, took)

	require.NoError(t, ob.Delivered(ctx, 60_000))
	depth, err = ob.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 40_000, depth)
	pending, err := ob.Pending(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(60_001), pending[0].Seq)
}

// TestOutboxLanesDrainApart: each topic is a lane of its own, in Seq order,
// so a clearance is at the head of its lane however many record events wait
// in theirs, and delivering one lane leaves the others as they are.
func TestOutboxLanesDrainApart(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	ob := db.Outbox()
	put := func(topic, key string) uint64 {
		m := &zone.OutboxMessage{Topic: topic, Key: key, Value: []byte(`{}`)}
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
		return m.Seq
	}
	for i := 0; i < 500; i++ {
		put(zone.TopicRecords, fmt.Sprintf("LOT-%d", i%7))
	}
	clr := put(zone.TopicClearances, "PD-1")
	put(zone.TopicRecords, "LOT-1")

	lanes, err := ob.Lanes(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{zone.TopicRecords, zone.TopicClearances}, lanes)
	head, err := ob.PendingIn(ctx, zone.TopicClearances, 10)
	require.NoError(t, err)
	require.Len(t, head, 1)
	require.Equal(t, clr, head[0].Seq, "the clearance heads its own lane")

	require.NoError(t, ob.DeliveredIn(ctx, zone.TopicClearances, clr))
	depth, err := ob.Depth(ctx)
	require.NoError(t, err)
	require.Equal(t, 501, depth, "only the clearance left")
	recs, err := ob.PendingIn(ctx, zone.TopicRecords, 1000)
	require.NoError(t, err)
	require.Len(t, recs, 501, "delivering past the records' seqs in another lane leaves them")
	for i := 1; i < len(recs); i++ {
		require.Less(t, recs[i-1].Seq, recs[i].Seq)
	}
	all, err := ob.Pending(ctx, 3)
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3}, []uint64{all[0].Seq, all[1].Seq, all[2].Seq}, "Pending merges the lanes in Seq order")
	require.NoError(t, ob.Quarantine(ctx, recs[5].Seq, "too large"), "quarantine finds the message's lane")
	through, err := ob.DeliveredThrough(ctx)
	require.NoError(t, err)
	require.Equal(t, clr, through)
}

// TestOutboxLegacyQueueDrainsFirst: rows an earlier version queued in the
// single outbox stay one queue with whatever is appended while any is left,
// so nothing overtakes them; once drained, messages go to the topic lanes.
func TestOutboxLegacyQueueDrainsFirst(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	ob := db.Outbox()
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		// What the previous version wrote: rows keyed by sequence in "outbox".
		b := tx.Bucket([]byte("outbox"))
		for i := 1; i <= 3; i++ {
			seq, err := b.NextSequence()
			require.NoError(t, err)
			raw := fmt.Sprintf(`{"seq":%d,"topic":%q,"key":"PD-1","value":"e30=","created":"2026-11-26T10:00:00Z"}`, seq, zone.TopicDeclarations)
			require.NoError(t, b.Put(binary.BigEndian.AppendUint64(nil, seq), []byte(raw)))
		}
		return nil
	}))
	m := &zone.OutboxMessage{Topic: zone.TopicClearances, Key: "PD-1", Value: []byte(`{}`)}
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
	require.Equal(t, uint64(4), m.Seq)
	lanes, err := ob.Lanes(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{bolt.LegacyLane}, lanes, "appended behind the old queue")
	old, err := ob.PendingIn(ctx, bolt.LegacyLane, 10)
	require.NoError(t, err)
	require.Len(t, old, 4)
	require.NoError(t, ob.DeliveredIn(ctx, bolt.LegacyLane, 4))

	require.NoError(t, db.Update(func(tx *bbolt.Tx) error { return bolt.AppendOutbox(tx, m) }))
	require.Equal(t, uint64(5), m.Seq, "one sequence across the upgrade")
	lanes, err = ob.Lanes(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{zone.TopicClearances}, lanes)
}
