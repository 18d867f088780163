package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// StatsSource reads the declarations the statistics are computed from: by
// crossing time (an index the crossing consumer and ImportHistory keep) and
// by submission time (declaration IDs are ULIDs, so key order is creation
// order).
type StatsSource struct {
	db    *DB
	decls *DeclarationStore
}

var _ zone.StatsSource = (*StatsSource)(nil)

// NewStatsSource returns the stats source of db.
func NewStatsSource(db *DB) *StatsSource { return &StatsSource{db: db, decls: NewDeclarationStore(db)} }

// CrossedBetween returns the declarations that crossed a gate in [from, to).
func (s *StatsSource) CrossedBetween(ctx context.Context, from, to time.Time) ([]*zone.PreDeclaration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*zone.PreDeclaration
	err := s.db.view(func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bucketIdxCrossedAt)
		if idx == nil {
			return nil
		}
		c := idx.Cursor()
		lo := binary.BigEndian.AppendUint64(nil, uint64(max(from.UnixNano(), 0)))
		hi := uint64(max(to.UnixNano(), 0))
		for k, _ := c.Seek(lo); k != nil && len(k) > 8 && binary.BigEndian.Uint64(k[:8]) < hi; k, _ = c.Next() {
			d, err := getDeclaration(tx, string(k[8:]))
			if zone.ErrorCode(err) == zone.ENOTFOUND {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// SubmittedBetween returns the declarations created in [from, to).
func (s *StatsSource) SubmittedBetween(ctx context.Context, from, to time.Time) ([]*zone.PreDeclaration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*zone.PreDeclaration
	err := s.db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDeclarations).Cursor()
		var seek ulid.ULID
		if from.After(time.UnixMilli(0)) {
			_ = seek.SetTime(ulid.Timestamp(from))
		}
		for k, v := c.Seek([]byte(seek.String())); k != nil; k, v = c.Next() {
			if id, err := ulid.ParseStrict(string(k)); err == nil && !ulid.Time(id.Time()).Before(to) {
				break
			}
			var d zone.PreDeclaration
			if err := json.Unmarshal(v, &d); err != nil {
				return zone.Internal(err)
			}
			if !d.CreatedAt.Before(from) && d.CreatedAt.Before(to) {
				out = append(out, &d)
			}
		}
		return nil
	})
	return out, err
}

// ImportHistory stores historical declarations (already crossed, arrived or
// closed) for the statistics, in one transaction, each with its indexes and
// an audit entry (actor system, action import). Nothing is published: these
// moves are long past and no gate needs them. A declaration whose ID is
// already stored is left as it is, so importing twice adds nothing. It
// returns how many were added.
func (s *StatsSource) ImportHistory(ctx context.Context, ds []zone.PreDeclaration) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	added := 0
	err := s.db.update(func(tx *bbolt.Tx) error {
		added = 0
		idx, err := tx.CreateBucketIfNotExists(bucketIdxCrossedAt)
		if err != nil {
			return zone.Internal(err)
		}
		for i := range ds {
			d := ds[i]
			if d.ID == "" {
				return zone.Invalid(zone.FieldError{Field: "id", Message: "a historical declaration needs an ID"})
			}
			if tx.Bucket(bucketDeclarations).Get([]byte(d.ID)) != nil {
				continue
			}
			after, err := s.decls.put(tx, nil, &d)
			if err != nil {
				return err
			}
			if err := s.decls.record(tx, &d, zone.Change{Actor: zone.System, Action: "import", Reason: "historical record for statistics"}, nil, after); err != nil {
				return err
			}
			if d.CrossedAt != nil {
				if err := idx.Put(timeKey(*d.CrossedAt, d.ID), nil); err != nil {
					return zone.Internal(err)
				}
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}
