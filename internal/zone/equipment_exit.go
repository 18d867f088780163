package zone

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Temporary exits of registered equipment for repair, and leaving the
// island for good. An item out for repair carries the Beijing date it is to
// be back by; while out it cannot be transferred, and once that date has
// passed (the next Beijing day has begun) the reminder service raises one
// equipment_overdue alarm for the exit. Leaving the island for good ends
// the entry like a transfer to a firm that is not eligible: it owes the
// exempted taxes pro rata, and may end an exit that will not come back.

// More equipment states: in_use → out_for_repair → in_use, and
// in_use → left_island (for good).
const (
	EquipmentOutForRepair EquipmentStatus = "out_for_repair"
	EquipmentLeftIsland   EquipmentStatus = "left_island"
)

// TransferKind says whether a transfer hands the item to a firm or takes it
// off the island for good.
type TransferKind string

// Transfer kinds.
const (
	TransferToFirm      TransferKind = "transfer"
	TransferLeaveIsland TransferKind = "leave_island"
)

// AlarmEquipmentOverdue: an item out for repair was not back by its date.
const AlarmEquipmentOverdue AlarmKind = "equipment_overdue"

// dateLayout is a calendar date, read on Beijing's calendar.
const dateLayout = "2006-01-02"

// maxExitDays bounds return_by: a repair abroad of more than two years is
// not a temporary exit.
const maxExitDays = 731

// EquipmentExit is one temporary exit for repair.
type EquipmentExit struct {
	Reason     string     `json:"reason"`
	ReturnBy   string     `json:"return_by"` // YYYY-MM-DD, Beijing calendar
	LeftAt     time.Time  `json:"left_at"`
	By         string     `json:"by"`
	ReturnedAt *time.Time `json:"returned_at,omitempty"`
	ReturnedBy string     `json:"returned_by,omitempty"`
	// OverdueAt is when the overdue alarm was raised: set once, in the
	// alarm's transaction, so no restart raises it twice.
	OverdueAt *time.Time `json:"overdue_at,omitempty"`
}

// ReturnDeadline is the instant the return date has passed: midnight in
// Beijing at the start of the day after return_by. Zero when return_by is
// not a date.
func (x *EquipmentExit) ReturnDeadline() time.Time {
	d, err := time.ParseInLocation(dateLayout, x.ReturnBy, Shanghai)
	if err != nil {
		return time.Time{}
	}
	return d.AddDate(0, 0, 1).UTC()
}

// CurrentExit is the exit the item is out on, or nil.
func (q *Equipment) CurrentExit() *EquipmentExit {
	if q.Status != EquipmentOutForRepair || len(q.Exits) == 0 {
		return nil
	}
	return &q.Exits[len(q.Exits)-1]
}

// ExitForRepair sends the item out for repair until returnBy (a Beijing
// date, not before today's nor more than two years ahead). Only an item in
// use can leave: one already out, transferred or gone is ECONFLICT.
func (q *Equipment) ExitForRepair(reason, returnBy, by string, now time.Time) error {
	reason, returnBy = strings.TrimSpace(reason), strings.TrimSpace(returnBy)
	var fs []FieldError
	if reason == "" {
		fs = append(fs, FieldError{Field: "reason", Message: "required"})
	}
	today := beijingDate(now)
	if d, err := time.Parse(dateLayout, returnBy); err != nil {
		fs = append(fs, FieldError{Field: "return_by", Message: "must be a date YYYY-MM-DD (Beijing calendar)"})
	} else if d.Before(today) {
		fs = append(fs, FieldError{Field: "return_by", Message: "must not be before today (" + today.Format(dateLayout) + " in Beijing)"})
	} else if d.After(today.AddDate(0, 0, maxExitDays)) {
		fs = append(fs, FieldError{Field: "return_by", Message: "must be within " + strconv.Itoa(maxExitDays) + " days"})
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	switch q.Status {
	case EquipmentOutForRepair:
		return Errorf(ECONFLICT, "equipment %s is already out for repair (back by %s)", q.ID, q.CurrentExit().ReturnBy)
	case EquipmentTransferred, EquipmentLeftIsland:
		return Errorf(ECONFLICT, "equipment %s is no longer on the register (%s)", q.ID, q.Status)
	}
	now = now.UTC()
	q.Exits = append(q.Exits, EquipmentExit{Reason: reason, ReturnBy: returnBy, LeftAt: now, By: by})
	q.Status, q.UpdatedAt = EquipmentOutForRepair, now
	q.Version++
	return nil
}

// ReturnFromRepair records that the item out for repair is back; an item
// not out is ECONFLICT.
func (q *Equipment) ReturnFromRepair(by string, now time.Time) error {
	x := q.CurrentExit()
	if x == nil {
		return Errorf(ECONFLICT, "equipment %s is not out for repair (it is %s)", q.ID, q.Status)
	}
	now = now.UTC()
	x.ReturnedAt, x.ReturnedBy = &now, by
	q.Status, q.UpdatedAt = EquipmentInUse, now
	q.Version++
	return nil
}

// MarkExitOverdue notes that the current exit's return date passed at now;
// false when the item is not out, not yet late, or was already marked.
func (q *Equipment) MarkExitOverdue(now time.Time) bool {
	x := q.CurrentExit()
	if x == nil || x.OverdueAt != nil || now.Before(x.ReturnDeadline()) {
		return false
	}
	now = now.UTC()
	x.OverdueAt, q.UpdatedAt = &now, now
	q.Version++
	return true
}

// EquipmentOverdueAlarmID is one per item and exit: the nth exit (from 1).
func EquipmentOverdueAlarmID(id string, n int) string {
	return "EQUIPMENT-OVERDUE-" + id + "-" + strconv.Itoa(n)
}

// EquipmentOverdueAlarm is the alarm raised when q's current exit is late.
func EquipmentOverdueAlarm(q *Equipment, at time.Time) *Alarm {
	x := q.CurrentExit()
	return &Alarm{ID: EquipmentOverdueAlarmID(q.ID, len(q.Exits)), Kind: AlarmEquipmentOverdue, Severity: SeverityWarning,
		Message: "equipment " + q.ID + " (" + q.Description + ", serial " + q.Serial + ", " + q.Firm +
			") out for repair was not back by " + x.ReturnBy,
		Params: map[string]string{"equipment": q.ID, "description": q.Description, "serial": q.Serial,
			"firm": q.Firm, "return_by": x.ReturnBy},
		RecordID: q.ID, Time: at.UTC(), State: AlarmOpen}
}

// ExitForRepair records the owner firm's temporary exit of an item.
func (s *EquipmentService) ExitForRepair(ctx context.Context, p Principal, id, reason, returnBy string) (*Equipment, error) {
	return s.change(ctx, p, id, "exit", reason, func(q *Equipment) error {
		return q.ExitForRepair(reason, returnBy, p.Actor(), s.Now())
	})
}

// ReturnFromRepair records that the owner firm's item is back.
func (s *EquipmentService) ReturnFromRepair(ctx context.Context, p Principal, id string) (*Equipment, error) {
	return s.change(ctx, p, id, "return", "", func(q *Equipment) error {
		return q.ReturnFromRepair(p.Actor(), s.Now())
	})
}

// change is one owner-firm change of an item, audited and announced.
func (s *EquipmentService) change(ctx context.Context, p Principal, id, action, reason string, fn func(q *Equipment) error) (*Equipment, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, err
	}
	q, err := s.Store.UpdateEquipment(ctx, id, func(q *Equipment) (Change, error) {
		if !p.sees(q.Firm) {
			return Change{}, equipmentNotFound(id)
		}
		if err := fn(q); err != nil {
			return Change{}, err
		}
		msg, err := s.announce(q)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: action, Reason: strings.TrimSpace(reason), Messages: msg}, nil
	})
	if err == nil {
		s.committed()
	}
	return q, err
}

// EquipmentDueStore is what the reminder service needs of the register.
type EquipmentDueStore interface {
	// OverdueEquipment lists the IDs of items out for repair, not yet
	// alarmed, whose return deadline is at or before now.
	OverdueEquipment(ctx context.Context, now time.Time) ([]string, error)
	UpdateEquipment(ctx context.Context, id string, fn func(q *Equipment) (Change, error)) (*Equipment, error)
}

// errNotOverdue rolls back an overdue check that found nothing to do.
var errNotOverdue = errors.New("equipment not overdue")

// equipmentOverdue raises the alarm of each item out past its return date,
// once per exit: the mark and the alarm are one transaction.
func (s *ReminderService) equipmentOverdue(ctx context.Context, now time.Time) (int, error) {
	ids, err := s.Equipment.OverdueEquipment(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		_, err := s.Equipment.UpdateEquipment(ctx, id, func(q *Equipment) (Change, error) {
			if !q.MarkExitOverdue(now) {
				return Change{}, errNotOverdue
			}
			alarm := EquipmentOverdueAlarm(q, now)
			changed, err := RecordMessage(s.NewID(), s.Source, TypeEquipmentChanged, q.ID, now, q)
			if err != nil {
				return Change{}, err
			}
			am, err := RecordMessage(s.NewID(), s.Source, TypeAlarm, q.ID, now, alarm)
			if err != nil {
				return Change{}, err
			}
			return Change{Actor: System, Action: "overdue", Reason: "return date " + q.CurrentExit().ReturnBy + " passed",
				Messages: []OutboxMessage{changed, am}, Alarms: []*Alarm{alarm}}, nil
		})
		switch {
		case errors.Is(err, errNotOverdue):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
