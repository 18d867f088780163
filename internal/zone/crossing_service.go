package zone

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

// CrossingFilter selects crossings for a list. Empty fields match all.
type CrossingFilter struct {
	Gate   string
	Since  time.Time // crossings at or after this time
	Cursor string    // opaque, from a previous page
	Limit  int
}

// CrossingPage is one page of crossings, oldest first from Since.
type CrossingPage struct {
	Items      []*Crossing
	NextCursor string
}

// CrossingOutcome says what applying one crossing event did.
type CrossingOutcome struct {
	// Duplicate: the event (or the crossing, under another event ID) was
	// applied before; nothing changed.
	Duplicate bool
	// Declaration is the declaration the crossing moved to crossed, if any.
	Declaration *PreDeclaration
	// Conflict is the id_conflict alarm raised because a crossing with this
	// ID is stored with other content (nothing else was applied).
	Conflict *Alarm
}

// AlarmOutcome says what applying one alarm event did.
type AlarmOutcome struct {
	Applied bool // the alarm is new and stored
	// Conflict is the id_conflict alarm raised because an alarm with this
	// ID is stored with other content (the new one was not stored).
	Conflict *Alarm
}

// CrossingMove decides what a stored crossing does to the declaration it
// names (nil when there is no such declaration): the Change to write with
// it and whether it moved. Returning moved=false writes nothing to the
// declaration; an error rolls the whole event back.
type CrossingMove func(d *PreDeclaration) (ch Change, moved bool, err error)

// CrossingStore keeps what the gates report, applying each event once.
type CrossingStore interface {
	// RecordCrossing applies one crossing event in one transaction: the event
	// ID into the seen-set, the crossing, its audit entry and, when the
	// crossing carries a clearance ID, whatever move decides for that
	// declaration (record, indexes, audit, outbox).
	RecordCrossing(ctx context.Context, eventID string, x *Crossing, move CrossingMove) (CrossingOutcome, error)
	// RecordAlarm applies one alarm event in one transaction: the event ID
	// into the seen-set and the alarm (if its ID is new). Applied=false for a
	// repeat.
	//
	// A crossing or alarm ID the store holds already with other content is
	// not a repeat but an ID a gate reused: both Record methods then raise
	// an id_conflict alarm (once per distinct content) instead of skipping.
	RecordAlarm(ctx context.Context, eventID string, a *Alarm) (AlarmOutcome, error)
	// Crossings lists by filter, oldest first from Since.
	Crossings(ctx context.Context, f CrossingFilter) (CrossingPage, error)
}

// CrossingService applies what the gates report to the zone: crossings move
// cleared declarations to crossed, alarms are kept for officers. It also
// lists crossings for customs.
type CrossingService struct {
	Store        CrossingStore
	Declarations *DeclarationService
	Log          *slog.Logger
}

func (s *CrossingService) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// ApplyCrossingEvent applies one CloudEvent from bondgate.gate.crossings. An
// event that is not a crossing is EINVALID (the consumer skips it as
// poison). A crossing for a declaration that is not cleared (a duplicate,
// out of order, revoked meanwhile) is stored and logged but moves nothing.
func (s *CrossingService) ApplyCrossingEvent(ctx context.Context, ev Event) (CrossingOutcome, error) {
	if ev.Type != TypeCrossing {
		return CrossingOutcome{}, Errorf(EINVALID, "event %s: type %q is not a crossing", ev.ID, ev.Type)
	}
	var x Crossing
	if err := json.Unmarshal(ev.Data, &x); err != nil || x.ID == "" || x.Gate == "" || !keySized(x.ID, x.Gate, x.ClearanceID) {
		return CrossingOutcome{}, Errorf(EINVALID, "event %s: data is not a crossing with an id and a gate", ev.ID)
	}
	x.Time = x.Time.UTC()
	var move CrossingMove
	if x.Decision == DecisionAuthorized && x.ClearanceID != "" {
		move = s.crossMove(&x)
	}
	out, err := s.Store.RecordCrossing(ctx, ev.ID, &x, move)
	if err != nil {
		return out, err
	}
	if out.Conflict != nil {
		s.log().Error("crossing ID received again with other content; not applied, alarm raised",
			"crossing", x.ID, "gate", x.Gate, "alarm", out.Conflict.ID, "decision", x.Decision, "clearance", x.ClearanceID)
	}
	if out.Declaration != nil && s.Declarations != nil {
		s.Declarations.committed()
	}
	return out, nil
}

// crossMove moves a cleared declaration to crossed for crossing x.
func (s *CrossingService) crossMove(x *Crossing) CrossingMove {
	return func(d *PreDeclaration) (Change, bool, error) {
		log := s.log().With("crossing", x.ID, "gate", x.Gate, "clearance", x.ClearanceID)
		switch {
		case d == nil:
			log.Warn("crossing names a clearance the zone does not know; stored, nothing moved")
			return Change{}, false, nil
		case d.Status == StatusExpired && d.Gate == x.Gate && d.Direction == x.Direction:
			return s.lateCross(d, x)
		case d.Status != StatusCleared:
			log.Warn("crossing for a declaration that is not cleared (duplicate, out of order or withdrawn); stored, nothing moved",
				"status", d.Status)
			return Change{}, false, nil
		case d.Gate != x.Gate || d.Direction != x.Direction:
			log.Warn("crossing at another gate or in another direction than declared; stored, nothing moved",
				"declared_gate", d.Gate, "declared_direction", d.Direction, "direction", x.Direction)
			return Change{}, false, nil
		}
		actor := "gate:" + x.Gate
		reason := "crossing " + x.ID
		at := s.Declarations.Now().UTC()
		from := d.Status
		if err := d.Apply(ActCross, actor, at, reason); err != nil {
			return Change{}, false, err
		}
		t := x.Time
		d.CrossingID, d.CrossedAt = x.ID, &t
		msgs, err := s.Declarations.changeMessages(d, from, reason)
		if err != nil {
			return Change{}, false, err
		}
		log.Info("declaration crossed", "declaration", d.ID)
		return Change{Actor: actor, Action: string(ActCross), Reason: reason, Messages: msgs}, true, nil
	}
}

// AlarmLateCrossing: a crossing the gate authorized reached the zone after
// the declaration had expired.
const AlarmLateCrossing AlarmKind = "late_crossing"

// lateCross records a crossing that reached the zone after the sweeper
// expired its declaration (the gate decided it from its own copy while its
// link was down): what the gate saw happened, so the declaration moves
// expired → crossed, marked late, and an open alarm puts it before customs.
func (s *CrossingService) lateCross(d *PreDeclaration, x *Crossing) (Change, bool, error) {
	actor := "gate:" + x.Gate
	reason := "crossing " + x.ID + " arrived after the declaration expired"
	at := s.Declarations.Now().UTC()
	from := d.Status
	if err := d.Apply(ActCross, actor, at, reason); err != nil {
		return Change{}, false, err
	}
	t := x.Time
	d.CrossingID, d.CrossedAt, d.Late = x.ID, &t, true
	msgs, err := s.Declarations.changeMessages(d, from, reason)
	if err != nil {
		return Change{}, false, err
	}
	inWindow := "inside"
	if !d.Window.Contains(x.Time) {
		inWindow = "outside"
	}
	alarm := &Alarm{ID: "LATE-" + x.ID, Gate: x.Gate, Kind: AlarmLateCrossing, Severity: SeverityWarning,
		Message: "crossing " + x.ID + " of declaration " + d.ID + " at " + x.Time.Format(time.RFC3339) + " (" + inWindow +
			" its window) reached the zone after the declaration had expired; recorded as crossed, late",
		CrossingID: x.ID, RecordID: d.ID, Time: at, State: AlarmOpen}
	s.log().Warn("late crossing: declaration had expired; recorded as crossed and alarm raised",
		"crossing", x.ID, "gate", x.Gate, "declaration", d.ID, "alarm", alarm.ID)
	return Change{Actor: actor, Action: string(ActCross), Reason: reason, Messages: msgs, Alarms: []*Alarm{alarm}}, true, nil
}

// ApplyAlarmEvent applies one CloudEvent from bondgate.gate.alarms: the alarm
// is kept (once) for officers to acknowledge.
func (s *CrossingService) ApplyAlarmEvent(ctx context.Context, ev Event) (applied bool, err error) {
	if ev.Type != TypeAlarm {
		return false, Errorf(EINVALID, "event %s: type %q is not an alarm", ev.ID, ev.Type)
	}
	var a Alarm
	if err := json.Unmarshal(ev.Data, &a); err != nil || a.ID == "" || !keySized(a.ID, a.Gate, a.CrossingID) || !paramsSized(a.Params) {
		return false, Errorf(EINVALID, "event %s: data is not an alarm with an id", ev.ID)
	}
	// What a gate sends is a raised alarm; acknowledgement happens here.
	a.State, a.AckedBy, a.AckedAt, a.AckNote = AlarmOpen, "", nil, ""
	out, err := s.Store.RecordAlarm(ctx, ev.ID, &a)
	if err == nil && out.Applied {
		s.log().Info("alarm raised", "alarm", a.ID, "kind", a.Kind, "gate", a.Gate, "crossing", a.CrossingID)
	}
	if err == nil && out.Conflict != nil {
		s.log().Error("alarm ID received again with other content; not applied, alarm raised",
			"alarm", a.ID, "gate", a.Gate, "kind", a.Kind, "conflict_alarm", out.Conflict.ID)
	}
	return out.Applied, err
}

// paramsSized bounds what an alarm's params may carry: a handful of short
// values the console words the alarm with, not a payload.
func paramsSized(p map[string]string) bool {
	if len(p) > 16 {
		return false
	}
	for k, v := range p {
		if len(k) > 64 || len(v) > 2048 {
			return false
		}
	}
	return true
}

// List returns crossings from every gate, for customs.
func (s *CrossingService) List(ctx context.Context, p Principal, f CrossingFilter) (CrossingPage, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return CrossingPage{}, err
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.Crossings(ctx, f)
}

// Close records that the work on a declaration's object is done (arrived →
// closed). The owner firm or customs may close.
func (s *DeclarationService) Close(ctx context.Context, p Principal, id, reason string) (*PreDeclaration, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	return s.transition(ctx, p, id, ActClose, strings.TrimSpace(reason), nil)
}

// expirable are the states whose clearance window may pass unused.
var expirable = []Status{StatusSubmitted, StatusInspection, StatusCleared}

// ExpireDue moves every submitted, inspected or cleared declaration whose
// window ended before now to expired (actor system). A cleared one also
// publishes its clearance as revoked, so gates drop it. It returns the IDs
// expired.
func (s *DeclarationService) ExpireDue(ctx context.Context, now time.Time) ([]string, error) {
	var due []string
	for _, st := range expirable {
		f := DeclarationFilter{Status: st, Limit: 500}
		for {
			page, err := s.Store.Declarations(ctx, f)
			if err != nil {
				return nil, err
			}
			for _, d := range page.Items {
				if d.Window.To.Before(now) {
					due = append(due, d.ID)
				}
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
	}
	var expired []string
	for _, id := range due {
		const reason = "booked window passed unused"
		_, err := s.Store.UpdateDeclaration(ctx, id, func(d *PreDeclaration) (Change, error) {
			if !d.Window.To.Before(now) {
				return Change{}, errNotDue
			}
			from := d.Status
			if err := d.Apply(ActExpire, System, now, reason); err != nil {
				return Change{}, err // moved on meanwhile: ECONFLICT, skipped below
			}
			msgs, err := s.changeMessages(d, from, reason)
			if err != nil {
				return Change{}, err
			}
			return Change{Actor: System, Action: string(ActExpire), Reason: reason, Messages: msgs}, nil
		})
		switch {
		case err == nil:
			expired = append(expired, id)
		case err == errNotDue || ErrorCode(err) == ECONFLICT:
		default:
			return expired, err
		}
	}
	if len(expired) > 0 {
		s.committed()
	}
	return expired, nil
}

var errNotDue = Errorf(ECONFLICT, "not due")

// Expiry runs the declaration expiry sweep: ExpireDue at once and then
// every Interval until ctx is done, logging what it expired. A failed sweep
// is logged and tried again at the next one.
type Expiry struct {
	Declarations *DeclarationService
	Interval     time.Duration
	Log          *slog.Logger
}

// Run sweeps until ctx is done and returns ctx's error.
func (e *Expiry) Run(ctx context.Context) error {
	log := e.Log
	if log == nil {
		log = slog.Default()
	}
	for {
		ids, err := e.Declarations.ExpireDue(ctx, e.Declarations.Now().UTC())
		if err != nil && ctx.Err() == nil {
			log.Error("expiry sweep failed; retrying next round", "err", err)
		}
		if len(ids) > 0 {
			log.Info("declarations expired: window passed unused", "count", len(ids), "ids", ids)
		}
		t := time.NewTimer(e.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
