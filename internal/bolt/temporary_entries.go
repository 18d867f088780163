package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Buckets of temporary entries and parts lots (created on Open).
var (
	bucketTempEntries = []byte("temporary_entries") // id → entry JSON
	bucketTEFirm      = []byte("te_idx_firm")       // firm 0x00 id
	bucketTEDue       = []byte("te_due")            // deadline (unix ns, big-endian) id, entered entries only
	bucketTEFired     = []byte("te_fired")          // id 0x00 kind 0x00 deadline → when it fired
	bucketLots        = []byte("parts_lots")        // id → lot JSON (movements included)
	bucketLotsFirm    = []byte("parts_idx_firm")    // firm 0x00 id
	bucketLotSerials  = []byte("parts_serials")     // firm 0x00 serial → id of the lot that last took it in
)

func init() {
	allBuckets = append(allBuckets, bucketTempEntries, bucketTEFirm, bucketTEDue, bucketTEFired,
		bucketLots, bucketLotsFirm, bucketLotSerials)
}

// Audit entity names.
const (
	auditEntityTempEntry = "temporary_entry"
	auditEntityLot       = "parts_lot"
)

// recordIdem is what an Idempotency-Key remembers for a temporary entry,
// a lot or a movement.
type recordIdem struct {
	BodyHash string    `json:"body_hash"`
	RecordID string    `json:"record_id"`
	Ref      string    `json:"ref,omitempty"`
	Created  time.Time `json:"created"`
}

// recordIdemKey keeps each kind of record in its own key space.
func recordIdemKey(kind string, i *zone.Idempotency) []byte {
	return idemKey(&zone.Idempotency{Scope: kind + "|" + i.Scope, Key: i.Key})
}

// lookupIdem returns the remembered result of a key, nil when unused, and
// EUNPROCESSABLE when it was used with another body.
func lookupIdem(tx *bbolt.Tx, kind string, i *zone.Idempotency) (*recordIdem, error) {
	v := tx.Bucket(bucketIdempotency).Get(recordIdemKey(kind, i))
	if v == nil {
		return nil, nil
	}
	var rec recordIdem
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, zone.Internal(err)
	}
	if rec.BodyHash != i.BodyHash {
		return nil, zone.Errorf(zone.EUNPROCESSABLE, "Idempotency-Key %q was already used with a different body", i.Key)
	}
	return &rec, nil
}

func putIdem(tx *bbolt.Tx, kind string, i *zone.Idempotency, rec recordIdem) error {
	rec.BodyHash = i.BodyHash
	raw, err := json.Marshal(rec)
	if err != nil {
		return zone.Internal(err)
	}
	return wrapInternal(tx.Bucket(bucketIdempotency).Put(recordIdemKey(kind, i), raw))
}

// TemporaryEntryStore keeps temporary entries in bbolt with a firm index and
// a deadline index the reminder scheduler walks.
type TemporaryEntryStore struct {
	db *DB
}

var _ zone.TemporaryEntryStore = (*TemporaryEntryStore)(nil)

// NewTemporaryEntryStore returns the temporary-entry store of db.
func NewTemporaryEntryStore(db *DB) *TemporaryEntryStore { return &TemporaryEntryStore{db: db} }

const idemKindTempEntry = "temporary_entry"

var tempEntryKind = &recordKind[zone.TemporaryEntry]{
	bucket:  bucketTempEntries,
	entity:  auditEntityTempEntry,
	keys:    keysOf(idemKindTempEntry),
	missing: "no temporary entry %s",
	exists:  "temporary entry %s already exists",
	noID:    "temporary entry without an ID",
	changed: "update changed the temporary entry's ID",
	same:    func(old, e *zone.TemporaryEntry) bool { return e.ID == old.ID },
	meta:    func(e *zone.TemporaryEntry) (string, time.Time, time.Time) { return e.ID, e.CreatedAt, e.UpdatedAt },
	get:     getTempEntry,
	put:     noDB(putTempEntry),
}

// CreateTemporaryEntry stores e, its indexes, audit entry and outbox
// messages in one transaction; a replayed Idempotency-Key answers the
// stored entry.
func (s *TemporaryEntryStore) CreateTemporaryEntry(ctx context.Context, e *zone.TemporaryEntry, idem *zone.Idempotency, ch zone.Change) (*zone.TemporaryEntry, bool, error) {
	return createRecord(ctx, s.db, tempEntryKind, e, idem, fixed(ch))
}

// UpdateTemporaryEntry loads id, lets fn change it and writes it with fn's
// Change in one transaction; fn's error is returned and nothing is written.
func (s *TemporaryEntryStore) UpdateTemporaryEntry(ctx context.Context, id string, fn func(e *zone.TemporaryEntry) (zone.Change, error)) (*zone.TemporaryEntry, error) {
	return updateIn(ctx, s.db, tempEntryKind, id, func(e *zone.TemporaryEntry) (zone.Change, error) {
		ch, err := fn(e)
		return ch, pass(err)
	})
}

// TemporaryEntry returns one entry or ENOTFOUND.
func (s *TemporaryEntryStore) TemporaryEntry(ctx context.Context, id string) (*zone.TemporaryEntry, error) {
	return viewOne(ctx, s.db, id, getTempEntry)
}

// TemporaryEntries lists by filter, newest first, walking the firm's index
// (or every entry) backwards from the cursor.
func (s *TemporaryEntryStore) TemporaryEntries(ctx context.Context, f zone.TemporaryEntryFilter) (zone.TemporaryEntryPage, error) {
	keep := func(e *zone.TemporaryEntry) bool {
		return (f.Status == "" || e.Status == f.Status) && (f.DueBefore == nil || e.ReexportDeadline.Before(*f.DueBefore))
	}
	items, next, err := listNewest(ctx, s.db, bucketTempEntries, bucketTEFirm, f.Firm, f.Cursor, f.Limit, keep,
		func(e *zone.TemporaryEntry) string { return e.ID })
	if err != nil {
		return zone.TemporaryEntryPage{}, err
	}
	return zone.TemporaryEntryPage{Items: items, NextCursor: next}, nil
}

// decodeCursor reads a cursor this service issued (a record ID).
func decodeCursor(c string) ([]byte, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) == 0 {
		return nil, zone.Invalid(zone.FieldError{Field: "cursor", Message: "not a cursor this service issued"})
	}
	return raw, nil
}

// walkNewest calls fn with each record, newest first (IDs are ULIDs), below
// the cursor `after`: from the firm index when firm is set, else from the
// records. fn returns stop=true to end the walk; walkNewest then reports
// more=true (there was one more match).
func walkNewest(tx *bbolt.Tx, records, firmIdx []byte, firm string, after []byte, fn func(v []byte) (stop bool, err error)) (more bool, err error) {
	var (
		c      *bbolt.Cursor
		prefix []byte
	)
	if firm != "" {
		c, prefix = tx.Bucket(firmIdx).Cursor(), append([]byte(firm), 0)
	} else {
		c = tx.Bucket(records).Cursor()
	}
	var hi []byte
	if after != nil {
		hi = append(bytes.Clone(prefix), after...)
	} else {
		hi = prefixEnd(prefix)
	}
	rb := tx.Bucket(records)
	for k, v := seekBelow(c, hi); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if len(prefix) > 0 {
			if v = rb.Get(k[len(prefix):]); v == nil {
				continue
			}
		}
		stop, err := fn(v)
		if err != nil || stop {
			return stop, err
		}
	}
	return false, nil
}

// putTempEntry writes e and moves its index entries from old's (nil on
// create). It returns e's JSON.
func putTempEntry(tx *bbolt.Tx, old, e *zone.TemporaryEntry) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 3*len(raw)+256); err != nil {
		return nil, err
	}
	if err := claimReexportEvidence(tx, old, e); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketTempEntries).Put([]byte(e.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	if old == nil {
		if err := tx.Bucket(bucketTEFirm).Put(indexKey(e.Firm, e.ID), nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	due := tx.Bucket(bucketTEDue)
	if old != nil && old.Status == zone.EntryEntered {
		if err := due.Delete(timeKey(old.ReexportDeadline, old.ID)); err != nil {
			return nil, zone.Internal(err)
		}
	}
	if e.Status == zone.EntryEntered {
		if err := due.Put(timeKey(e.ReexportDeadline, e.ID), nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	return raw, nil
}

func getTempEntry(tx *bbolt.Tx, id string) (*zone.TemporaryEntry, error) {
	return getRecord[zone.TemporaryEntry](tx, bucketTempEntries, "no temporary entry %s", id)
}
