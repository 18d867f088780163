package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// Shares of MaxSize that appends leave free, as 1/n. The zone API keeps an
// eighth so that deletes (the outbox draining) still run when appends are
// refused. A gate keeps a quarter from ingest: past acked events it must
// still write their decisions (crossings, alarms, outbox messages) and
// drain the outbox.
const (
	reserveAPI       = 8
	reserveGateEvent = 4
)

// checkRoomKeeping refuses a write that adds about n bytes when the file's
// live data would pass MaxSize less MaxSize/reserve. bbolt enforces the
// hard cap itself at commit; this check makes the refusal early, while
// there is still room for what must be written after it.
func checkRoomKeeping(tx *bbolt.Tx, n int, reserve int64) error {
	max := int64(tx.DB().MaxSize)
	if max <= 0 {
		return nil
	}
	used := tx.Size() - int64(tx.DB().Stats().FreeAlloc)
	if limit := max - max/reserve; used+int64(n) > limit {
		return errStorageFull(fmt.Errorf("live data %d bytes + %d would pass %d of MaxSize %d", used, n, limit, max))
	}
	return nil
}

// AppendEvents logs events in one transaction (one fsync) and says where
// each went. An event whose key is in the seen set, or earlier in events,
// is a duplicate and is not stored again. When the events would take the
// live data into the gate's reserve, nothing is stored and the answer is
// EUNAVAILABLE.
func (g *GateStore) AppendEvents(events []record.NewEvent) ([]record.Appended, error) {
	out := make([]record.Appended, len(events))
	err := g.update(func(tx *bbolt.Tx) error {
		n := 0
		for _, e := range events {
			// raw bytes twice (page overhead, the seen index) and the keys
			n += 2*len(e.Raw) + len(e.Key) + 63
		}
		if err := checkRoomKeeping(tx, n, reserveGateEvent); err != nil {
			return &zone.Error{Code: zone.EUNAVAILABLE, Message: "the gate's store is full; retry later", Err: err}
		}
		log, seen := tx.Bucket(gateEvents), tx.Bucket(gateSeen)
		// Keys only ever grow: fill pages instead of splitting them in half.
		log.FillPercent = 0.95
		for i, e := range events {
			// The check runs inside the transaction, so a re-send in the
			// same group sees the first write.
			if v := seen.Get(e.Key); len(v) == 8 {
				out[i] = record.Appended{Seq: binary.BigEndian.Uint64(v), Duplicate: true}
				continue
			}
			seq, err := log.NextSequence()
			if err != nil {
				return err
			}
			if err := log.Put(u64(seq), e.Raw); err != nil {
				return err
			}
			if err := seen.Put(e.Key, u64(seq)); err != nil {
				return err
			}
			out[i] = record.Appended{Seq: seq}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// update is the database's update with bbolt's own hard cap worded as the
// gate's room check words it.
func (g *GateStore) update(fn func(*bbolt.Tx) error) error {
	err := g.db.update(fn)
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return &zone.Error{Code: zone.EUNAVAILABLE, Message: "the gate's store is full; retry later", Err: err}
	}
	return err
}

// EventsAfter copies up to max logged events with seq > after, each with
// its set-aside mark.
func (g *GateStore) EventsAfter(after uint64, max int) ([]record.Event, error) {
	var out []record.Event
	if after == math.MaxUint64 {
		return out, nil // nothing lies after the top; after+1 would wrap to the start
	}
	err := g.db.view(func(tx *bbolt.Tx) error {
		aside := tx.Bucket(gateAside)
		c := tx.Bucket(gateEvents).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			out = append(out, record.Event{Seq: binary.BigEndian.Uint64(k), Raw: bytes.Clone(v), Aside: aside.Get(k) != nil})
		}
		return nil
	})
	return out, err
}

// AsideCount is how many logged events the decider has set aside.
func (g *GateStore) AsideCount() (n int, err error) {
	err = g.db.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(gateAside).Stats().KeyN
		return nil
	})
	return n, err
}

// Progress returns the seq of the last event logged and of the last one
// the decider has taken into a committed step.
func (g *GateStore) Progress() (lastEvent, lastDecided uint64, err error) {
	err = g.db.view(func(tx *bbolt.Tx) error {
		lastEvent = tx.Bucket(gateEvents).Sequence()
		lastDecided = getU64(tx.Bucket(gateMeta), metaProcessed)
		return nil
	})
	return
}
