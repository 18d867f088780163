package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"

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

// CreateLot stores l, its indexes, audit entry and outbox messages in one
// transaction. A serial in stock in another of the firm's lots is ECONFLICT.
func (s *PartsStore) CreateLot(ctx context.Context, l *zone.PartsLot, idem *zone.Idempotency, ch zone.Change) (*zone.PartsLot, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if l.ID == "" {
		return nil, false, zone.Internal(errors.New("lot without an ID"))
	}
	var stored *zone.PartsLot
	err := s.db.update(func(tx *bbolt.Tx) error {
		if idem != nil {
			rec, err := lookupIdem(tx, idemKindLot, idem)
			if err != nil {
				return err
			}
			if rec != nil {
				if stored, err = getLot(tx, rec.RecordID); err != nil {
					return err
				}
				return errReplay
			}
			if err := putIdem(tx, idemKindLot, idem, recordIdem{RecordID: l.ID, Created: l.CreatedAt}); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketLots).Get([]byte(l.ID)) != nil {
			return zone.Errorf(zone.ECONFLICT, "parts lot %s already exists", l.ID)
		}
		after, err := putLot(tx, nil, l)
		if err != nil {
			return err
		}
		stored = l
		return recordChange(tx, auditEntityLot, l.ID, l.UpdatedAt, ch, nil, after)
	})
	if errors.Is(err, errReplay) {
		return stored, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return stored, false, nil
}

// UpdateLot loads id, lets fn change it and writes it with fn's Change in
// one transaction. fn's error is returned and nothing is written. With idem,
// a key seen before answers the lot as it is and the remembered reference.
func (s *PartsStore) UpdateLot(ctx context.Context, id string, idem *zone.Idempotency, fn func(l *zone.PartsLot) (string, zone.Change, error)) (*zone.PartsLot, string, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	var (
		out *zone.PartsLot
		ref string
	)
	err := s.db.update(func(tx *bbolt.Tx) error {
		before := tx.Bucket(bucketLots).Get([]byte(id))
		if before == nil {
			return zone.Errorf(zone.ENOTFOUND, "no parts lot %s", id)
		}
		before = bytes.Clone(before)
		var old, l zone.PartsLot
		if err := json.Unmarshal(before, &old); err != nil {
			return zone.Internal(err)
		}
		if err := json.Unmarshal(before, &l); err != nil {
			return zone.Internal(err)
		}
		if idem != nil {
			rec, err := lookupIdem(tx, idemKindMovement, idem)
			if err != nil {
				return err
			}
			if rec != nil {
				if rec.RecordID != id {
					return zone.Errorf(zone.EUNPROCESSABLE, "Idempotency-Key %q was already used for another lot", idem.Key)
				}
				out, ref = &l, rec.Ref
				return errReplay
			}
		}
		r, ch, err := fn(&l)
		if err != nil {
			return pass(err)
		}
		if l.ID != id {
			return zone.Internal(errors.New("update changed the lot's ID"))
		}
		if idem != nil {
			if err := putIdem(tx, idemKindMovement, idem, recordIdem{RecordID: id, Ref: r, Created: l.UpdatedAt}); err != nil {
				return err
			}
		}
		after, err := putLot(tx, &old, &l)
		if err != nil {
			return pass(err)
		}
		if err := recordChange(tx, auditEntityLot, id, l.UpdatedAt, ch, before, after); err != nil {
			return err
		}
		out, ref = &l, r
		return nil
	})
	if errors.Is(err, errReplay) {
		return out, ref, true, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	return out, ref, false, nil
}

// Lot returns one lot or ENOTFOUND.
func (s *PartsStore) Lot(ctx context.Context, id string) (*zone.PartsLot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var l *zone.PartsLot
	err := s.db.view(func(tx *bbolt.Tx) error {
		var err error
		l, err = getLot(tx, id)
		return err
	})
	return l, err
}

// Lots lists by filter, newest first.
func (s *PartsStore) Lots(ctx context.Context, f zone.PartsLotFilter) (zone.PartsLotPage, error) {
	if err := ctx.Err(); err != nil {
		return zone.PartsLotPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return zone.PartsLotPage{}, err
	}
	var page zone.PartsLotPage
	err = s.db.view(func(tx *bbolt.Tx) error {
		more, err := walkNewest(tx, bucketLots, bucketLotsFirm, f.Firm, after, func(v []byte) (bool, error) {
			if len(page.Items) == f.Limit {
				return true, nil
			}
			var l zone.PartsLot
			if err := json.Unmarshal(v, &l); err != nil {
				return false, zone.Internal(err)
			}
			page.Items = append(page.Items, &l)
			return false, nil
		})
		if more && len(page.Items) > 0 {
			page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Items[len(page.Items)-1].ID))
		}
		return err
	})
	if err != nil {
		return zone.PartsLotPage{}, err
	}
	return page, nil
}

// AllLots returns every lot of firm (all firms when empty), oldest first.
func (s *PartsStore) AllLots(ctx context.Context, firm string) ([]*zone.PartsLot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*zone.PartsLot
	err := s.db.view(func(tx *bbolt.Tx) error {
		_, err := walkNewest(tx, bucketLots, bucketLotsFirm, firm, nil, func(v []byte) (bool, error) {
			var l zone.PartsLot
			if err := json.Unmarshal(v, &l); err != nil {
				return false, zone.Internal(err)
			}
			out = append(out, &l)
			return false, nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
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
	v := tx.Bucket(bucketLots).Get([]byte(id))
	if v == nil {
		return nil, zone.Errorf(zone.ENOTFOUND, "no parts lot %s", id)
	}
	var l zone.PartsLot
	if err := json.Unmarshal(v, &l); err != nil {
		return nil, zone.Internal(err)
	}
	return &l, nil
}
