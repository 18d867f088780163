package bolt

import (
	"context"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Buckets of write-off periods (created on Open).
var (
	bucketWriteOffs     = []byte("writeoffs")          // id → period JSON
	bucketWriteOffsFirm = []byte("writeoffs_idx_firm") // firm 0x00 id
)

func init() {
	allBuckets = append(allBuckets, bucketWriteOffs, bucketWriteOffsFirm)
}

const (
	auditEntityWriteOff = "writeoff"
	idemKindWriteOff    = "writeoff"
)

// WriteOffStore keeps write-off periods in bbolt.
type WriteOffStore struct{ db *DB }

var _ zone.WriteOffStore = (*WriteOffStore)(nil)

// NewWriteOffStore returns the write-off store of db.
func NewWriteOffStore(db *DB) *WriteOffStore { return &WriteOffStore{db: db} }

var writeOffKind = &recordKind[zone.WriteOff]{
	bucket:  bucketWriteOffs,
	entity:  auditEntityWriteOff,
	keys:    keysOf(idemKindWriteOff),
	missing: "no write-off period %s",
	changed: "update changed the period's ID or firm",
	same:    func(old, w *zone.WriteOff) bool { return w.ID == old.ID && w.Firm == old.Firm },
	meta:    func(w *zone.WriteOff) (string, time.Time, time.Time) { return w.ID, w.CreatedAt, w.UpdatedAt },
	get:     getWriteOff,
	put:     noDB(putWriteOff),
}

// CreateWriteOff stores w once fn agrees, given the firm's periods, in one
// transaction with its audit entry and outbox messages.
func (s *WriteOffStore) CreateWriteOff(ctx context.Context, w *zone.WriteOff, idem *zone.Idempotency, fn func(existing []*zone.WriteOff) (zone.Change, error)) (*zone.WriteOff, bool, error) {
	return createRecord(ctx, s.db, writeOffKind, w, idem, func(tx *bbolt.Tx) (zone.Change, error) {
		existing, err := writeOffs(tx, zone.WriteOffFilter{Firm: w.Firm})
		if err != nil {
			return zone.Change{}, err
		}
		return fn(existing)
	})
}

// UpdateWriteOff loads id, lets fn change it and writes it with fn's Change;
// fn's error leaves everything as it was.
func (s *WriteOffStore) UpdateWriteOff(ctx context.Context, id string, fn func(w *zone.WriteOff) (zone.Change, error)) (*zone.WriteOff, error) {
	return updateIn(ctx, s.db, writeOffKind, id, fn)
}

// putWriteOff writes w and, on create (old nil), its firm index entry. It
// returns w's JSON.
func putWriteOff(tx *bbolt.Tx, old, w *zone.WriteOff) ([]byte, error) {
	raw, err := json.Marshal(w)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 2*len(raw)+256); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketWriteOffs).Put([]byte(w.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	if old == nil {
		if err := tx.Bucket(bucketWriteOffsFirm).Put(indexKey(w.Firm, w.ID), nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	return raw, nil
}

// WriteOff returns one period or ENOTFOUND.
func (s *WriteOffStore) WriteOff(ctx context.Context, id string) (*zone.WriteOff, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var w *zone.WriteOff
	err := s.db.view(func(tx *bbolt.Tx) error {
		var err error
		w, err = getWriteOff(tx, id)
		return err
	})
	return w, err
}

// WriteOffs lists by filter, newest first.
func (s *WriteOffStore) WriteOffs(ctx context.Context, f zone.WriteOffFilter) ([]*zone.WriteOff, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*zone.WriteOff
	err := s.db.view(func(tx *bbolt.Tx) error {
		var err error
		out, err = writeOffs(tx, f)
		return err
	})
	return out, err
}

func writeOffs(tx *bbolt.Tx, f zone.WriteOffFilter) ([]*zone.WriteOff, error) {
	out := []*zone.WriteOff{}
	_, err := walkNewest(tx, bucketWriteOffs, bucketWriteOffsFirm, f.Firm, nil, func(raw []byte) (bool, error) {
		var w zone.WriteOff
		if err := json.Unmarshal(raw, &w); err != nil {
			return false, zone.Internal(err)
		}
		if f.Status == "" || w.Status == f.Status {
			out = append(out, &w)
		}
		return false, nil
	})
	return out, err
}

func getWriteOff(tx *bbolt.Tx, id string) (*zone.WriteOff, error) {
	return getRecord[zone.WriteOff](tx, bucketWriteOffs, "no write-off period %s", id)
}
