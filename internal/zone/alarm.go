package zone

import (
	"context"
	"strings"
	"time"
)

// AlarmState is where an alarm is in an officer's hands; the JSON carries
// the same strings.
type AlarmState string

// Alarm states.
const (
	AlarmOpen  AlarmState = "open"  // raised, nobody has looked at it yet
	AlarmAcked AlarmState = "acked" // an officer acknowledged it, with a note
)

// Severity is how urgently an alarm asks for an officer; the JSON carries
// the same strings.
type Severity string

// Severities.
const (
	SeverityCritical Severity = "critical" // the zone's control is at stake: act now
	SeverityWarning  Severity = "warning"  // needs a look, nothing was let through
)

// AlarmFilter selects alarms for a list. Empty fields match all.
type AlarmFilter struct {
	State  AlarmState
	Gate   string
	Cursor string // opaque, from a previous page
	Limit  int
}

// AlarmPage is one page of alarms, newest first (in the order the zone
// received them).
type AlarmPage struct {
	Items      []*Alarm
	NextCursor string
}

// AlarmStore keeps the alarms the zone has received or raised.
type AlarmStore interface {
	// Alarm returns one alarm or ENOTFOUND.
	Alarm(ctx context.Context, id string) (*Alarm, error)
	// Alarms lists by filter, newest first, with a cursor for the next page.
	Alarms(ctx context.Context, f AlarmFilter) (AlarmPage, error)
	// UpdateAlarm loads id, lets fn change it and writes it with fn's Change
	// (audit entry and outbox messages) in one transaction. If fn returns an
	// error nothing is written. ENOTFOUND when there is no such alarm.
	UpdateAlarm(ctx context.Context, id string, fn func(a *Alarm) (Change, error)) (*Alarm, error)
}

// AlarmService carries out the alarm use cases for customs officers.
type AlarmService struct {
	Store AlarmStore
	Now   func() time.Time
	// Committed, when set, is called after every successful write.
	Committed func()
}

// maxAckNote bounds an acknowledgement note.
const maxAckNote = 2000

// List returns alarms for customs, newest first.
func (s *AlarmService) List(ctx context.Context, p Principal, f AlarmFilter) (AlarmPage, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return AlarmPage{}, err
	}
	switch f.State {
	case "", AlarmOpen, AlarmAcked:
	default:
		return AlarmPage{}, Invalid(FieldError{Field: "state", Message: "must be open or acked"})
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.Alarms(ctx, f)
}

// Get returns one alarm for customs.
func (s *AlarmService) Get(ctx context.Context, p Principal, id string) (*Alarm, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	return s.Store.Alarm(ctx, id)
}

// Ack records that an officer has looked at an open alarm, with a note. An
// alarm already acknowledged is ECONFLICT: the first acknowledgement stands.
func (s *AlarmService) Ack(ctx context.Context, p Principal, id, note string) (*Alarm, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	note = strings.TrimSpace(note)
	if len(note) > maxAckNote {
		return nil, Invalid(FieldError{Field: "note", Message: "at most 2000 characters"})
	}
	a, err := s.Store.UpdateAlarm(ctx, id, func(a *Alarm) (Change, error) {
		if a.State == AlarmAcked {
			return Change{}, Errorf(ECONFLICT, "alarm %s was already acknowledged by %s", a.ID, a.AckedBy)
		}
		now := s.Now().UTC()
		a.State, a.AckedBy, a.AckedAt, a.AckNote = AlarmAcked, p.Actor(), &now, note
		return Change{Actor: p.Actor(), Action: "ack", Reason: note}, nil
	})
	if err == nil && s.Committed != nil {
		s.Committed()
	}
	return a, err
}
