package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// recordKind is what the create and update transactions every record store
// shares need to know about one kind of record: where it lives, how it
// reads and writes, and the words of its refusals.
type recordKind[T any] struct {
	bucket []byte
	entity string // audit trail's name
	keys   idemKeys
	// missing formats ENOTFOUND for an id; exists, when set, refuses a
	// create over a stored id; noID, when set, refuses a record without one.
	missing, exists, noID string
	// changed is the internal error of an update that broke same.
	changed string
	same    func(old, v *T) bool
	meta    func(v *T) (id string, created, updated time.Time)
	get     func(tx *bbolt.Tx, id string) (*T, error)
	put     func(tx *bbolt.Tx, db *DB, old, v *T) ([]byte, error)
	// record appends the audit entry (and whatever else a change sets off);
	// nil is the audit entry alone.
	record func(tx *bbolt.Tx, db *DB, v *T, ch zone.Change, before, after []byte) error
}

// idemKeys finds and keeps the record a create's Idempotency-Key made.
type idemKeys struct {
	find func(tx *bbolt.Tx, i *zone.Idempotency) (id string, ok bool, err error)
	keep func(tx *bbolt.Tx, i *zone.Idempotency, id string, created time.Time) error
}

// keysOf keeps create keys of kind as recordIdem entries.
func keysOf(kind string) idemKeys {
	return idemKeys{
		find: func(tx *bbolt.Tx, i *zone.Idempotency) (string, bool, error) {
			rec, err := lookupIdem(tx, kind, i)
			if err != nil || rec == nil {
				return "", false, err
			}
			return rec.RecordID, true, nil
		},
		keep: func(tx *bbolt.Tx, i *zone.Idempotency, id string, created time.Time) error {
			return putIdem(tx, kind, i, recordIdem{RecordID: id, Created: created})
		},
	}
}

func (k *recordKind[T]) recordChange(tx *bbolt.Tx, db *DB, v *T, ch zone.Change, before, after []byte) error {
	if k.record != nil {
		return k.record(tx, db, v, ch, before, after)
	}
	id, _, updated := k.meta(v)
	return recordChange(tx, k.entity, id, updated, ch, before, after)
}

// createRecord stores v with its audit entry in one transaction. A key
// already used answers the record it made and replayed=true without writing;
// otherwise change (run after the exists check) gives the Change to record,
// and its error leaves everything as it was.
func createRecord[T any](ctx context.Context, db *DB, k *recordKind[T], v *T, idem *zone.Idempotency, change func(tx *bbolt.Tx) (zone.Change, error)) (*T, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	id, created, _ := k.meta(v)
	if k.noID != "" && id == "" {
		return nil, false, zone.Internal(errors.New(k.noID))
	}
	var stored *T
	err := db.update(func(tx *bbolt.Tx) error {
		if idem != nil {
			prev, ok, err := k.keys.find(tx, idem)
			if err != nil {
				return err
			}
			if ok {
				if stored, err = k.get(tx, prev); err != nil {
					return err
				}
				return errReplay
			}
			if err := k.keys.keep(tx, idem, id, created); err != nil {
				return err
			}
		}
		if k.exists != "" && tx.Bucket(k.bucket).Get([]byte(id)) != nil {
			return zone.Errorf(zone.ECONFLICT, k.exists, id)
		}
		ch, err := change(tx)
		if err != nil {
			return err
		}
		after, err := k.put(tx, db, nil, v)
		if err != nil {
			return err
		}
		stored = v
		return k.recordChange(tx, db, v, ch, nil, after)
	})
	if errors.Is(err, errReplay) {
		return stored, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return stored, false, nil
}

// fixed is the change of a create that needs nothing from the transaction.
func fixed(ch zone.Change) func(*bbolt.Tx) (zone.Change, error) {
	return func(*bbolt.Tx) (zone.Change, error) { return ch, nil }
}

// updateRecord is one read-change-write of record id inside tx: fn changes
// a copy (its error is returned as it is and nothing is written), the
// record keeps its identity, and the audit entry holds before and after.
func updateRecord[T any](tx *bbolt.Tx, db *DB, k *recordKind[T], id string, fn func(v *T) (zone.Change, error)) (*T, error) {
	before, old, v, err := loadRecord(tx, k, id)
	if err != nil {
		return nil, err
	}
	ch, err := fn(v)
	if err != nil {
		return nil, err
	}
	if !k.same(old, v) {
		return nil, zone.Internal(errors.New(k.changed))
	}
	after, err := k.put(tx, db, old, v)
	if err != nil {
		return nil, err
	}
	if err := k.recordChange(tx, db, v, ch, before, after); err != nil {
		return nil, err
	}
	return v, nil
}

// loadRecord reads record id for a change: its stored bytes, the record as
// it was, and a copy to change.
func loadRecord[T any](tx *bbolt.Tx, k *recordKind[T], id string) (before []byte, old, v *T, err error) {
	before = tx.Bucket(k.bucket).Get([]byte(id))
	if before == nil {
		return nil, nil, nil, zone.Errorf(zone.ENOTFOUND, k.missing, id)
	}
	// Copy: the bytes are bbolt's and the Put may reuse the page.
	before = bytes.Clone(before)
	old, v = new(T), new(T)
	if err := json.Unmarshal(before, old); err != nil {
		return nil, nil, nil, zone.Internal(err)
	}
	if err := json.Unmarshal(before, v); err != nil {
		return nil, nil, nil, zone.Internal(err)
	}
	return before, old, v, nil
}

// updateIn runs updateRecord in its own transaction.
func updateIn[T any](ctx context.Context, db *DB, k *recordKind[T], id string, fn func(v *T) (zone.Change, error)) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *T
	err := db.update(func(tx *bbolt.Tx) error {
		var err error
		out, err = updateRecord(tx, db, k, id, fn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getRecord reads record id from bucket, or ENOTFOUND with missing.
func getRecord[T any](tx *bbolt.Tx, bucket []byte, missing, id string) (*T, error) {
	v := tx.Bucket(bucket).Get([]byte(id))
	if v == nil {
		return nil, zone.Errorf(zone.ENOTFOUND, missing, id)
	}
	var out T
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, zone.Internal(err)
	}
	return &out, nil
}

// noDB adapts a put that needs nothing of the DB.
func noDB[T any](put func(tx *bbolt.Tx, old, v *T) ([]byte, error)) func(*bbolt.Tx, *DB, *T, *T) ([]byte, error) {
	return func(tx *bbolt.Tx, _ *DB, old, v *T) ([]byte, error) { return put(tx, old, v) }
}

// viewOne reads one record with get in a read transaction.
func viewOne[T any](ctx context.Context, db *DB, id string, get func(*bbolt.Tx, string) (*T, error)) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *T
	err := db.view(func(tx *bbolt.Tx) error {
		var err error
		out, err = get(tx, id)
		return err
	})
	return out, err
}

// listNewest pages the records of firm (every firm's when empty) newest
// first from cursor (an ID this service issued): those keep accepts (all
// when keep is nil), at most limit (default 100), and the cursor of the
// next page when more are left.
func listNewest[T any](ctx context.Context, db *DB, records, firmIdx []byte, firm, cursor string, limit int,
	keep func(*T) bool, id func(*T) string) (items []*T, next string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = 100
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	err = db.view(func(tx *bbolt.Tx) error {
		more, err := walkNewest(tx, records, firmIdx, firm, after, func(raw []byte) (bool, error) {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return false, zone.Internal(err)
			}
			if keep != nil && !keep(&v) {
				return false, nil
			}
			if len(items) == limit {
				return true, nil
			}
			items = append(items, &v)
			return false, nil
		})
		if more && len(items) > 0 {
			next = base64.RawURLEncoding.EncodeToString([]byte(id(items[len(items)-1])))
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return items, next, nil
}

// allOldest returns every record of firm (every firm's when empty), oldest
// first.
func allOldest[T any](ctx context.Context, db *DB, records, firmIdx []byte, firm string) ([]*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*T
	err := db.view(func(tx *bbolt.Tx) error {
		_, err := walkNewest(tx, records, firmIdx, firm, nil, func(raw []byte) (bool, error) {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return false, zone.Internal(err)
			}
			out = append(out, &v)
			return false, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
