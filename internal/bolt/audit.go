package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// appendAudit chains e after the last audit entry and stores it, inside the
// caller's write transaction so the entry lands with the change it records.
// It sets e.Seq, e.PrevHash and e.Hash (and e.Time if zero).
func appendAudit(tx *bbolt.Tx, e *zone.AuditEntry) error {
	b, err := tx.CreateBucketIfNotExists(bucketAudit)
	if err != nil {
		return zone.Internal(err)
	}
	if err := checkRoom(tx, 2*(len(e.Before)+len(e.After))+512); err != nil {
		return err
	}
	prev := ""
	if _, v := b.Cursor().Last(); v != nil {
		var last struct {
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal(v, &last); err != nil {
			return zone.Internal(err)
		}
		prev = last.Hash
	}
	seq, err := b.NextSequence()
	if err != nil {
		return zone.Internal(err)
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	e.Seal(prev)
	raw, err := json.Marshal(e)
	if err != nil {
		return zone.Internal(err)
	}
	return wrapInternal(b.Put(u64(seq), raw))
}

// AuditTrail reads and verifies the audit chain of one DB.
type AuditTrail struct {
	db *DB
}

var _ zone.AuditTrail = (*AuditTrail)(nil)

// NewAuditTrail returns the audit trail stored in db.
func NewAuditTrail(db *DB) *AuditTrail { return &AuditTrail{db: db} }

// AuditEntries returns up to limit entries with Seq > after, in order.
func (a *AuditTrail) AuditEntries(ctx context.Context, after uint64, limit int) ([]zone.AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	if after == math.MaxUint64 {
		return nil, nil // nothing follows the top; after+1 would wrap to the start
	}
	var out []zone.AuditEntry
	err := a.db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e zone.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return zone.Internal(err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AuditHead returns the Seq of the last entry, 0 when there is none (the
// live stream starts from it without walking the chain).
func (a *AuditTrail) AuditHead(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var head uint64
	err := a.db.view(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketAudit); b != nil {
			if k, _ := b.Cursor().Last(); len(k) == 8 {
				head = binary.BigEndian.Uint64(k)
			}
		}
		return nil
	})
	return head, err
}

// verifyChunk is how many entries one read transaction checks. Short read
// transactions let writers remap the file while a long chain is verified.
const verifyChunk = 8192

// VerifyAudit walks the whole chain once, holding one entry at a time, and
// reports the first entry that is missing, out of place or altered. The key
// is checked too: an entry edited to carry another Seq is caught.
func (a *AuditTrail) VerifyAudit(ctx context.Context) (zone.AuditVerdict, error) {
	var (
		prev    string
		lastSeq uint64
		n       int
		verdict *zone.AuditVerdict
		done    bool
	)
	bad := func(e zone.AuditEntry, problem string) {
		verdict = &zone.AuditVerdict{Entries: n, FirstBad: &e, Problem: problem}
	}
	for !done && verdict == nil {
		if err := ctx.Err(); err != nil {
			return zone.AuditVerdict{}, err
		}
		err := a.db.view(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			if b == nil {
				done = true
				return nil
			}
			c := b.Cursor()
			k, raw := c.Seek(u64(lastSeq + 1))
			for i := 0; k != nil && i < verifyChunk; k, raw = c.Next() {
				keySeq := binary.BigEndian.Uint64(k)
				var e zone.AuditEntry
				if err := json.Unmarshal(raw, &e); err != nil {
					bad(zone.AuditEntry{Seq: keySeq}, "entry is not valid JSON")
					return nil
				}
				switch {
				case e.Seq != keySeq:
					bad(e, "entry's seq does not match its position")
				case e.Seq != lastSeq+1:
					bad(e, "sequence gap: an entry is missing")
				case e.PrevHash != prev:
					bad(e, "prev_hash does not match the entry before")
				case e.ComputeHash() != e.Hash:
					bad(e, "hash does not match the entry's content")
				}
				if verdict != nil {
					return nil
				}
				prev, lastSeq = e.Hash, e.Seq
				n++
				i++
			}
			if k != nil {
				return nil // more in the next chunk
			}
			done = true
			// The bucket's sequence counts every entry ever appended: a
			// shorter chain means entries were cut off the end.
			if b.Sequence() != lastSeq {
				bad(zone.AuditEntry{Seq: lastSeq + 1}, "sequence gap: entries after the last one are missing")
			}
			return nil
		})
		if err != nil {
			return zone.AuditVerdict{}, err
		}
	}
	if verdict != nil {
		// Like zone.VerifyChain, a broken chain reports how many entries
		// there are, not how many passed.
		err := a.db.view(func(tx *bbolt.Tx) error {
			if b := tx.Bucket(bucketAudit); b != nil {
				verdict.Entries = b.Stats().KeyN
			}
			return nil
		})
		return *verdict, err
	}
	return zone.AuditVerdict{Verified: true, Entries: n}, nil
}

// recordChange appends the audit entry and the outbox messages of one change,
// inside the caller's write transaction: every store records a change this way,
// so the record, its audit entry and its announcement land together or not at all.
func recordChange(tx *bbolt.Tx, entity, id string, at time.Time, ch zone.Change, before, after []byte) error {
	e := zone.AuditEntry{Time: at, Actor: ch.Actor, Action: ch.Action, Entity: entity,
		EntityID: id, Reason: ch.Reason, Before: before, After: after}
	if err := appendAudit(tx, &e); err != nil {
		return err
	}
	for i := range ch.Messages {
		m := ch.Messages[i] // a copy: the caller's slice is not ours to change
		if err := appendOutbox(tx, &m); err != nil {
			return err
		}
	}
	for _, a := range ch.Alarms {
		c := *a
		if _, err := putAlarm(tx, &c); err != nil {
			return err
		}
	}
	return nil
}
