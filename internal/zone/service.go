package zone

import (
	"context"
	"strings"
	"sync"
	"time"
)

// DeclarationService carries out the pre-declaration use cases: who may do
// what, the state machine, and the events each change announces.
type DeclarationService struct {
	Store DeclarationStore
	// Now is the clock; NewID makes sortable unique IDs (ULIDs in production).
	Now   func() time.Time
	NewID func() string
	// Source is the CloudEvents source of published events.
	Source string
	// Gates, when set, is the set of gate IDs a declaration may name.
	Gates map[string]bool
	// Committed, when set, is called after every successful write (to wake
	// the outbox publisher without waiting for its poll).
	Committed func()
	// ReleaseNotes numbers the release note a clearing issues (default:
	// Store, when it can); District begins each number (default
	// DefaultReleaseNoteDistrict).
	ReleaseNotes ReleaseNoteCounter
	District     string

	// clearMu makes a clear decision's identity check and its write one
	// step: two officers clearing look-alike declarations at once cannot
	// both pass the check.
	clearMu sync.Mutex
}

func (s *DeclarationService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

// Submit creates a pre-declaration for the caller's firm in state submitted.
func (s *DeclarationService) Submit(ctx context.Context, p Principal, d PreDeclaration, idem *Idempotency) (*PreDeclaration, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	if err := d.Validate(); err != nil {
		return nil, false, err
	}
	if s.Gates != nil && !s.Gates[d.Gate] {
		return nil, false, Invalid(FieldError{Field: "gate", Message: "unknown gate " + d.Gate})
	}
	now := s.Now().UTC()
	// A window already over would only expire at the next sweep, and
	// clearing it would then be a 409: refuse it now.
	if !d.Window.To.After(now) {
		return nil, false, Invalid(FieldError{Field: "window.to", Message: "the window has already ended (now is " + now.Format(time.RFC3339) + ")"})
	}
	d.ID = s.NewID()
	d.Firm = p.Firm
	d.Status = StatusSubmitted
	d.CreatedAt, d.UpdatedAt = now, now
	d.Window.From, d.Window.To = d.Window.From.UTC(), d.Window.To.UTC()
	d.History = []Transition{{To: StatusSubmitted, Action: "submit", Actor: p.Actor(), At: now}}
	d.Version = 1
	d.DecidedAt, d.CrossedAt, d.ArrivedAt, d.TransitMinutes, d.CrossingID = nil, nil, nil, nil, ""
	d.ReleaseNote = nil
	msgs, err := s.changeMessages(&d, "", "")
	if err != nil {
		return nil, false, err
	}
	stored, replayed, err := s.Store.CreateDeclaration(ctx, &d, idem, Change{Actor: p.Actor(), Action: "submit", Messages: msgs})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Get returns one declaration the caller may see; another firm's is ENOTFOUND.
func (s *DeclarationService) Get(ctx context.Context, p Principal, id string) (*PreDeclaration, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	d, err := s.Store.Declaration(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(d.Firm) {
		return nil, notFound(id)
	}
	return d, nil
}

// List returns the declarations the caller may see; a firm sees only its own.
func (s *DeclarationService) List(ctx context.Context, p Principal, f DeclarationFilter) (DeclarationPage, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return DeclarationPage{}, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Status != "" && !f.Status.Valid() {
		return DeclarationPage{}, Invalid(FieldError{Field: "status", Message: "unknown status " + string(f.Status)})
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.Declarations(ctx, f)
}

// Decide applies a customs decision: clear, reject, inspect or revoke. A
// reason is required for all but clear.
func (s *DeclarationService) Decide(ctx context.Context, p Principal, id string, a Action, reason string) (*PreDeclaration, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	switch a {
	case ActClear, ActReject, ActInspect, ActRevoke:
	default:
		return nil, Invalid(FieldError{Field: "decision", Message: "must be one of clear, reject, inspect, revoke"})
	}
	reason = strings.TrimSpace(reason)
	if a != ActClear && reason == "" {
		return nil, Invalid(FieldError{Field: "reason", Message: "required for " + string(a)})
	}
	if a != ActClear {
		return s.transition(ctx, p, id, a, reason, nil)
	}
	s.clearMu.Lock()
	defer s.clearMu.Unlock()
	d, err := s.Store.Declaration(ctx, id)
	if err != nil {
		return nil, err
	}
	active, err := s.clearedAt(ctx, d.Gate, s.Now().UTC())
	if err != nil {
		return nil, err
	}
	// The number is read under clearMu and taken by the store in the
	// clearing's transaction: a clearing refused issues none, so no gap.
	note, err := s.nextReleaseNote(ctx, s.Now())
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, p, id, a, reason, func(d *PreDeclaration) error {
		if err := identityConflict(d, active); err != nil {
			return err
		}
		if d.ReleaseNote == nil {
			d.ReleaseNote = note
		}
		return nil
	})
}

// Cancel withdraws the owner's declaration before it has crossed.
func (s *DeclarationService) Cancel(ctx context.Context, p Principal, id, reason string) (*PreDeclaration, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, err
	}
	return s.transition(ctx, p, id, ActCancel, strings.TrimSpace(reason), nil)
}

// Arrive records that the object reached the workshop, and the transit time
// from the gate crossing. at defaults to now.
func (s *DeclarationService) Arrive(ctx context.Context, p Principal, id string, at *time.Time) (*PreDeclaration, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	t := now
	if at != nil {
		t = at.UTC()
		if !TimeInRange(t) {
			return nil, Invalid(FieldError{Field: "at", Message: TimeRangeMessage})
		}
		// A future arrival would skew every transit figure in /v1/stats.
		if err := notAfterNow("at", t, now); err != nil {
			return nil, err
		}
	}
	return s.transition(ctx, p, id, ActArrive, "", func(d *PreDeclaration) error {
		if d.CrossedAt != nil {
			if t.Before(*d.CrossedAt) {
				return Invalid(FieldError{Field: "at", Message: "arrival cannot be before the gate crossing"})
			}
			m := t.Sub(*d.CrossedAt).Minutes()
			d.TransitMinutes = &m
		}
		d.ArrivedAt = &t
		return nil
	})
}

// transition runs one state change in one store transaction. extra, when set,
// adjusts the declaration after the state change and may refuse it.
func (s *DeclarationService) transition(ctx context.Context, p Principal, id string, a Action, reason string, extra func(*PreDeclaration) error) (*PreDeclaration, error) {
	d, err := s.Store.UpdateDeclaration(ctx, id, func(d *PreDeclaration) (Change, error) {
		if !p.sees(d.Firm) {
			return Change{}, notFound(id)
		}
		from := d.Status
		if err := d.Apply(a, p.Actor(), s.Now(), reason); err != nil {
			return Change{}, err
		}
		if (a == ActClear || a == ActReject) && d.DecidedAt == nil {
			t := d.UpdatedAt
			d.DecidedAt = &t
		}
		if extra != nil {
			if err := extra(d); err != nil {
				return Change{}, err
			}
		}
		msgs, err := s.changeMessages(d, from, reason)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: string(a), Reason: reason, Messages: msgs}, nil
	})
	if err == nil {
		s.committed()
	}
	return d, err
}

// GateMustHear reports whether a declaration moving from one status to
// another changes what a gate may let through: the gate decides from its
// own copy of the clearance, so it must hear when one is granted, when one
// it holds is withdrawn (revoked, cancelled, expired) and when one is used
// by a crossing, including a crossing that reached the zone late.
func GateMustHear(from, to Status) bool {
	return from == StatusCleared || to == StatusCleared || to == StatusCrossed
}

// changeMessages builds what a declaration's change from status from
// announces: the declaration event and, when GateMustHear, the clearance
// event for the gates.
func (s *DeclarationService) changeMessages(d *PreDeclaration, from Status, reason string) ([]OutboxMessage, error) {
	m, err := s.announce(d)
	if err != nil {
		return nil, err
	}
	msgs := []OutboxMessage{m}
	if GateMustHear(from, d.Status) {
		c, err := s.clearanceMessage(d, reason)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, c)
	}
	return msgs, nil
}

// announce builds the declaration event for d's current state.
func (s *DeclarationService) announce(d *PreDeclaration) (OutboxMessage, error) {
	ev, err := NewEvent(s.NewID(), s.Source, TypeDeclarationChanged, d.ID, d.UpdatedAt, d)
	if err != nil {
		return OutboxMessage{}, err
	}
	return ev.Message(TopicDeclarations, d.ID)
}

func (s *DeclarationService) clearanceMessage(d *PreDeclaration, reason string) (OutboxMessage, error) {
	c := ClearanceOf(d, reason)
	ev, err := NewEvent(s.NewID(), s.Source, TypeClearance, d.ID, d.UpdatedAt, c)
	if err != nil {
		return OutboxMessage{}, err
	}
	return ev.Message(TopicClearances, d.ID)
}

func notFound(id string) error {
	return Errorf(ENOTFOUND, "no pre-declaration %s", id)
}
