package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Buckets of bonded-maintenance visits (created on Open).
var (
	bucketVisits        = []byte("mnt_visits")         // id → visit JSON (task cards, removed parts)
	bucketVisitsFirm    = []byte("mnt_idx_firm")       // firm 0x00 id
	bucketVisitsInbound = []byte("mnt_idx_inbound")    // inbound declaration ID → visit ID (one visit each)
	bucketVisitsObject  = []byte("mnt_idx_object")     // firm 0x00 object key 0x00 id
	bucketVisitCards    = []byte("mnt_idx_task_cards") // firm 0x00 task card number → visit ID
)

func init() {
	allBuckets = append(allBuckets, bucketVisits, bucketVisitsFirm, bucketVisitsInbound, bucketVisitsObject, bucketVisitCards)
}

const (
	auditEntityVisit = "maintenance_visit"
	idemKindVisit    = "maintenance_visit"
	idemKindVisitRec = "maintenance_visit_record"
)

// VisitStore keeps maintenance visits in bbolt.
type VisitStore struct{ db *DB }

var _ zone.VisitStore = (*VisitStore)(nil)

// NewVisitStore returns the visit store of db.
func NewVisitStore(db *DB) *VisitStore { return &VisitStore{db: db} }

// FollowVisits makes every declaration that becomes crossed in db move the
// visits it concerns, in the crossing's own transaction (zone.VisitService's
// CrossingMove): a visit can then never miss its entry or departure.
func (db *DB) FollowVisits(move zone.VisitCrossingMove) { db.visitMove = move }

// followCrossing applies db's visit move to the visits d concerns: the one
// opened on d (inbound), and the firm's visits of the same object (outbound).
func followCrossing(tx *bbolt.Tx, db *DB, d *zone.PreDeclaration) error {
	if db.visitMove == nil || d.Status != zone.StatusCrossed || d.Regime != zone.RegimeBondedMaintenance {
		return nil
	}
	var ids []string
	if d.Direction == zone.In {
		if id := tx.Bucket(bucketVisitsInbound).Get([]byte(d.ID)); id != nil {
			ids = append(ids, string(id))
		}
	} else {
		prefix := append(indexKey(d.Firm, zone.ObjectKey(d.Object)), 0)
		c := tx.Bucket(bucketVisitsObject).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
	}
	for _, id := range ids {
		if _, _, err := updateVisit(tx, id, func(v *zone.Visit) (string, zone.Change, error) {
			ch, moved, err := db.visitMove(v, d)
			if err == nil && !moved {
				err = errUnmoved
			}
			return "", ch, err
		}); err != nil && !errors.Is(err, errUnmoved) {
			return err
		}
	}
	return nil
}

var errUnmoved = errors.New("visit not moved")

var visitKind = &recordKind[zone.Visit]{
	bucket:  bucketVisits,
	entity:  auditEntityVisit,
	keys:    keysOf(idemKindVisit),
	missing: "no maintenance visit %s",
	changed: "update changed the visit's ID or firm",
	same:    func(old, v *zone.Visit) bool { return v.ID == old.ID && v.Firm == old.Firm },
	meta:    func(v *zone.Visit) (string, time.Time, time.Time) { return v.ID, v.CreatedAt, v.UpdatedAt },
	get:     getVisit,
	put:     noDB(putVisit),
}

// CreateVisit stores v with its indexes, audit entry and outbox messages in
// one transaction.
func (s *VisitStore) CreateVisit(ctx context.Context, v *zone.Visit, idem *zone.Idempotency, ch zone.Change) (*zone.Visit, bool, error) {
	return createRecord(ctx, s.db, visitKind, v, idem, func(tx *bbolt.Tx) (zone.Change, error) {
		if other := tx.Bucket(bucketVisitsInbound).Get([]byte(v.InboundPreDeclaration)); other != nil {
			return ch, zone.Errorf(zone.ECONFLICT, "pre-declaration %s already opened visit %s", v.InboundPreDeclaration, other)
		}
		return ch, nil
	})
}

// UpdateVisit loads id, lets fn change it and writes it in one transaction;
// see zone.VisitStore.
func (s *VisitStore) UpdateVisit(ctx context.Context, id string, idem *zone.Idempotency, fn func(v *zone.Visit) (string, zone.Change, error)) (*zone.Visit, string, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", false, err
	}
	var (
		out   *zone.Visit
		ref   string
		fnErr error
	)
	err := s.db.update(func(tx *bbolt.Tx) error {
		if idem != nil {
			rec, err := lookupIdem(tx, idemKindVisitRec, idem)
			if err != nil {
				return err
			}
			if rec != nil {
				if rec.RecordID != id {
					return zone.Errorf(zone.EUNPROCESSABLE, "Idempotency-Key %q was already used for another visit", idem.Key)
				}
				if out, err = getVisit(tx, id); err != nil {
					return err
				}
				ref = rec.Ref
				return errReplay
			}
		}
		v, r, err := updateVisit(tx, id, func(v *zone.Visit) (string, zone.Change, error) {
			r, ch, err := fn(v)
			fnErr = err
			return r, ch, err
		})
		if err != nil {
			return err
		}
		if idem != nil {
			if err := putIdem(tx, idemKindVisitRec, idem, recordIdem{RecordID: id, Ref: r, Created: v.UpdatedAt}); err != nil {
				return err
			}
		}
		out, ref = v, r
		return nil
	})
	if errors.Is(err, errReplay) {
		return out, ref, true, nil
	}
	if fnErr != nil {
		return nil, "", false, fnErr
	}
	if err != nil {
		return nil, "", false, err
	}
	return out, ref, false, nil
}

// updateVisit is one read-change-write of a visit inside tx.
func updateVisit(tx *bbolt.Tx, id string, fn func(v *zone.Visit) (string, zone.Change, error)) (*zone.Visit, string, error) {
	var ref string
	v, err := updateRecord(tx, nil, visitKind, id, func(v *zone.Visit) (zone.Change, error) {
		r, ch, err := fn(v)
		ref = r
		return ch, err
	})
	if err != nil {
		return nil, "", err
	}
	return v, ref, nil
}

// putVisit writes v and its index entries; a task card number another visit
// of the firm holds is ECONFLICT (so a movement citing it names one visit).
func putVisit(tx *bbolt.Tx, old, v *zone.Visit) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 3*len(raw)+256); err != nil {
		return nil, err
	}
	cards := tx.Bucket(bucketVisitCards)
	for _, tc := range v.TaskCards {
		k := indexKey(v.Firm, tc.Number)
		switch owner := cards.Get(k); {
		case owner == nil:
			if err := cards.Put(k, []byte(v.ID)); err != nil {
				return nil, zone.Internal(err)
			}
		case string(owner) != v.ID:
			return nil, zone.Errorf(zone.ECONFLICT, "task card %s is already open on visit %s of the firm", tc.Number, owner)
		}
	}
	if err := tx.Bucket(bucketVisits).Put([]byte(v.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	if old == nil {
		for _, p := range []struct{ b, k, v []byte }{
			{bucketVisitsFirm, indexKey(v.Firm, v.ID), nil},
			{bucketVisitsInbound, []byte(v.InboundPreDeclaration), []byte(v.ID)},
			{bucketVisitsObject, append(append(indexKey(v.Firm, zone.ObjectKey(v.Object)), 0), v.ID...), nil},
		} {
			if err := tx.Bucket(p.b).Put(p.k, p.v); err != nil {
				return nil, zone.Internal(err)
			}
		}
	}
	return raw, nil
}

func getVisit(tx *bbolt.Tx, id string) (*zone.Visit, error) {
	return getRecord[zone.Visit](tx, bucketVisits, "no maintenance visit %s", id)
}

// Visit returns one visit or ENOTFOUND.
func (s *VisitStore) Visit(ctx context.Context, id string) (*zone.Visit, error) {
	return viewOne(ctx, s.db, id, getVisit)
}

// Visits lists by filter, newest first.
func (s *VisitStore) Visits(ctx context.Context, f zone.VisitFilter) (zone.VisitPage, error) {
	var keep func(*zone.Visit) bool
	if f.Status != "" {
		keep = func(v *zone.Visit) bool { return v.Status == f.Status }
	}
	items, next, err := listNewest(ctx, s.db, bucketVisits, bucketVisitsFirm, f.Firm, f.Cursor, f.Limit, keep,
		func(v *zone.Visit) string { return v.ID })
	return zone.VisitPage{Items: items, NextCursor: next}, err
}

// AllVisits returns every visit of firm (every firm's when empty), oldest
// first.
func (s *VisitStore) AllVisits(ctx context.Context, firm string) ([]*zone.Visit, error) {
	return allOldest[zone.Visit](ctx, s.db, bucketVisits, bucketVisitsFirm, firm)
}

// TaskCardVisit returns the firm's visit holding task card number.
func (s *VisitStore) TaskCardVisit(ctx context.Context, firm, number string) (*zone.Visit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v *zone.Visit
	err := s.db.view(func(tx *bbolt.Tx) error {
		id := tx.Bucket(bucketVisitCards).Get(indexKey(firm, number))
		if id == nil {
			return zone.Errorf(zone.ENOTFOUND, "no task card %s of firm %s", number, firm)
		}
		var err error
		v, err = getVisit(tx, string(id))
		return err
	})
	return v, err
}
