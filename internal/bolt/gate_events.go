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

// AppendEvents logs events with one fdatasync of the event log and says
// where each went; bbolt gets them later, many groups to a transaction
// (gate_log.go). An event whose key is in the seen set, logged and not yet
// folded, or earlier in events, is a duplicate and is not stored again.
// When the events would take the live data into the gate's reserve,
// nothing is stored and the answer is EUNAVAILABLE.
func (g *GateStore) AppendEvents(events []record.NewEvent) ([]record.Appended, error) {
	l := g.log
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.f == nil {
		return nil, &zone.Error{Code: zone.EUNAVAILABLE, Message: "the gate's store is closed"}
	}
	if err := l.keepUp(); err != nil {
		return nil, err
	}
	out := make([]record.Appended, len(events))
	size := 0
	var group map[string]uint64 // keys new in events, when there are several
	if len(events) > 1 {
		group = make(map[string]uint64, len(events))
	}
	next := l.last.Load() + 1
	// The memory check comes first and holds mu through the bbolt read: a
	// fold forgets an event only after its commit, so one not in memory is
	// in the view begun after.
	l.mu.RLock()
	err := g.db.view(func(tx *bbolt.Tx) error {
		n := 2 * l.bytes
		for _, e := range events {
			// raw bytes twice (page overhead, the seen index) and the keys
			n += 2*len(e.Raw) + len(e.Key) + 63
		}
		if err := checkRoomKeeping(tx, n, reserveGateEvent); err != nil {
			return &zone.Error{Code: zone.EUNAVAILABLE, Message: "the gate's store is full; retry later", Err: err}
		}
		// One cursor for every lookup: Bucket.Get makes a cursor, and its
		// stack, each time.
		seen := tx.Bucket(gateSeen).Cursor()
		for i, e := range events {
			if seq, ok := l.pendingSeq(e.Key); ok {
				out[i] = record.Appended{Seq: seq, Duplicate: true}
				continue
			}
			if k, v := seen.Seek(e.Key); len(v) == 8 && bytes.Equal(k, e.Key) {
				out[i] = record.Appended{Seq: binary.BigEndian.Uint64(v), Duplicate: true}
				continue
			}
			if group != nil {
				if seq, ok := group[string(e.Key)]; ok {
					out[i] = record.Appended{Seq: seq, Duplicate: true}
					continue
				}
				group[string(e.Key)] = next
			}
			out[i] = record.Appended{Seq: next}
			next++
			size += recordSize(e.Key, e.Raw)
		}
		return nil
	})
	l.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return out, nil
	}
	buf := make([]byte, 0, size)
	recs := make([]logged, 0, next-l.last.Load()-1)
	for i, e := range events {
		if out[i].Duplicate {
			continue
		}
		var k, r []byte
		buf, k, r = appendRecord(buf, out[i].Seq, e.Key, e.Raw)
		recs = append(recs, logged{seq: out[i].Seq, key: k, raw: r})
	}
	if err := l.write(recs, buf); err != nil {
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
// its set-aside mark: those bbolt holds, then those only the log holds.
func (g *GateStore) EventsAfter(after uint64, max int) ([]record.Event, error) {
	if after == math.MaxUint64 || max <= 0 {
		return nil, nil // nothing lies after the top; after+1 would wrap to the start
	}
	recent, firstPending := g.log.after(after, max)
	out := make([]record.Event, 0, min(max, len(recent)+blockMaxCount))
	err := g.db.view(func(tx *bbolt.Tx) error {
		// Set-aside seqs are few and in order: one cursor walks them
		// beside the events.
		ac := tx.Bucket(gateAside).Cursor()
		ak, _ := ac.Seek(u64(after + 1))
		aside := func(seq uint64) bool {
			for ak != nil && binary.BigEndian.Uint64(ak) < seq {
				ak, _ = ac.Next()
			}
			return ak != nil && binary.BigEndian.Uint64(ak) == seq
		}
		if after+1 < firstPending {
			c := tx.Bucket(gateEvents).Cursor()
			// The block holding after+1 starts at or before it.
			k, v := c.Seek(u64(after + 1))
			switch {
			case k == nil:
				k, v = c.Last()
			case binary.BigEndian.Uint64(k) > after+1:
				if k, v = c.Prev(); k == nil {
					k, v = c.First()
				}
			}
			done := false
			for k != nil && !done {
				nk, nv := c.Next()
				end := firstPending
				if nk != nil {
					end = binary.BigEndian.Uint64(nk)
				}
				err := eachInBlock(binary.BigEndian.Uint64(k), end, v, func(seq uint64, raw []byte) bool {
					if seq >= firstPending || len(out) >= max {
						done = true
						return false
					}
					if seq > after {
						out = append(out, record.Event{Seq: seq, Raw: bytes.Clone(raw), Aside: aside(seq)})
					}
					return true
				})
				if err != nil {
					g.db.logger.Error("gate store: reading events", "err", err)
				}
				k, v = nk, nv
			}
		}
		for _, r := range recent {
			if len(out) >= max {
				break
			}
			out = append(out, record.Event{Seq: r.seq, Raw: r.raw, Aside: aside(r.seq)})
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
	lastEvent = g.log.last.Load()
	err = g.db.view(func(tx *bbolt.Tx) error {
		lastDecided = getU64(tx.Bucket(gateMeta), metaProcessed)
		return nil
	})
	return
}
