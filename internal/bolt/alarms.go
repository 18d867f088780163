package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Buckets of the alarm store. They are created by the first PutAlarm, so
// any bondgate bbolt file can hold alarms.
var (
	bucketAlarms     = []byte("alarms")      // alarm ID → storedAlarm JSON
	bucketAlarmOrder = []byte("alarm_order") // seq (received order) → alarm ID
	bucketAlarmIdx   = []byte("alarm_idx")   // "s"|"g" 0x00 value 0x00 seq → alarm ID
)

// auditEntityAlarm is the audit trail's name for an alarm.
const auditEntityAlarm = "alarm"

// storedAlarm is an alarm with the order the zone received it in, which
// newest-first lists and cursors follow.
type storedAlarm struct {
	zone.Alarm
	Order uint64 `json:"received_order"`
}

// putAlarm stores a raised alarm inside the caller's write transaction; an alarm ID already stored is left as it is (created=false), so replays raise nothing twice.
//
// A new alarm is stored open (unless it says acked), indexed by state and
// gate, and recorded in the audit trail with the gate (or system) as actor.
func putAlarm(tx *bbolt.Tx, a *zone.Alarm) (created bool, err error) {
	if a == nil || strings.TrimSpace(a.ID) == "" {
		return false, zone.Invalid(zone.FieldError{Field: "id", Message: "an alarm needs an ID"})
	}
	b, order, idx, err := alarmBuckets(tx)
	if err != nil {
		return false, err
	}
	if b.Get([]byte(a.ID)) != nil {
		return false, nil
	}
	if a.State == "" {
		a.State = zone.AlarmOpen
	}
	a.Time = a.Time.UTC()
	seq, err := order.NextSequence()
	if err != nil {
		return false, zone.Internal(err)
	}
	raw, err := json.Marshal(storedAlarm{Alarm: *a, Order: seq})
	if err != nil {
		return false, zone.Internal(err)
	}
	if err := checkRoom(tx, 3*len(raw)+256); err != nil {
		return false, err
	}
	if err := b.Put([]byte(a.ID), raw); err != nil {
		return false, zone.Internal(err)
	}
	if err := order.Put(u64(seq), []byte(a.ID)); err != nil {
		return false, zone.Internal(err)
	}
	if err := indexAlarm(idx, nil, a, seq); err != nil {
		return false, err
	}
	actor := zone.System
	if a.Gate != "" {
		actor = "gate:" + a.Gate
	}
	e := zone.AuditEntry{Time: a.Time, Actor: actor, Action: "raise", Entity: auditEntityAlarm,
		EntityID: a.ID, Reason: string(a.Kind), After: raw}
	if err := appendAudit(tx, &e); err != nil {
		return false, err
	}
	return true, nil
}

// alarmBuckets returns the alarm buckets, creating them in a writable
// transaction; in a read-only one they may be nil.
func alarmBuckets(tx *bbolt.Tx) (alarms, order, idx *bbolt.Bucket, err error) {
	if !tx.Writable() {
		return tx.Bucket(bucketAlarms), tx.Bucket(bucketAlarmOrder), tx.Bucket(bucketAlarmIdx), nil
	}
	for _, x := range []struct {
		name []byte
		b    **bbolt.Bucket
	}{{bucketAlarms, &alarms}, {bucketAlarmOrder, &order}, {bucketAlarmIdx, &idx}} {
		if *x.b, err = tx.CreateBucketIfNotExists(x.name); err != nil {
			return nil, nil, nil, zone.Internal(err)
		}
	}
	return alarms, order, idx, nil
}

func alarmIdxKey(kind byte, value string, seq uint64) []byte {
	k := make([]byte, 0, 2+len(value)+1+8)
	k = append(k, kind, 0)
	k = append(k, value...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func alarmIdxPrefix(kind byte, value string) []byte {
	k := alarmIdxKey(kind, value, 0)
	return k[:len(k)-8]
}

// indexAlarm moves a's index entries from old's values (nil for new).
func indexAlarm(idx *bbolt.Bucket, old, a *zone.Alarm, seq uint64) error {
	if old != nil && old.State != a.State {
		if err := idx.Delete(alarmIdxKey('s', string(old.State), seq)); err != nil {
			return zone.Internal(err)
		}
	}
	if old == nil || old.State != a.State {
		if err := idx.Put(alarmIdxKey('s', string(a.State), seq), []byte(a.ID)); err != nil {
			return zone.Internal(err)
		}
	}
	if old == nil && a.Gate != "" {
		if err := idx.Put(alarmIdxKey('g', a.Gate, seq), []byte(a.ID)); err != nil {
			return zone.Internal(err)
		}
	}
	return nil
}

// AlarmStore lists and acknowledges the alarms in one bbolt file.
type AlarmStore struct {
	db *DB
}

var _ zone.AlarmStore = (*AlarmStore)(nil)

// NewAlarmStore returns the alarm store of db.
func NewAlarmStore(db *DB) *AlarmStore { return &AlarmStore{db: db} }

// Put stores a in its own transaction (see putAlarm).
func (s *AlarmStore) Put(ctx context.Context, a *zone.Alarm) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	err = s.db.update(func(tx *bbolt.Tx) error {
		created, err = putAlarm(tx, a)
		return err
	})
	return created, err
}

// Alarm returns one alarm or ENOTFOUND.
func (s *AlarmStore) Alarm(ctx context.Context, id string) (*zone.Alarm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *zone.Alarm
	err := s.db.view(func(tx *bbolt.Tx) error {
		sa, err := getAlarm(tx, id)
		if err != nil {
			return err
		}
		out = &sa.Alarm
		return nil
	})
	return out, err
}

func getAlarm(tx *bbolt.Tx, id string) (*storedAlarm, error) {
	b := tx.Bucket(bucketAlarms)
	var v []byte
	if b != nil {
		v = b.Get([]byte(id))
	}
	if v == nil {
		return nil, zone.Errorf(zone.ENOTFOUND, "no alarm %s", id)
	}
	var sa storedAlarm
	if err := json.Unmarshal(v, &sa); err != nil {
		return nil, zone.Internal(err)
	}
	return &sa, nil
}

// Alarms lists by filter, newest first (received order). It walks the state
// index when a state is given, else the gate index, else every alarm, and
// checks the other filter on each.
func (s *AlarmStore) Alarms(ctx context.Context, f zone.AlarmFilter) (zone.AlarmPage, error) {
	if err := ctx.Err(); err != nil {
		return zone.AlarmPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var below uint64 // 0: from the newest
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		// Orders start at 1: a cursor of 0 would mean "from the newest" and
		// start the list again, so it is refused like any forged cursor.
		if err != nil || len(raw) != 8 || binary.BigEndian.Uint64(raw) == 0 {
			return zone.AlarmPage{}, zone.Invalid(zone.FieldError{Field: "cursor", Message: "not a cursor this service issued"})
		}
		below = binary.BigEndian.Uint64(raw)
	}
	page := zone.AlarmPage{Items: []*zone.Alarm{}}
	var lastOrder uint64
	err := s.db.view(func(tx *bbolt.Tx) error {
		alarms, order, idx, _ := alarmBuckets(tx)
		if alarms == nil {
			return nil
		}
		var (
			c      *bbolt.Cursor
			prefix []byte
		)
		switch {
		case f.State != "":
			c, prefix = idx.Cursor(), alarmIdxPrefix('s', string(f.State))
		case f.Gate != "":
			c, prefix = idx.Cursor(), alarmIdxPrefix('g', f.Gate)
		default:
			c = order.Cursor()
		}
		var hi []byte
		if below > 0 {
			hi = binary.BigEndian.AppendUint64(bytes.Clone(prefix), below)
		} else if len(prefix) > 0 {
			hi = prefixEnd(prefix)
		}
		for k, v := seekBelow(c, hi); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			raw := alarms.Get(v)
			if raw == nil {
				continue
			}
			var sa storedAlarm
			if err := json.Unmarshal(raw, &sa); err != nil {
				return zone.Internal(err)
			}
			if (f.State != "" && sa.State != f.State) || (f.Gate != "" && sa.Gate != f.Gate) {
				continue
			}
			if len(page.Items) == f.Limit {
				page.NextCursor = base64.RawURLEncoding.EncodeToString(u64(lastOrder))
				return nil
			}
			a := sa.Alarm
			page.Items = append(page.Items, &a)
			lastOrder = sa.Order
		}
		return nil
	})
	if err != nil {
		return zone.AlarmPage{}, err
	}
	return page, nil
}

// UpdateAlarm loads id, lets fn change it, and writes it with fn's audit
// entry and outbox messages in one transaction. fn's error comes back as it
// is and nothing is written.
func (s *AlarmStore) UpdateAlarm(ctx context.Context, id string, fn func(a *zone.Alarm) (zone.Change, error)) (*zone.Alarm, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *zone.Alarm
	err := s.db.update(func(tx *bbolt.Tx) error {
		b, _, idx, err := alarmBuckets(tx)
		if err != nil {
			return err
		}
		sa, err := getAlarm(tx, id)
		if err != nil {
			return err
		}
		before, _ := json.Marshal(sa)
		old := sa.Alarm
		ch, err := fn(&sa.Alarm)
		if err != nil {
			return pass(err)
		}
		if sa.ID != id {
			return zone.Internal(errors.New("update changed the alarm's ID"))
		}
		after, err := json.Marshal(sa)
		if err != nil {
			return zone.Internal(err)
		}
		if err := checkRoom(tx, 2*len(after)+len(before)+256); err != nil {
			return err
		}
		if err := b.Put([]byte(id), after); err != nil {
			return zone.Internal(err)
		}
		if err := indexAlarm(idx, &old, &sa.Alarm, sa.Order); err != nil {
			return err
		}
		at := sa.Time
		if sa.AckedAt != nil {
			at = *sa.AckedAt
		}
		if err := recordChange(tx, auditEntityAlarm, id, at, ch, before, after); err != nil {
			return err
		}
		a := sa.Alarm
		out = &a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
