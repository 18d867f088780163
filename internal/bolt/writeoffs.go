package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

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

// CreateWriteOff stores w once fn agrees, given the firm's periods, in one
// transaction with its audit entry and outbox messages.
func (s *WriteOffStore) CreateWriteOff(ctx context.Context, w *zone.WriteOff, idem *zone.Idempotency, fn func(existing []*zone.WriteOff) (zone.Change, error)) (*zone.WriteOff, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	var stored *zone.WriteOff
	err := s.db.update(func(tx *bbolt.Tx) error {
		if idem != nil {
			rec, err := lookupIdem(tx, idemKindWriteOff, idem)
			if err != nil {
				return err
			}
			if rec != nil {
				if stored, err = getWriteOff(tx, rec.RecordID); err != nil {
					return err
				}
				return errReplay
			}
			if err := putIdem(tx, idemKindWriteOff, idem, recordIdem{RecordID: w.ID, Created: w.CreatedAt}); err != nil {
				return err
			}
		}
		existing, err := writeOffs(tx, zone.WriteOffFilter{Firm: w.Firm})
		if err != nil {
			return err
		}
		ch, err := fn(existing)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(w)
		if err != nil {
			return zone.Internal(err)
		}
		if err := checkRoom(tx, 2*len(raw)+256); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWriteOffs).Put([]byte(w.ID), raw); err != nil {
			return zone.Internal(err)
		}
		if err := tx.Bucket(bucketWriteOffsFirm).Put(indexKey(w.Firm, w.ID), nil); err != nil {
			return zone.Internal(err)
		}
		stored = w
		return recordChange(tx, auditEntityWriteOff, w.ID, w.UpdatedAt, ch, nil, raw)
	})
	if errors.Is(err, errReplay) {
		return stored, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return stored, false, nil
}

// UpdateWriteOff loads id, lets fn change it and writes it with fn's Change;
// fn's error leaves everything as it was.
func (s *WriteOffStore) UpdateWriteOff(ctx context.Context, id string, fn func(w *zone.WriteOff) (zone.Change, error)) (*zone.WriteOff, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *zone.WriteOff
	err := s.db.update(func(tx *bbolt.Tx) error {
		before := tx.Bucket(bucketWriteOffs).Get([]byte(id))
		if before == nil {
			return zone.Errorf(zone.ENOTFOUND, "no write-off period %s", id)
		}
		before = bytes.Clone(before)
		var w zone.WriteOff
		if err := json.Unmarshal(before, &w); err != nil {
			return zone.Internal(err)
		}
		firm := w.Firm
		ch, err := fn(&w)
		if err != nil {
			return err
		}
		if w.ID != id || w.Firm != firm {
			return zone.Internal(errors.New("update changed the period's ID or firm"))
		}
		after, err := json.Marshal(&w)
		if err != nil {
			return zone.Internal(err)
		}
		if err := checkRoom(tx, 2*len(after)+256); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWriteOffs).Put([]byte(id), after); err != nil {
			return zone.Internal(err)
		}
		out = &w
		return recordChange(tx, auditEntityWriteOff, id, w.UpdatedAt, ch, before, after)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	v := tx.Bucket(bucketWriteOffs).Get([]byte(id))
	if v == nil {
		return nil, zone.Errorf(zone.ENOTFOUND, "no write-off period %s", id)
	}
	var w zone.WriteOff
	if err := json.Unmarshal(v, &w); err != nil {
		return nil, zone.Internal(err)
	}
	return &w, nil
}
