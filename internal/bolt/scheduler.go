package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Scheduler sends the re-export reminders of temporary entries (30, 7 and 1
// days before the deadline) and, once the deadline passes, moves the entry to
// overdue and raises an alarm. What fired is kept in bbolt, keyed by entry,
// kind and deadline, in the same transaction as the reminder's audit entry and
// outbox event: a restart never fires a reminder twice, and an extension
// (a new deadline) arms the reminders again.
type Scheduler struct {
	DB *DB
	// Source is the CloudEvents source; NewID makes event IDs.
	Source string
	NewID  func() string
	// Interval between ticks; default one minute.
	Interval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Committed, when set, is called after a tick that wrote something (to
	// wake the outbox publisher).
	Committed func()
}

// TickResult counts what one tick did.
type TickResult struct {
	Reminders int // reminders sent
	Overdue   int // entries moved to overdue (one alarm each)
}

// Run ticks at once and then every Interval until ctx is done; a failed
// tick is logged and tried again at the next one.
func (s *Scheduler) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = time.Minute
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := s.Tick(ctx, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("temporary-entry reminders: tick failed", "err", err)
		case res.Reminders > 0 || res.Overdue > 0:
			log.Info("temporary-entry reminders", "reminders", res.Reminders, "overdue", res.Overdue)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Tick sends what is owed at now. Each entry is handled in its own write
// transaction: the fired marks, the audit entries, the outbox events and,
// when overdue, the state change and the alarm land together or not at all.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	now = now.UTC()
	var res TickResult
	// Entries still entered whose deadline is within the longest lead and
	// that are owed something (checked again in the write transaction).
	var ids []string
	err := s.DB.view(func(tx *bbolt.Tx) error {
		horizon := now.Add(zone.MaxReminderLead)
		fired := tx.Bucket(bucketTEFired)
		c := tx.Bucket(bucketTEDue).Cursor()
		for k, _ := c.First(); k != nil && len(k) > 8; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > horizon.UnixNano() {
				break
			}
			e, err := getTempEntry(tx, string(k[8:]))
			if err != nil {
				return err
			}
			if _, owed := e.DueNotice(now, func(kind zone.ReminderKind) bool {
				return fired.Get(firedKey(e.ID, kind, e.ReexportDeadline)) != nil
			}); owed {
				ids = append(ids, e.ID)
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var sent zone.DueNotice
		err := s.DB.update(func(tx *bbolt.Tx) error {
			var err error
			sent, err = s.fire(tx, id, now)
			return err
		})
		if errors.Is(err, errNothingDue) {
			continue
		}
		if err != nil {
			return res, err
		}
		if sent.Kind == zone.NoticeOverdue {
			res.Overdue++
		} else {
			res.Reminders++
		}
	}
	if (res.Reminders > 0 || res.Overdue > 0) && s.Committed != nil {
		s.Committed()
	}
	return res, nil
}

// errNothingDue rolls back a transaction that found nothing to send.
var errNothingDue = errors.New("nothing due")

// fire sends the notice owed to one entry inside tx.
func (s *Scheduler) fire(tx *bbolt.Tx, id string, now time.Time) (zone.DueNotice, error) {
	e, err := getTempEntry(tx, id)
	if err != nil {
		return zone.DueNotice{}, err
	}
	fired := tx.Bucket(bucketTEFired)
	n, ok := e.DueNotice(now, func(k zone.ReminderKind) bool {
		return fired.Get(firedKey(e.ID, k, e.ReexportDeadline)) != nil
	})
	if !ok {
		return zone.DueNotice{}, errNothingDue
	}
	stamp, _ := now.MarshalText()
	for _, k := range n.Superseded {
		// Too late to be useful: never to be sent for this deadline.
		if err := fired.Put(firedKey(e.ID, k, e.ReexportDeadline), []byte("superseded")); err != nil {
			return n, zone.Internal(err)
		}
	}
	if err := fired.Put(firedKey(e.ID, n.Kind, e.ReexportDeadline), stamp); err != nil {
		return n, zone.Internal(err)
	}
	if n.Kind == zone.NoticeOverdue {
		return n, s.overdue(tx, e, now)
	}
	rem := zone.Reminder{EntryID: e.ID, Firm: e.Firm, Kind: n.Kind, Deadline: e.ReexportDeadline,
		DaysLeft: int(math.Ceil(e.ReexportDeadline.Sub(now).Hours() / 24)), At: now}
	m, err := zone.RecordMessage(s.NewID(), s.Source, zone.TypeTemporaryEntryReminder, e.ID, now, rem)
	if err != nil {
		return n, err
	}
	data, err := json.Marshal(rem)
	if err != nil {
		return n, zone.Internal(err)
	}
	ch := zone.Change{Actor: zone.System, Action: "reminder." + string(n.Kind),
		Reason: "re-export deadline " + e.ReexportDeadline.Format(time.RFC3339), Messages: []zone.OutboxMessage{m}}
	return n, recordChange(tx, auditEntityTempEntry, e.ID, now, ch, nil, data)
}

// overdue moves e to overdue, raises its alarm and announces both.
func (s *Scheduler) overdue(tx *bbolt.Tx, e *zone.TemporaryEntry, now time.Time) error {
	deadline := e.ReexportDeadline
	_, err := updateTempEntry(tx, e.ID, func(cur *zone.TemporaryEntry) (zone.Change, error) {
		if !cur.MarkOverdue(now) {
			return zone.Change{}, errNothingDue
		}
		alarm := &zone.Alarm{ID: zone.OverdueAlarmID(cur.ID, deadline), Kind: zone.AlarmOverdue, Severity: "warning",
			Message: "temporary entry " + cur.ID + " (" + objectName(cur) + ", " + cur.Firm + ") was not re-exported by " + deadline.Format(time.RFC3339),
			Params: map[string]string{"entry": cur.ID, "object_kind": string(cur.Object.Kind), "object_id": cur.Object.Registration + cur.Object.ESN,
				"firm": cur.Firm, "deadline": deadline.Format(time.RFC3339)},
			RecordID: cur.ID, Time: now, State: zone.AlarmOpen}
		created, err := putAlarm(tx, alarm)
		if err != nil {
			return zone.Change{}, err
		}
		changed, err := zone.RecordMessage(s.NewID(), s.Source, zone.TypeTemporaryEntryChanged, cur.ID, now, cur.Event())
		if err != nil {
			return zone.Change{}, err
		}
		msgs := []zone.OutboxMessage{changed}
		if created {
			am, err := zone.RecordMessage(s.NewID(), s.Source, zone.TypeAlarm, cur.ID, now, alarm)
			if err != nil {
				return zone.Change{}, err
			}
			msgs = append(msgs, am)
		}
		return zone.Change{Actor: zone.System, Action: "overdue",
			Reason: "re-export deadline " + deadline.Format(time.RFC3339) + " passed", Messages: msgs}, nil
	})
	return err
}

func objectName(e *zone.TemporaryEntry) string {
	switch e.Object.Kind {
	case zone.KindAircraft:
		return "aircraft " + e.Object.Registration
	case zone.KindEngine:
		return "engine " + e.Object.ESN
	}
	return string(e.Object.Kind)
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
		for _, k := range []zone.ReminderKind{zone.Reminder30Days, zone.Reminder7Days, zone.Reminder1Day, zone.NoticeOverdue} {
			if v := b.Get(firedKey(id, k, deadline)); v != nil && string(v) != "superseded" {
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}
