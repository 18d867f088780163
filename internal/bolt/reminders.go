package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// The temporary-entry store answers the reminder service's queries: what
// fired is kept in bucketTEFired, keyed by entry, kind and deadline, and
// marked in the same transaction as the notice's audit entry and outbox
// events.
var _ zone.ReminderStore = (*TemporaryEntryStore)(nil)

// reminderKinds are every kind a deadline can fire, in order.
var reminderKinds = []zone.ReminderKind{zone.Reminder30Days, zone.Reminder7Days, zone.Reminder1Day, zone.NoticeOverdue}

// firedSuperseded marks a reminder that was too late to be useful: never to
// be sent for this deadline.
const firedSuperseded = "superseded"

// DueEntries returns the entered entries whose deadline is at or before
// horizon, earliest first, each with what fired for its current deadline.
func (s *TemporaryEntryStore) DueEntries(ctx context.Context, horizon time.Time) ([]zone.DueEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []zone.DueEntry
	err := s.db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketTEDue).Cursor()
		for k, _ := c.First(); k != nil && len(k) > 8; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > horizon.UnixNano() {
				break
			}
			e, err := getTempEntry(tx, string(k[8:]))
			if err != nil {
				return err
			}
			out = append(out, zone.DueEntry{Entry: e, Fired: firedFor(tx, e.ID, e.ReexportDeadline)})
		}
		return nil
	})
	return out, err
}

// errNothingDue rolls back a transaction that found nothing to send.
var errNothingDue = errors.New("nothing due")

// RecordNotice writes the notice decide chooses for entry id, with its
// fired marks, in one transaction.
func (s *TemporaryEntryStore) RecordNotice(ctx context.Context, id string, decide func(e *zone.TemporaryEntry, fired []zone.ReminderKind) (zone.Notice, bool, error)) (zone.Notice, bool, error) {
	if err := ctx.Err(); err != nil {
		return zone.Notice{}, false, err
	}
	var n zone.Notice
	err := s.db.update(func(tx *bbolt.Tx) error {
		before, old, e, err := loadRecord(tx, tempEntryKind, id)
		if err != nil {
			return err
		}
		var ok bool
		n, ok, err = decide(e, firedFor(tx, e.ID, e.ReexportDeadline))
		if err != nil {
			return pass(err)
		}
		if !ok {
			return pass(errNothingDue)
		}
		if err := markFired(tx, id, n); err != nil {
			return err
		}
		if n.Reminder != nil {
			// The entry stays as it was; the audit entry keeps the reminder.
			data, err := json.Marshal(n.Reminder)
			if err != nil {
				return zone.Internal(err)
			}
			return recordChange(tx, auditEntityTempEntry, id, n.At, n.Change, nil, data)
		}
		if e.ID != id {
			return zone.Internal(errors.New("notice changed the temporary entry's ID"))
		}
		after, err := putTempEntry(tx, old, e)
		if err != nil {
			return err
		}
		return recordChange(tx, auditEntityTempEntry, id, e.UpdatedAt, n.Change, before, after)
	})
	switch {
	case errors.Is(err, errNothingDue):
		return zone.Notice{}, false, nil
	case err != nil:
		return zone.Notice{}, false, err
	}
	return n, true, nil
}

// markFired marks n's kind fired and its superseded kinds as superseded,
// for n's deadline.
func markFired(tx *bbolt.Tx, id string, n zone.Notice) error {
	fired := tx.Bucket(bucketTEFired)
	for _, k := range n.Superseded {
		if err := fired.Put(firedKey(id, k, n.Deadline), []byte(firedSuperseded)); err != nil {
			return zone.Internal(err)
		}
	}
	stamp, _ := n.At.MarshalText()
	if err := fired.Put(firedKey(id, n.Kind, n.Deadline), stamp); err != nil {
		return zone.Internal(err)
	}
	return nil
}

// firedFor lists the kinds fired or superseded for entry id's deadline.
func firedFor(tx *bbolt.Tx, id string, deadline time.Time) []zone.ReminderKind {
	b := tx.Bucket(bucketTEFired)
	var out []zone.ReminderKind
	for _, k := range reminderKinds {
		if b.Get(firedKey(id, k, deadline)) != nil {
			out = append(out, k)
		}
	}
	return out
}

// firedKey names one reminder for one deadline of one entry.
func firedKey(id string, k zone.ReminderKind, deadline time.Time) []byte {
	d := deadline.UTC().Format(time.RFC3339Nano)
	key := make([]byte, 0, len(id)+len(k)+len(d)+2)
	key = append(key, id...)
	key = append(key, 0)
	key = append(key, k...)
	key = append(key, 0)
	return append(key, d...)
}

// FiredReminders lists the reminder kinds fired (or superseded) for entry
// id's deadline, for tests and operators.
func (db *DB) FiredReminders(id string, deadline time.Time) ([]zone.ReminderKind, error) {
	var out []zone.ReminderKind
	err := db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTEFired)
		for _, k := range reminderKinds {
			if v := b.Get(firedKey(id, k, deadline)); v != nil && string(v) != firedSuperseded {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}
