package bolt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Buckets of the crossings the zone API has received from the gates.
var (
	bucketCrossings     = []byte("crossings")      // crossing ID → JSON
	bucketCrossingTime  = []byte("crossing_time")  // time(8) crossing ID → crossing ID
	bucketCrossingGate  = []byte("crossing_gate")  // gate 0x00 time(8) crossing ID → crossing ID
	bucketSeenEvents    = []byte("api_seen")       // consumed event ID → topic
	bucketIdxCrossedAt  = []byte("idx_crossed_at") // time(8) declaration ID → nil (stats)
	auditEntityCrossing = "crossing"
)

// CrossingStore keeps the crossings and alarms the gates report, applying
// each Kafka event once (seen-set), and moves the declarations they name.
type CrossingStore struct {
	db    *DB
	decls *DeclarationStore
}

var _ zone.CrossingStore = (*CrossingStore)(nil)

// NewCrossingStore returns the crossing store of db.
func NewCrossingStore(db *DB) *CrossingStore {
	return &CrossingStore{db: db, decls: NewDeclarationStore(db)}
}

func createBuckets(tx *bbolt.Tx, names ...[]byte) ([]*bbolt.Bucket, error) {
	out := make([]*bbolt.Bucket, len(names))
	for i, n := range names {
		b, err := tx.CreateBucketIfNotExists(n)
		if err != nil {
			return nil, zone.Internal(err)
		}
		out[i] = b
	}
	return out, nil
}

// markSeen puts eventID into the seen-set; seen=true if it was there.
func markSeen(tx *bbolt.Tx, eventID, topic string) (seen bool, err error) {
	b, err := tx.CreateBucketIfNotExists(bucketSeenEvents)
	if err != nil {
		return false, zone.Internal(err)
	}
	if b.Get([]byte(eventID)) != nil {
		return true, nil
	}
	return false, wrapInternal(b.Put([]byte(eventID), []byte(topic)))
}

// RecordCrossing applies one crossing event in one transaction; see
// zone.CrossingStore.
func (s *CrossingStore) RecordCrossing(ctx context.Context, eventID string, x *zone.Crossing, move zone.CrossingMove) (zone.CrossingOutcome, error) {
	if err := ctx.Err(); err != nil {
		return zone.CrossingOutcome{}, err
	}
	var out zone.CrossingOutcome
	err := s.db.update(func(tx *bbolt.Tx) error {
		out = zone.CrossingOutcome{}
		seen, err := markSeen(tx, eventID, zone.TopicCrossings)
		if err != nil {
			return err
		}
		bs, err := createBuckets(tx, bucketCrossings, bucketCrossingTime, bucketCrossingGate, bucketIdxCrossedAt)
		if err != nil {
			return err
		}
		crossings, byTime, byGate, crossedAt := bs[0], bs[1], bs[2], bs[3]
		raw, err := json.Marshal(x)
		if err != nil {
			return zone.Internal(err)
		}
		if old := crossings.Get([]byte(x.ID)); old != nil {
			// The same ID with the same content is the normal repeat; other
			// content is an ID a gate reused, never to be dropped unseen.
			var was zone.Crossing
			if json.Unmarshal(old, &was) == nil && sameJSON(&was, raw) {
				out.Duplicate = true
				return nil
			}
			a := conflictAlarm("crossing", x.ID, x.Gate, raw, x.Time,
				fmt.Sprintf("crossing %s received again with other content (now: %s at %s, clearance %q; stored: %s at %s, clearance %q); the new one was not applied — check the gate's store and what happened at the gate",
					x.ID, x.Decision, x.Time.UTC().Format(time.RFC3339), x.ClearanceID, was.Decision, was.Time.UTC().Format(time.RFC3339), was.ClearanceID))
			a.CrossingID = x.ID
			if _, err := putAlarm(tx, a); err != nil {
				return err
			}
			out.Conflict = a
			return nil
		}
		if seen {
			out.Duplicate = true
			return nil
		}
		if err := checkRoom(tx, 4*len(raw)+256); err != nil {
			return err
		}
		tk := timeKey(x.Time, x.ID)
		gk := append(append([]byte(x.Gate), 0), tk...)
		for _, p := range []struct {
			b    *bbolt.Bucket
			k, v []byte
		}{{crossings, []byte(x.ID), raw}, {byTime, tk, []byte(x.ID)}, {byGate, gk, []byte(x.ID)}} {
			if err := p.b.Put(p.k, p.v); err != nil {
				return zone.Internal(err)
			}
		}
		e := zone.AuditEntry{Time: x.Time, Actor: "gate:" + x.Gate, Action: "record", Entity: auditEntityCrossing,
			EntityID: x.ID, Reason: string(x.Decision), After: raw}
		if err := appendAudit(tx, &e); err != nil {
			return err
		}
		if move == nil || x.ClearanceID == "" {
			return nil
		}
		var d *zone.PreDeclaration
		before := tx.Bucket(bucketDeclarations).Get([]byte(x.ClearanceID))
		var old zone.PreDeclaration
		if before != nil {
			before = bytes.Clone(before)
			d = new(zone.PreDeclaration)
			if err := json.Unmarshal(before, d); err != nil {
				return zone.Internal(err)
			}
			_ = json.Unmarshal(before, &old)
		}
		ch, moved, err := move(d)
		if err != nil {
			return err
		}
		if !moved || d == nil {
			return nil
		}
		after, err := s.decls.put(tx, &old, d)
		if err != nil {
			return err
		}
		if err := s.decls.record(tx, d, ch, before, after); err != nil {
			return err
		}
		if d.CrossedAt != nil {
			if err := crossedAt.Put(timeKey(*d.CrossedAt, d.ID), nil); err != nil {
				return zone.Internal(err)
			}
		}
		out.Declaration = d
		return nil
	})
	if err != nil {
		return zone.CrossingOutcome{}, err
	}
	return out, nil
}

// RecordAlarm applies one alarm event in one transaction: seen-set, then
// putAlarm; a stored alarm ID with other content raises id_conflict.
func (s *CrossingStore) RecordAlarm(ctx context.Context, eventID string, a *zone.Alarm) (zone.AlarmOutcome, error) {
	if err := ctx.Err(); err != nil {
		return zone.AlarmOutcome{}, err
	}
	var out zone.AlarmOutcome
	err := s.db.update(func(tx *bbolt.Tx) error {
		out = zone.AlarmOutcome{}
		seen, err := markSeen(tx, eventID, zone.TopicAlarms)
		if err != nil {
			return err
		}
		if was, err := getAlarm(tx, a.ID); err == nil {
			if sameAlarm(&was.Alarm, a) {
				return nil // the normal repeat
			}
			raw, _ := json.Marshal(a)
			c := conflictAlarm("alarm", a.ID, a.Gate, raw, a.Time,
				fmt.Sprintf("alarm %s received again with other content (now: %s %q; stored: %s %q); the new one was not stored — check the gate's store",
					a.ID, a.Kind, a.Message, was.Kind, was.Message))
			if _, err := putAlarm(tx, c); err != nil {
				return err
			}
			out.Conflict = c
			return nil
		} else if zone.ErrorCode(err) != zone.ENOTFOUND {
			return err
		}
		if seen {
			return nil
		}
		out.Applied, err = putAlarm(tx, a)
		return err
	})
	if err != nil {
		return zone.AlarmOutcome{}, err
	}
	return out, nil
}

// sameJSON reports whether v encodes to raw: a stored record decoded and
// encoded again compares equal to the same record received again.
func sameJSON(v any, raw []byte) bool {
	again, err := json.Marshal(v)
	return err == nil && bytes.Equal(again, raw)
}

// sameAlarm compares what a gate says of an alarm; state and
// acknowledgement are the zone's own.
func sameAlarm(was, now *zone.Alarm) bool {
	return was.ID == now.ID && was.Gate == now.Gate && was.Kind == now.Kind && was.Severity == now.Severity &&
		was.Message == now.Message && was.CrossingID == now.CrossingID && was.DeviceID == now.DeviceID &&
		was.RecordID == now.RecordID && was.Time.Equal(now.Time)
}

// conflictAlarm is the id_conflict alarm for a crossing or alarm ID
// received with other content than stored. Its ID names the content, so a
// redelivery of the same conflicting event raises nothing twice.
func conflictAlarm(what, id, gate string, raw []byte, at time.Time, msg string) *zone.Alarm {
	sum := sha256.Sum256(raw)
	return &zone.Alarm{ID: "id-conflict-" + id + "-" + hex.EncodeToString(sum[:6]), Gate: gate, Kind: zone.AlarmIDConflict,
		Severity: zone.SeverityCritical, Message: msg, Time: at.UTC(), State: zone.AlarmOpen}
}

// Crossing returns one stored crossing or ENOTFOUND.
func (s *CrossingStore) Crossing(ctx context.Context, id string) (*zone.Crossing, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var x *zone.Crossing
	err := s.db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCrossings)
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return zone.Errorf(zone.ENOTFOUND, "no crossing %s", id)
		}
		x = new(zone.Crossing)
		return wrapInternal(json.Unmarshal(v, x))
	})
	return x, err
}

// Crossings lists crossings by their time, oldest first from f.Since, from
// one gate or all. The cursor names the last crossing returned.
func (s *CrossingStore) Crossings(ctx context.Context, f zone.CrossingFilter) (zone.CrossingPage, error) {
	if err := ctx.Err(); err != nil {
		return zone.CrossingPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var after []byte // time(8) + id of the last item returned
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(raw) <= 8 {
			return zone.CrossingPage{}, zone.Invalid(zone.FieldError{Field: "cursor", Message: "not a cursor this service issued"})
		}
		after = raw
	}
	page := zone.CrossingPage{Items: []*zone.Crossing{}}
	err := s.db.view(func(tx *bbolt.Tx) error {
		crossings := tx.Bucket(bucketCrossings)
		if crossings == nil {
			return nil
		}
		var (
			c      *bbolt.Cursor
			prefix []byte
		)
		if f.Gate != "" {
			c, prefix = tx.Bucket(bucketCrossingGate).Cursor(), append([]byte(f.Gate), 0)
		} else {
			c = tx.Bucket(bucketCrossingTime).Cursor()
		}
		start := append(bytes.Clone(prefix), binary.BigEndian.AppendUint64(nil, uint64(max(f.Since.UnixNano(), 0)))...)
		if after != nil {
			start = append(bytes.Clone(prefix), after...)
		}
		k, v := c.Seek(start)
		if after != nil && k != nil && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			raw := crossings.Get(v)
			if raw == nil {
				continue
			}
			if len(page.Items) == f.Limit {
				last := page.Items[len(page.Items)-1]
				page.NextCursor = base64.RawURLEncoding.EncodeToString(timeKey(last.Time, last.ID))
				return nil
			}
			var x zone.Crossing
			if err := json.Unmarshal(raw, &x); err != nil {
				return zone.Internal(err)
			}
			page.Items = append(page.Items, &x)
		}
		return nil
	})
	if err != nil {
		return zone.CrossingPage{}, err
	}
	return page, nil
}
