package zone

import (
	"context"
	"log/slog"
	"math"
	"time"
)

// DueEntry is an entered temporary entry with the notices already fired (or
// set aside as superseded) for its current deadline.
type DueEntry struct {
	Entry *TemporaryEntry
	Fired []ReminderKind
}

// Notice is what the reminder service writes for one entry: the notice that
// fires and the earlier ones it supersedes, for one deadline, with the
// change that announces it.
type Notice struct {
	DueNotice
	Deadline time.Time // the deadline Kind and Superseded are marked for
	At       time.Time // when it fired
	// Reminder is the reminder sent; the audit entry keeps it as the
	// record. Nil for the overdue notice, which changes the entry itself.
	Reminder *Reminder
	Change   Change
}

// ReminderStore is what the reminder service needs from storage.
type ReminderStore interface {
	// DueEntries returns the entered entries whose deadline is at or before
	// horizon, earliest deadline first, each with what fired for it.
	DueEntries(ctx context.Context, horizon time.Time) ([]DueEntry, error)
	// RecordNotice loads entry id with what fired for its current deadline
	// and lets decide choose the notice. In one transaction it marks the
	// notice fired (its superseded ones as superseded), writes the entry when
	// the notice carries no Reminder (decide changed it), and writes the
	// notice's Change. When decide answers ok=false or an error, nothing is
	// written and RecordNotice answers the same.
	RecordNotice(ctx context.Context, id string, decide func(e *TemporaryEntry, fired []ReminderKind) (n Notice, ok bool, err error)) (Notice, bool, error)
}

// ReminderService sends the re-export reminders of temporary entries (30, 7
// and 1 days before the deadline) and, once the deadline passes, moves the
// entry to overdue and raises an alarm. The store marks what fired, keyed by
// entry, kind and deadline, in the same transaction as the notice's audit
// entry and outbox events: a restart never fires a reminder twice, and an
// extension (a new deadline) arms the reminders again.
type ReminderService struct {
	Store ReminderStore
	// Equipment, when set, is the equipment register: each tick also
	// raises the alarm of items out for repair past their return date.
	Equipment EquipmentDueStore
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
	// EquipmentOverdue counts items out for repair found late (one alarm each).
	EquipmentOverdue int
}

// Run ticks at once and then every Interval until ctx is done; a failed
// tick is logged and tried again at the next one.
func (s *ReminderService) Run(ctx context.Context) error {
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
		case res.Reminders > 0 || res.Overdue > 0 || res.EquipmentOverdue > 0:
			log.Info("temporary-entry reminders", "reminders", res.Reminders, "overdue", res.Overdue,
				"equipment_overdue", res.EquipmentOverdue)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Tick sends what is owed at now, one entry per store transaction.
func (s *ReminderService) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	now = now.UTC()
	var res TickResult
	due, err := s.Store.DueEntries(ctx, now.Add(MaxReminderLead))
	if err != nil {
		return res, err
	}
	for _, d := range due {
		// Owed now? Checked again in the write transaction.
		if _, owed := d.Entry.DueNotice(now, firedIn(d.Fired)); !owed {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, ok, err := s.Store.RecordNotice(ctx, d.Entry.ID, func(e *TemporaryEntry, fired []ReminderKind) (Notice, bool, error) {
			return s.notice(e, fired, now)
		})
		if err != nil {
			return res, err
		}
		switch {
		case !ok:
		case n.Kind == NoticeOverdue:
			res.Overdue++
		default:
			res.Reminders++
		}
	}
	if s.Equipment != nil {
		n, err := s.equipmentOverdue(ctx, now)
		res.EquipmentOverdue = n
		if err != nil {
			return res, err
		}
	}
	if (res.Reminders > 0 || res.Overdue > 0 || res.EquipmentOverdue > 0) && s.Committed != nil {
		s.Committed()
	}
	return res, nil
}

// notice decides what e is owed at now, given what fired for its deadline.
func (s *ReminderService) notice(e *TemporaryEntry, fired []ReminderKind, now time.Time) (Notice, bool, error) {
	due, ok := e.DueNotice(now, firedIn(fired))
	if !ok {
		return Notice{}, false, nil
	}
	n := Notice{DueNotice: due, Deadline: e.ReexportDeadline, At: now}
	if due.Kind == NoticeOverdue {
		ch, ok, err := s.overdue(e, now)
		n.Change = ch
		return n, ok, err
	}
	rem := Reminder{EntryID: e.ID, Firm: e.Firm, Kind: due.Kind, Deadline: e.ReexportDeadline,
		DaysLeft: int(math.Ceil(e.ReexportDeadline.Sub(now).Hours() / 24)), At: now}
	m, err := RecordMessage(s.NewID(), s.Source, TypeTemporaryEntryReminder, e.ID, now, rem)
	if err != nil {
		return n, false, err
	}
	n.Reminder = &rem
	n.Change = Change{Actor: System, Action: "reminder." + string(due.Kind),
		Reason: "re-export deadline " + e.ReexportDeadline.Format(time.RFC3339), Messages: []OutboxMessage{m}}
	return n, true, nil
}

// overdue moves e to overdue and raises its alarm, announcing both.
func (s *ReminderService) overdue(e *TemporaryEntry, now time.Time) (Change, bool, error) {
	deadline := e.ReexportDeadline
	if !e.MarkOverdue(now) {
		return Change{}, false, nil
	}
	alarm := OverdueAlarm(e, deadline, now)
	changed, err := RecordMessage(s.NewID(), s.Source, TypeTemporaryEntryChanged, e.ID, now, e.Event())
	if err != nil {
		return Change{}, false, err
	}
	// The alarm's ID is one per entry and deadline, and the overdue notice
	// fires once per deadline: this alarm is always new.
	am, err := RecordMessage(s.NewID(), s.Source, TypeAlarm, e.ID, now, alarm)
	if err != nil {
		return Change{}, false, err
	}
	return Change{Actor: System, Action: "overdue", Reason: "re-export deadline " + deadline.Format(time.RFC3339) + " passed",
		Messages: []OutboxMessage{changed, am}, Alarms: []*Alarm{alarm}}, true, nil
}

// OverdueAlarm is the alarm raised when e's deadline passed unmet.
func OverdueAlarm(e *TemporaryEntry, deadline, at time.Time) *Alarm {
	return &Alarm{ID: OverdueAlarmID(e.ID, deadline), Kind: AlarmOverdue, Severity: SeverityWarning,
		Message: "temporary entry " + e.ID + " (" + objectName(e) + ", " + e.Firm + ") was not re-exported by " + deadline.Format(time.RFC3339),
		Params: map[string]string{"entry": e.ID, "object_kind": string(e.Object.Kind), "object_id": e.Object.Registration + e.Object.ESN,
			"firm": e.Firm, "deadline": deadline.Format(time.RFC3339)},
		RecordID: e.ID, Time: at.UTC(), State: AlarmOpen}
}

func objectName(e *TemporaryEntry) string {
	switch e.Object.Kind {
	case KindAircraft:
		return "aircraft " + e.Object.Registration
	case KindEngine:
		return "engine " + e.Object.ESN
	}
	return string(e.Object.Kind)
}

// firedIn answers DueNotice's question from a list of fired kinds.
func firedIn(fired []ReminderKind) func(ReminderKind) bool {
	return func(k ReminderKind) bool {
		for _, f := range fired {
			if f == k {
				return true
			}
		}
		return false
	}
}
