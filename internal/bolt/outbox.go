package bolt

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Bucket names of the outbox. They live in whichever bbolt file the caller
// uses, so the gate service and the zone API share the code, not the file.
//
// The outbox is kept in lanes, one per topic, each a bucket inside
// outbox_lanes keyed by big-endian sequence: each lane drains on its own, so
// a backlog of bulky record events never holds a clearance back, while each
// key (which lives in one topic) keeps its order. The sequence is one counter
// for all lanes, kept on the outbox bucket. Earlier versions kept a single
// queue as rows of the outbox bucket itself: while any such row is left,
// new messages join that queue too (the legacy lane), so nothing overtakes
// what was queued before an upgrade.
var (
	bucketOutbox      = []byte("outbox")
	bucketOutboxLanes = []byte("outbox_lanes")
	bucketOutboxMeta  = []byte("outbox_meta")
	bucketQuarantine  = []byte("quarantine")

	keyDeliveredThrough = []byte("delivered_through")
	keyDepth            = []byte("depth")
)

// LegacyLane names the single ordered queue of earlier versions; it drains
// before anything newer is put into the per-topic lanes.
const LegacyLane = ""

// QuarantinedMessage is an outbox message Kafka will never take, kept with
// the reason for an operator to look at.
type QuarantinedMessage struct {
	Message zone.OutboxMessage `json:"message"`
	Reason  string             `json:"reason"`
	At      time.Time          `json:"at"`
}

// appendOutbox queues m in the outbox of tx's database, keyed by the bucket's
// next sequence (which it stores in m.Seq). Call it inside the same write
// transaction as the change m announces: either both land or neither does.
// The outbox buckets are created if missing, so any bbolt file will do.
func appendOutbox(tx *bbolt.Tx, m *zone.OutboxMessage) error {
	root, meta, err := outboxBuckets(tx)
	if err != nil {
		return err
	}
	if m.Topic == "" {
		return zone.Internal(errors.New("outbox message without a topic"))
	}
	if err := checkRoom(tx, len(m.Value)*2+len(m.Key)+len(m.Topic)+128); err != nil {
		return err
	}
	seq, err := root.NextSequence()
	if err != nil {
		return zone.Internal(err)
	}
	b := root
	if k, _ := root.Cursor().First(); k == nil {
		lanes, err := tx.CreateBucketIfNotExists(bucketOutboxLanes)
		if err != nil {
			return zone.Internal(err)
		}
		if b, err = lanes.CreateBucketIfNotExists([]byte(m.Topic)); err != nil {
			return zone.Internal(err)
		}
	}
	// Keys only ever grow: fill pages instead of splitting them in half,
	// which halves the pages a backlog takes and a drain has to read.
	b.FillPercent = 0.95
	m.Seq = seq
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return zone.Internal(err)
	}
	if err := b.Put(u64(seq), raw); err != nil {
		return zone.Internal(err)
	}
	return addCounter(meta, keyDepth, 1)
}

// outboxBuckets returns the outbox and its meta bucket, creating them in a
// writable transaction.
func outboxBuckets(tx *bbolt.Tx) (outbox, meta *bbolt.Bucket, err error) {
	if !tx.Writable() {
		outbox, meta = tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxMeta)
		return outbox, meta, nil
	}
	if outbox, err = tx.CreateBucketIfNotExists(bucketOutbox); err != nil {
		return nil, nil, zone.Internal(err)
	}
	if meta, err = tx.CreateBucketIfNotExists(bucketOutboxMeta); err != nil {
		return nil, nil, zone.Internal(err)
	}
	return outbox, meta, nil
}

// Outbox reads and trims the outbox of one bbolt database. It implements
// zone.Outbox for a publisher that sends the head to Kafka and then marks it
// delivered.
type Outbox struct {
	db *DB
}

var _ zone.Outbox = (*Outbox)(nil)

// Append queues msgs in one write transaction of their own, setting each
// Seq: messages that announce no stored change (a seeded backlog, a notice
// about the service itself). Nothing is queued if one is refused.
func (o *Outbox) Append(ctx context.Context, msgs ...*zone.OutboxMessage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.db.update(func(tx *bbolt.Tx) error {
		for _, m := range msgs {
			if err := appendOutbox(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// laneBucket returns lane's bucket in tx, nil when it does not exist.
func laneBucket(tx *bbolt.Tx, lane string) *bbolt.Bucket {
	if lane == LegacyLane {
		return tx.Bucket(bucketOutbox)
	}
	lanes := tx.Bucket(bucketOutboxLanes)
	if lanes == nil {
		return nil
	}
	return lanes.Bucket([]byte(lane))
}

// laneNames lists the lanes in tx: the legacy lane first while it has rows,
// then one per topic that ever had a message.
func laneNames(tx *bbolt.Tx) ([]string, error) {
	var out []string
	if root := tx.Bucket(bucketOutbox); root != nil {
		if k, _ := root.Cursor().First(); k != nil {
			out = append(out, LegacyLane)
		}
	}
	lanes := tx.Bucket(bucketOutboxLanes)
	if lanes == nil {
		return out, nil
	}
	err := lanes.ForEachBucket(func(k []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out, wrapInternal(err)
}

// findLane returns the bucket holding message seq, nil when none does.
func findLane(tx *bbolt.Tx, seq uint64) (*bbolt.Bucket, error) {
	names, err := laneNames(tx)
	if err != nil {
		return nil, err
	}
	key := u64(seq)
	for _, name := range names {
		if b := laneBucket(tx, name); b != nil && b.Get(key) != nil {
			return b, nil
		}
	}
	return nil, nil
}

// readLane decodes up to max messages from the head of b. The values are
// decoded copies: bbolt memory is only valid inside the transaction, and
// kafka-go keeps references to what it is given.
func readLane(b *bbolt.Bucket, max int, out []zone.OutboxMessage) ([]zone.OutboxMessage, error) {
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	n := 0
	for k, v := c.First(); k != nil && n < max; k, v = c.Next() {
		if v == nil {
			continue // a nested bucket, not a message
		}
		var m zone.OutboxMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return out, zone.Internal(err)
		}
		m.Seq = binary.BigEndian.Uint64(k)
		out = append(out, m)
		n++
	}
	return out, nil
}

// Lanes lists the outbox's lanes (see LegacyLane); a publisher drains each
// on its own.
func (o *Outbox) Lanes(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := o.db.view(func(tx *bbolt.Tx) (err error) {
		out, err = laneNames(tx)
		return err
	})
	return out, err
}

// PendingIn returns up to max messages from the head of lane, in Seq order.
func (o *Outbox) PendingIn(ctx context.Context, lane string, max int) ([]zone.OutboxMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	var out []zone.OutboxMessage
	err := o.db.view(func(tx *bbolt.Tx) (err error) {
		out, err = readLane(laneBucket(tx, lane), max, nil)
		return err
	})
	return out, err
}

// Pending returns up to max messages from the heads of all lanes, in Seq
// order: what a publisher with a single queue would send next.
func (o *Outbox) Pending(ctx context.Context, max int) ([]zone.OutboxMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	var out []zone.OutboxMessage
	err := o.db.view(func(tx *bbolt.Tx) error {
		names, err := laneNames(tx)
		if err != nil {
			return err
		}
		for _, name := range names {
			if out, err = readLane(laneBucket(tx, name), max, out); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b zone.OutboxMessage) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(out) > max {
		out = out[:max]
	}
	return out, err
}

// DeliveredIn removes every message of lane with Seq <= through and
// advances the delivered_through cursor, in one transaction.
func (o *Outbox) DeliveredIn(ctx context.Context, lane string, through uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.db.update(func(tx *bbolt.Tx) error {
		return deliver(tx, []string{lane}, through)
	})
}

// Delivered removes every message with Seq <= through, in every lane, and
// advances the delivered_through cursor, in one transaction.
func (o *Outbox) Delivered(ctx context.Context, through uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.db.update(func(tx *bbolt.Tx) error {
		names, err := laneNames(tx)
		if err != nil {
			return err
		}
		return deliver(tx, names, through)
	})
}

func deliver(tx *bbolt.Tx, lanes []string, through uint64) error {
	_, meta, err := outboxBuckets(tx)
	if err != nil {
		return err
	}
	var n int64
	for _, lane := range lanes {
		b := laneBucket(tx, lane)
		if b == nil {
			continue
		}
		c := b.Cursor()
		// Re-seek after each delete: a bbolt cursor may skip a key when the
		// one under it is deleted.
		for k, v := c.First(); k != nil && v != nil && binary.BigEndian.Uint64(k) <= through; k, v = c.First() {
			if err := c.Delete(); err != nil {
				return zone.Internal(err)
			}
			n++
		}
	}
	if prev := getU64(meta, keyDeliveredThrough); through > prev {
		if err := meta.Put(keyDeliveredThrough, u64(through)); err != nil {
			return zone.Internal(err)
		}
	}
	return addCounter(meta, keyDepth, -n)
}

// DeliveredThrough returns the highest Seq ever marked delivered.
func (o *Outbox) DeliveredThrough(ctx context.Context) (uint64, error) {
	var through uint64
	err := o.db.view(func(tx *bbolt.Tx) error {
		through = getU64(tx.Bucket(bucketOutboxMeta), keyDeliveredThrough)
		return nil
	})
	return through, err
}

// Failed counts one failed delivery attempt of the message seq. A message no
// longer in the outbox is ignored: it was delivered meanwhile.
func (o *Outbox) Failed(ctx context.Context, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.db.update(func(tx *bbolt.Tx) error {
		b, err := findLane(tx, seq)
		if err != nil || b == nil {
			return err
		}
		var m zone.OutboxMessage
		if err := json.Unmarshal(b.Get(u64(seq)), &m); err != nil {
			return zone.Internal(err)
		}
		m.Seq = seq
		m.Attempts++
		raw, err := json.Marshal(&m)
		if err != nil {
			return zone.Internal(err)
		}
		return wrapInternal(b.Put(u64(seq), raw))
	})
}

// Quarantine moves message seq out of the outbox into the quarantine bucket
// with the reason, so the messages behind it can go. ENOTFOUND when seq is
// not in the outbox.
func (o *Outbox) Quarantine(ctx context.Context, seq uint64, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return o.db.update(func(tx *bbolt.Tx) error {
		_, meta, err := outboxBuckets(tx)
		if err != nil {
			return err
		}
		b, err := findLane(tx, seq)
		if err != nil {
			return err
		}
		if b == nil {
			return zone.Errorf(zone.ENOTFOUND, "no outbox message %d", seq)
		}
		q := QuarantinedMessage{Reason: reason, At: time.Now().UTC()}
		if err := json.Unmarshal(b.Get(u64(seq)), &q.Message); err != nil {
			return zone.Internal(err)
		}
		q.Message.Seq = seq
		raw, err := json.Marshal(&q)
		if err != nil {
			return zone.Internal(err)
		}
		qb, err := tx.CreateBucketIfNotExists(bucketQuarantine)
		if err != nil {
			return zone.Internal(err)
		}
		if err := qb.Put(u64(seq), raw); err != nil {
			return zone.Internal(err)
		}
		if err := b.Delete(u64(seq)); err != nil {
			return zone.Internal(err)
		}
		return addCounter(meta, keyDepth, -1)
	})
}

// Quarantined lists the quarantined messages in Seq order.
func (o *Outbox) Quarantined(ctx context.Context) ([]QuarantinedMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []QuarantinedMessage
	err := o.db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketQuarantine)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var q QuarantinedMessage
			if err := json.Unmarshal(v, &q); err != nil {
				return zone.Internal(err)
			}
			out = append(out, q)
			return nil
		})
	})
	return out, err
}

// Depth counts undelivered messages. It reads a counter kept in the same
// transactions as the rows, so it costs the same with a million rows as
// with one.
func (o *Outbox) Depth(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n uint64
	err := o.db.view(func(tx *bbolt.Tx) error {
		n = getU64(tx.Bucket(bucketOutboxMeta), keyDepth)
		return nil
	})
	return int(n), err
}

// Oldest returns when the oldest head message of the lanes was created, for the "oldest
// undelivered age" metric; false when the outbox is empty.
func (o *Outbox) Oldest(ctx context.Context) (time.Time, bool) {
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	var (
		at time.Time
		ok bool
	)
	_ = o.db.view(func(tx *bbolt.Tx) error {
		names, err := laneNames(tx)
		if err != nil {
			return err
		}
		for _, name := range names {
			b := laneBucket(tx, name)
			if b == nil {
				continue
			}
			_, v := b.Cursor().First()
			if v == nil {
				continue
			}
			var m struct {
				Created time.Time `json:"created"`
			}
			if json.Unmarshal(v, &m) == nil && (!ok || m.Created.Before(at)) {
				at, ok = m.Created, true
			}
		}
		return nil
	})
	return at, ok
}

// addCounter adds delta to a counter, never going below zero.
func addCounter(b *bbolt.Bucket, key []byte, delta int64) error {
	cur := int64(getU64(b, key)) + delta
	if cur < 0 {
		cur = 0
	}
	return wrapInternal(b.Put(key, u64(uint64(cur))))
}
