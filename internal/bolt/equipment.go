package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// EquipmentStore keeps the self-use production equipment register: each
// item as one record with a firm index.
type EquipmentStore struct {
	db *DB
}

var (
	_ zone.EquipmentStore    = (*EquipmentStore)(nil)
	_ zone.EquipmentDueStore = (*EquipmentStore)(nil)
)

// NewEquipmentStore returns the equipment store of db.
func NewEquipmentStore(db *DB) *EquipmentStore { return &EquipmentStore{db: db} }

var (
	bucketEquipment     = []byte("equipment")          // id → item JSON
	bucketEquipmentFirm = []byte("equipment_idx_firm") // firm 0x00 id
	// return deadline (unix ns, big-endian) id: items out for repair whose
	// overdue alarm has not been raised
	bucketEquipmentDue = []byte("equipment_due")
)

func init() {
	allBuckets = append(allBuckets, bucketEquipment, bucketEquipmentFirm, bucketEquipmentDue)
}

const (
	auditEntityEquipment = "equipment"
	idemKindEquipment    = "equipment"
)

var equipmentKind = &recordKind[zone.Equipment]{
	bucket:  bucketEquipment,
	entity:  auditEntityEquipment,
	keys:    keysOf(idemKindEquipment),
	missing: "no equipment %s",
	exists:  "equipment %s already exists",
	noID:    "equipment without an ID",
	changed: "update changed the equipment's ID",
	same:    func(old, q *zone.Equipment) bool { return q.ID == old.ID },
	meta:    func(q *zone.Equipment) (string, time.Time, time.Time) { return q.ID, q.CreatedAt, q.UpdatedAt },
	get:     getEquipment,
	put:     noDB(putEquipment),
}

// CreateEquipment stores q, its index, audit entry and outbox messages in
// one transaction; a replayed Idempotency-Key answers the stored item.
func (s *EquipmentStore) CreateEquipment(ctx context.Context, q *zone.Equipment, idem *zone.Idempotency, ch zone.Change) (*zone.Equipment, bool, error) {
	return createRecord(ctx, s.db, equipmentKind, q, idem, fixed(ch))
}

// UpdateEquipment loads id, lets fn change it and writes it with fn's
// Change in one transaction; fn's error is returned and nothing is written.
func (s *EquipmentStore) UpdateEquipment(ctx context.Context, id string, fn func(q *zone.Equipment) (zone.Change, error)) (*zone.Equipment, error) {
	return updateIn(ctx, s.db, equipmentKind, id, func(q *zone.Equipment) (zone.Change, error) {
		ch, err := fn(q)
		return ch, pass(err)
	})
}

// Equipment returns one item or ENOTFOUND.
func (s *EquipmentStore) Equipment(ctx context.Context, id string) (*zone.Equipment, error) {
	return viewOne(ctx, s.db, id, getEquipment)
}

// EquipmentList lists by filter, newest first.
func (s *EquipmentStore) EquipmentList(ctx context.Context, f zone.EquipmentFilter) (zone.EquipmentPage, error) {
	items, next, err := listNewest(ctx, s.db, bucketEquipment, bucketEquipmentFirm, f.Firm, f.Cursor, f.Limit, nil,
		func(q *zone.Equipment) string { return q.ID })
	if err != nil {
		return zone.EquipmentPage{}, err
	}
	return zone.EquipmentPage{Items: items, NextCursor: next}, nil
}

// putEquipment writes q and moves its index entries from old's (nil on
// create). It returns q's JSON.
func putEquipment(tx *bbolt.Tx, old, q *zone.Equipment) ([]byte, error) {
	raw, err := json.Marshal(q)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 2*len(raw)+256); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketEquipment).Put([]byte(q.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	if old == nil {
		if err := tx.Bucket(bucketEquipmentFirm).Put(indexKey(q.Firm, q.ID), nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	due := tx.Bucket(bucketEquipmentDue)
	if k := equipmentDueKey(old); k != nil {
		if err := due.Delete(k); err != nil {
			return nil, zone.Internal(err)
		}
	}
	if k := equipmentDueKey(q); k != nil {
		if err := due.Put(k, nil); err != nil {
			return nil, zone.Internal(err)
		}
	}
	return raw, nil
}

// equipmentDueKey is q's entry in bucketEquipmentDue, or nil when q is not
// out for repair or its alarm was raised.
func equipmentDueKey(q *zone.Equipment) []byte {
	if q == nil {
		return nil
	}
	x := q.CurrentExit()
	if x == nil || x.OverdueAt != nil || x.ReturnDeadline().IsZero() {
		return nil
	}
	return timeKey(x.ReturnDeadline(), q.ID)
}

// OverdueEquipment lists the items out for repair, not yet alarmed, whose
// return deadline is at or before now, earliest first.
func (s *EquipmentStore) OverdueEquipment(ctx context.Context, now time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []string
	err := s.db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEquipmentDue).Cursor()
		for k, _ := c.First(); k != nil && len(k) > 8; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > now.UnixNano() {
				break
			}
			out = append(out, string(k[8:]))
		}
		return nil
	})
	return out, err
}

func getEquipment(tx *bbolt.Tx, id string) (*zone.Equipment, error) {
	return getRecord[zone.Equipment](tx, bucketEquipment, "no equipment %s", id)
}
