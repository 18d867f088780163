package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// PartsStore keeps zero-tariff parts lots in bbolt: each lot with all its
// movements in one record (the balance is derived from them, never stored),
// a firm index, and a serial index that keeps each serial in stock in one
// of the firm's lots at a time.
type PartsStore struct {
	db *DB
}

var _ zone.PartsStore = (*PartsStore)(nil)

// NewPartsStore returns the parts store of db.
func NewPartsStore(db *DB) *PartsStore { return &PartsStore{db: db} }

const (
	idemKindLot      = "parts_lot"
	idemKindMovement = "parts_movement"
)

var lotKind = &recordKind[zone.PartsLot]{
	bucket:  bucketLots,
	entity:  auditEntityLot,
	keys:    keysOf(idemKindLot),
	missing: "no parts lot %s",
	exists:  "parts lot %s already exists",
	noID:    "lot without an ID",
	changed: "update changed the lot's ID",
	same:    func(old, l *zone.PartsLot) bool { return l.ID == old.ID },
	meta:    func(l *zone.PartsLot) (string, time.Time, time.Time) { return l.ID, l.CreatedAt, l.UpdatedAt },
	get:     getLot,
	put:     noDB(putLot),
}

// CreateLot stores l, its indexes, audit entry and outbox messages in one
// transaction. A serial in stock in another of the firm's lots is ECONFLICT.
func (s *PartsStore) CreateLot(ctx context.Context, l *zone.PartsLot, idem *zone.Idempotency, ch zone.Change) (*zone.PartsLot, bool, error) {
	return createRecord(ctx, s.db, lotKind, l, idem, fixed(ch))
}

// UpdateLot loads id, lets fn change it and writes it with fn's Change in
// one transaction. fn's error is returned and nothing is written. With idem,
// a key seen before answers the lot as it is and the remembered reference.
func (s *PartsStore) UpdateLot(ctx context.Context, id string, idem *zone.Idempotency, fn func(l *zone.PartsLot) (string, zone.Change, error)) (*zone.PartsLot, string, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	var (
		out, replayed *zone.PartsLot
		ref           string
	)
	err := s.db.update(func(tx *bbolt.Tx) error {
		var err error
		out, err = updateRecord(tx, s.db, lotKind, id, func(l *zone.PartsLot) (zone.Change, error) {
			if idem != nil {
				rec, err := lookupIdem(tx, idemKindMovement, idem)
				if err != nil {
					return zone.Change{}, err
				}
				if rec != nil {
					if rec.RecordID != id {
						return zone.Change{}, zone.Errorf(zone.EUNPROCESSABLE, "Idempotency-Key %q was already used for another lot", idem.Key)
					}
					replayed, ref = l, rec.Ref
					return zone.Change{}, errReplay
				}
			}
			r, ch, err := fn(l)
			if err != nil {
				return zone.Change{}, pass(err)
			}
			if idem != nil {
				if err := putIdem(tx, idemKindMovement, idem, recordIdem{RecordID: id, Ref: r, Created: l.UpdatedAt}); err != nil {
					return zone.Change{}, err
				}
			}
			ref = r
			return ch, nil
		})
		return err
	})
	if errors.Is(err, errReplay) {
		return replayed, ref, true, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return out, ref, false, nil
}

// Lot returns one lot or ENOTFOUND.
func (s *PartsStore) Lot(ctx context.Context, id string) (*zone.PartsLot, error) {
	return viewOne(ctx, s.db, id, getLot)
}

// Lots lists by filter, newest first.
func (s *PartsStore) Lots(ctx context.Context, f zone.PartsLotFilter) (zone.PartsLotPage, error) {
	items, next, err := listNewest(ctx, s.db, bucketLots, bucketLotsFirm, f.Firm, f.Cursor, f.Limit, nil,
		func(l *zone.PartsLot) string { return l.ID })
	if err != nil {
		return zone.PartsLotPage{}, err
	}
	return zone.PartsLotPage{Items: items, NextCursor: next}, nil
}

// AllLots returns every lot of firm (all firms when empty), oldest first.
func (s *PartsStore) AllLots(ctx context.Context, firm string) ([]*zone.PartsLot, error) {
	return allOldest[zone.PartsLot](ctx, s.db, bucketLots, bucketLotsFirm, firm)
}

// putLot writes l, its firm index entry (on create) and claims the serials
// that came into stock. A serial in stock in another lot of the firm is
// ECONFLICT. It returns l's JSON.
func putLot(tx *bbolt.Tx, old, l *zone.PartsLot) ([]byte, error) {
	raw, err := json.Marshal(l)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 2*len(raw)+256); err != nil {
		return nil, err
	}
	if l.Serialized() {
		had := map[string]bool{}
		if old != nil {
			for _, sn := range old.SerialsInHand() {
				had[sn] = true
			}
		}
		serials := tx.Bucket(bucketLotSerials)
		for _, sn := range l.SerialsInHand() {
			if had[sn] {
				continue
			}
			key := indexKey(l.Firm, sn)
			if holder := serials.Get(key); holder != nil && string(holder) != l.ID {
				other, err := getLot(tx, string(holder))
				if err != nil && zone.ErrorCode(err) != zone.ENOTFOUND {
					return nil, err
				}
				if other != nil && slices.Contains(other.SerialsInHand(), sn) {
					return nil, zone.Errorf(zone.ECONFLICT, "serial %s is already in stock in the firm's lot %s", sn, other.ID)
				}
			}
			if err := serials.Put(key, []byte(l.ID)); err != nil {
				return nil, zone.Internal(err)
			}
		}
	}
	if err := tx.Bucket(bucketLots).Put([]byte(l.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	if old == nil {
		if err := tx.Bucket(bucketLotsFirm).Put(indexKey(l.Firm, l.ID), nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	return raw, nil
}

func getLot(tx *bbolt.Tx, id string) (*zone.PartsLot, error) {
	return getRecord[zone.PartsLot](tx, bucketLots, "no parts lot %s", id)
}
