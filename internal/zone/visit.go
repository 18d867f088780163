package zone

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Bonded maintenance (保税维修): an MRO firm's visit of a foreign or domestic
// aircraft or engine, from the crossing of its inbound pre-declaration to the
// crossing of its outbound one, with the task cards the work is done under,
// the old parts taken off (旧件) and their disposition. Customs supervises
// the visit through its e-ledger (电子账册) and writes it off by period
// (writeoff.go).
//
//	awaiting_entry ─(inbound declaration crossed)→ in_repair
//	in_repair ─(outcome)→ repaired | unrepairable
//	repaired | unrepairable ─(outbound declaration of the same object crossed)→ departed

// TypeVisitChanged is the event type of a visit change, on TopicRecords.
const TypeVisitChanged = "bondgate.maintenance_visit.changed"

// VisitStatus is a visit's state.
type VisitStatus string

// Visit states.
const (
	VisitAwaitingEntry VisitStatus = "awaiting_entry"
	VisitInRepair      VisitStatus = "in_repair"
	VisitRepaired      VisitStatus = "repaired"
	VisitUnrepairable  VisitStatus = "unrepairable"
	VisitDeparted      VisitStatus = "departed"
)

// VisitStatuses lists every state, for validation.
var VisitStatuses = []VisitStatus{VisitAwaitingEntry, VisitInRepair, VisitRepaired, VisitUnrepairable, VisitDeparted}

// Valid reports whether s is a known state.
func (s VisitStatus) Valid() bool { return slices.Contains(VisitStatuses, s) }

// finished reports whether the work is over and the object waits to leave.
func (s VisitStatus) finished() bool { return s == VisitRepaired || s == VisitUnrepairable }

// DepositExempt is a foreign aircraft's deposit: none (免缴保证金).
const DepositExempt = "exempt"

// VisitTaskCard is one task card the work of a visit is done under.
type VisitTaskCard struct {
	Number    string    `json:"number"`
	Title     string    `json:"title"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

// DispositionKind is what becomes of a removed part.
type DispositionKind string

// Disposition kinds: the old part leaves (re-exported or returned to its
// owner, on the evidence of a crossed outbound declaration) or is scrapped
// with customs' approval.
const (
	DisposeReexport      DispositionKind = "reexport"
	DisposeReturnToOwner DispositionKind = "return_to_owner"
	DisposeScrap         DispositionKind = "scrap"
)

// DispositionStatus says whether a disposition accounts for the part.
type DispositionStatus string

// Disposition states: a re-export or return is final at once; a scrap waits
// for customs (pending_approval) and is final when approved; a rejected scrap
// leaves the part to be disposed of again.
const (
	DispositionFinal    DispositionStatus = "final"
	DispositionPending  DispositionStatus = "pending_approval"
	DispositionRejected DispositionStatus = "rejected"
)

// Disposition is the final destination given for a removed part.
type Disposition struct {
	Kind           DispositionKind   `json:"kind"`
	PreDeclaration string            `json:"predeclaration,omitempty"`
	Status         DispositionStatus `json:"status"`
	Actor          string            `json:"actor"`
	At             time.Time         `json:"at"`
	DecidedBy      string            `json:"decided_by,omitempty"`
	DecidedAt      *time.Time        `json:"decided_at,omitempty"`
	Reason         string            `json:"reason,omitempty"`
}

// RemovedPart is an old or broken part taken off under a task card (旧件/坏件).
type RemovedPart struct {
	ID          string       `json:"id"`
	PartNumber  string       `json:"part_number"`
	Serial      string       `json:"serial"`
	TaskCard    string       `json:"task_card"`
	Actor       string       `json:"actor"`
	RemovedAt   time.Time    `json:"removed_at"`
	Disposition *Disposition `json:"disposition"`
}

// DisposedAt is when the part was finally accounted for, if it is.
func (r *RemovedPart) DisposedAt() (time.Time, bool) {
	d := r.Disposition
	if d == nil || d.Status != DispositionFinal {
		return time.Time{}, false
	}
	if d.DecidedAt != nil {
		return *d.DecidedAt, true
	}
	return d.At, true
}

// Visit is one aircraft or engine in the zone for bonded maintenance.
type Visit struct {
	ID                     string          `json:"id"`
	Firm                   string          `json:"firm"`
	Object                 Object          `json:"object"`
	InboundPreDeclaration  string          `json:"inbound_predeclaration"`
	Scope                  string          `json:"scope"`
	Customer               string          `json:"customer"`
	Foreign                bool            `json:"foreign"`
	Deposit                string          `json:"deposit,omitempty"`
	Status                 VisitStatus     `json:"status"`
	EnteredAt              *time.Time      `json:"entered_at,omitempty"`
	OutcomeAt              *time.Time      `json:"outcome_at,omitempty"`
	OutboundPreDeclaration string          `json:"outbound_predeclaration,omitempty"`
	DepartedAt             *time.Time      `json:"departed_at,omitempty"`
	TaskCards              []VisitTaskCard `json:"task_cards"`
	RemovedParts           []RemovedPart   `json:"removed_parts"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	Version                int             `json:"version"`
}

// ObjectKey identifies an aircraft or engine across declarations and visits:
// its kind and its registration or serial, read as a gate would read it.
func ObjectKey(o Object) string {
	switch o.Kind {
	case KindAircraft:
		return string(o.Kind) + ":" + normalizeIdentity(o.Registration)
	case KindEngine:
		return string(o.Kind) + ":" + normalizeIdentity(o.ESN)
	}
	return string(o.Kind) + ":" + normalizeIdentity(o.Description+"/"+o.PartNumber)
}

// Validate checks a new visit's fields, naming each failing one.
func (v *Visit) Validate() error {
	fs := v.Object.problems(KindAircraft, KindEngine)
	if strings.TrimSpace(v.InboundPreDeclaration) == "" {
		fs = append(fs, FieldError{Field: "inbound_predeclaration", Message: "required"})
	}
	if strings.TrimSpace(v.Scope) == "" {
		fs = append(fs, FieldError{Field: "scope", Message: "required"})
	}
	if strings.TrimSpace(v.Customer) == "" {
		fs = append(fs, FieldError{Field: "customer", Message: "required"})
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	return nil
}

// CheckInbound refuses (422, naming inbound_predeclaration) a declaration
// that cannot open this visit: another firm's (or none), not inbound, not
// bonded maintenance, another object, or one that will never cross.
func (v *Visit) CheckInbound(d *PreDeclaration) error {
	const f = "inbound_predeclaration"
	switch {
	case d == nil || d.Firm != v.Firm:
		return unprocessable(f, "must name one of the firm's pre-declarations")
	case d.Direction != In:
		return unprocessable(f, "must be an inbound (direction in) pre-declaration")
	case d.Regime != RegimeBondedMaintenance:
		return unprocessable(f, "must be declared under regime bonded_maintenance")
	case d.Object.Kind != v.Object.Kind || ObjectKey(d.Object) != ObjectKey(v.Object):
		return unprocessable(f, "declares another object than this visit's")
	case d.Status == StatusRejected || d.Status == StatusCancelled || d.Status == StatusRevoked:
		return unprocessable(f, "is "+string(d.Status)+": it will never cross")
	}
	return nil
}

// crossedStates are the declaration states reached once the object crossed.
var crossedStates = []Status{StatusCrossed, StatusArrived, StatusClosed}

// Crossed reports whether d's object has passed the gate.
func Crossed(d *PreDeclaration) bool { return slices.Contains(crossedStates, d.Status) }

func (v *Visit) touch(at time.Time) {
	v.UpdatedAt = at.UTC()
	v.Version++
}

// Enter moves an awaiting visit to in_repair: its inbound declaration crossed.
func (v *Visit) Enter(at time.Time) error {
	if v.Status != VisitAwaitingEntry {
		return Errorf(ECONFLICT, "visit %s is %s, not awaiting entry", v.ID, v.Status)
	}
	at = at.UTC()
	v.Status, v.EnteredAt = VisitInRepair, &at
	v.touch(at)
	return nil
}

// AddTaskCard opens a task card on a visit in repair.
func (v *Visit) AddTaskCard(number, title, actor string, at time.Time) error {
	number, title = strings.TrimSpace(number), strings.TrimSpace(title)
	var fs []FieldError
	if number == "" || len(number) > 64 {
		fs = append(fs, FieldError{Field: "number", Message: "required, at most 64 characters"})
	}
	if title == "" {
		fs = append(fs, FieldError{Field: "title", Message: "required"})
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	if v.Status != VisitInRepair {
		return Errorf(ECONFLICT, "visit %s is %s: task cards are opened while it is in_repair", v.ID, v.Status)
	}
	if v.TaskCard(number) != nil {
		return Errorf(ECONFLICT, "visit %s already has task card %s", v.ID, number)
	}
	v.TaskCards = append(v.TaskCards, VisitTaskCard{Number: number, Title: title, Actor: actor, CreatedAt: at.UTC()})
	v.touch(at)
	return nil
}

// TaskCard returns the visit's task card numbered n, or nil.
func (v *Visit) TaskCard(n string) *VisitTaskCard {
	n = strings.TrimSpace(n)
	for i := range v.TaskCards {
		if v.TaskCards[i].Number == n {
			return &v.TaskCards[i]
		}
	}
	return nil
}

// RemovePart records an old part taken off under one of the visit's task
// cards, while the visit is in repair. r.ID must be set.
func (v *Visit) RemovePart(r RemovedPart, at time.Time) (*RemovedPart, error) {
	r.PartNumber, r.Serial, r.TaskCard = strings.TrimSpace(r.PartNumber), strings.TrimSpace(r.Serial), strings.TrimSpace(r.TaskCard)
	var fs []FieldError
	if r.PartNumber == "" {
		fs = append(fs, FieldError{Field: "part_number", Message: "required"})
	}
	if r.Serial == "" {
		fs = append(fs, FieldError{Field: "serial", Message: "required"})
	}
	if r.TaskCard == "" {
		fs = append(fs, FieldError{Field: "task_card", Message: "required"})
	}
	if len(fs) > 0 {
		return nil, Invalid(fs...)
	}
	if v.Status != VisitInRepair {
		return nil, Errorf(ECONFLICT, "visit %s is %s: parts are removed while it is in_repair", v.ID, v.Status)
	}
	if v.TaskCard(r.TaskCard) == nil {
		return nil, unprocessable("task_card", "names no task card of visit "+v.ID)
	}
	for _, o := range v.RemovedParts {
		if o.PartNumber == r.PartNumber && o.Serial == r.Serial {
			return nil, Errorf(ECONFLICT, "part %s serial %s was already removed on visit %s (%s)", r.PartNumber, r.Serial, v.ID, o.ID)
		}
	}
	r.RemovedAt, r.Disposition = at.UTC(), nil
	v.RemovedParts = append(v.RemovedParts, r)
	v.touch(at)
	return &v.RemovedParts[len(v.RemovedParts)-1], nil
}

// RemovedPart returns the removed part rid, or ENOTFOUND.
func (v *Visit) RemovedPart(rid string) (*RemovedPart, error) {
	for i := range v.RemovedParts {
		if v.RemovedParts[i].ID == rid {
			return &v.RemovedParts[i], nil
		}
	}
	return nil, Errorf(ENOTFOUND, "no removed part %s on visit %s", rid, v.ID)
}

// Dispose gives a removed part its disposition. A re-export or return needs
// out: the firm's crossed outbound declaration the part left under (422
// naming predeclaration otherwise); a scrap waits for customs. A part already
// accounted for, or waiting for customs, is ECONFLICT.
func (v *Visit) Dispose(rid string, kind DispositionKind, out *PreDeclaration, outID, actor string, at time.Time) (*RemovedPart, error) {
	r, err := v.RemovedPart(rid)
	if err != nil {
		return nil, err
	}
	switch kind {
	case DisposeReexport, DisposeReturnToOwner, DisposeScrap:
	default:
		return nil, Invalid(FieldError{Field: "kind", Message: "must be one of reexport, return_to_owner, scrap"})
	}
	if kind == DisposeScrap && outID != "" {
		return nil, Invalid(FieldError{Field: "predeclaration", Message: "only for reexport and return_to_owner"})
	}
	if d := r.Disposition; d != nil && d.Status != DispositionRejected {
		return nil, Errorf(ECONFLICT, "removed part %s already has a %s disposition (%s)", rid, d.Kind, d.Status)
	}
	d := Disposition{Kind: kind, Actor: actor, At: at.UTC(), Status: DispositionFinal}
	if kind == DisposeScrap {
		d.Status = DispositionPending
	} else {
		switch {
		case strings.TrimSpace(outID) == "":
			return nil, unprocessable("predeclaration", "a "+string(kind)+" needs the crossed outbound pre-declaration the part left under")
		case out == nil || out.Firm != v.Firm:
			return nil, unprocessable("predeclaration", "must name one of the firm's pre-declarations")
		case out.Direction != Out:
			return nil, unprocessable("predeclaration", "must be an outbound (direction out) pre-declaration")
		case !Crossed(out):
			return nil, unprocessable("predeclaration", "has not crossed the gate (status "+string(out.Status)+")")
		}
		d.PreDeclaration = out.ID
	}
	r.Disposition = &d
	v.touch(at)
	return r, nil
}

// DecideScrap is customs' answer to a scrap disposition: approved, the part
// is accounted for; rejected, it waits for another disposition.
func (v *Visit) DecideScrap(rid string, approve bool, by, reason string, at time.Time) (*RemovedPart, error) {
	r, err := v.RemovedPart(rid)
	if err != nil {
		return nil, err
	}
	d := r.Disposition
	if d == nil || d.Status != DispositionPending {
		return nil, Errorf(ECONFLICT, "removed part %s has no scrap waiting for approval", rid)
	}
	at = at.UTC()
	d.DecidedBy, d.DecidedAt, d.Reason = by, &at, strings.TrimSpace(reason)
	d.Status = DispositionFinal
	if !approve {
		d.Status = DispositionRejected
	}
	v.touch(at)
	return r, nil
}

// Conclude records the outcome of the work: repaired or unrepairable.
func (v *Visit) Conclude(outcome VisitStatus, at time.Time) error {
	if !outcome.finished() {
		return Invalid(FieldError{Field: "outcome", Message: "must be repaired or unrepairable"})
	}
	if v.Status != VisitInRepair {
		return Errorf(ECONFLICT, "visit %s is %s, not in_repair", v.ID, v.Status)
	}
	at = at.UTC()
	v.Status, v.OutcomeAt = outcome, &at
	v.touch(at)
	return nil
}

// Depart closes a finished visit: out, an outbound bonded-maintenance
// declaration of the firm for the same object, crossed.
func (v *Visit) Depart(out *PreDeclaration, at time.Time) error {
	if !v.Status.finished() {
		return Errorf(ECONFLICT, "visit %s is %s, not repaired or unrepairable", v.ID, v.Status)
	}
	at = at.UTC()
	v.Status, v.DepartedAt, v.OutboundPreDeclaration = VisitDeparted, &at, out.ID
	v.touch(at)
	return nil
}

// departs reports whether d's crossing takes the visit out of the zone.
func (v *Visit) departs(d *PreDeclaration) bool {
	return v.Status.finished() && d.Firm == v.Firm && d.Direction == Out &&
		d.Regime == RegimeBondedMaintenance && d.Object.Kind == v.Object.Kind && ObjectKey(d.Object) == ObjectKey(v.Object)
}

// VisitFilter selects visits for a list.
type VisitFilter struct {
	Firm   string
	Status VisitStatus
	Cursor string
	Limit  int
}

// VisitPage is one page of visits, newest first.
type VisitPage struct {
	Items      []*Visit
	NextCursor string
}

// VisitStore keeps visits with their task cards and removed parts. Every
// write lands the visit, its indexes (firm, inbound declaration, object,
// task-card numbers: one per firm), the audit entry and the outbox messages
// in one transaction.
type VisitStore interface {
	// CreateVisit stores v; a second visit on one inbound declaration is
	// ECONFLICT; a repeated Idempotency-Key and body answers the stored visit.
	CreateVisit(ctx context.Context, v *Visit, idem *Idempotency, ch Change) (stored *Visit, replayed bool, err error)
	// UpdateVisit loads id, lets fn change it and writes it with fn's
	// Change; fn's ref (a removed part's ID) is remembered under idem, and a
	// repeated key answers the visit as it is now without calling fn. A task
	// card number another visit of the firm holds is ECONFLICT.
	UpdateVisit(ctx context.Context, id string, idem *Idempotency, fn func(v *Visit) (ref string, ch Change, err error)) (v *Visit, ref string, replayed bool, err error)
	Visit(ctx context.Context, id string) (*Visit, error)
	Visits(ctx context.Context, f VisitFilter) (VisitPage, error)
	// AllVisits returns every visit of firm (every firm's when empty).
	AllVisits(ctx context.Context, firm string) ([]*Visit, error)
	// TaskCardVisit returns the firm's visit holding task card number, or
	// ENOTFOUND.
	TaskCardVisit(ctx context.Context, firm, number string) (*Visit, error)
}

// LotLister reads a firm's parts lots (every firm's when firm is empty),
// for the ledger and the write-off summary.
type LotLister interface {
	AllLots(ctx context.Context, firm string) ([]*PartsLot, error)
}

// MovementCheck is asked by the parts service before it records a movement
// of firm's lot (or a new lot); an error refuses it. VisitService
// implements it: a cited task card must be one of an in_repair visit of the
// firm, and neither a movement nor a lot's import may be dated inside a
// verified write-off period.
type MovementCheck interface {
	CheckMovement(ctx context.Context, firm string, m *Movement) error
	CheckLot(ctx context.Context, l *PartsLot) error
}

// VisitCrossingMove decides what the crossing of d does to visit v, inside
// the crossing's transaction: the Change to write and whether v moved.
type VisitCrossingMove func(v *Visit, d *PreDeclaration) (ch Change, moved bool, err error)

// VisitService carries out the bonded-maintenance use cases.
type VisitService struct {
	Store        VisitStore
	Declarations DeclarationReader
	// WriteOffs, when set, locks verified periods against new records.
	WriteOffs WriteOffStore
	// Lots, when set, gives the ledger its materials.
	Lots      LotLister
	Now       func() time.Time
	NewID     func() string
	Source    string
	Committed func()
}

var _ MovementCheck = (*VisitService)(nil)

func (s *VisitService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

func visitNotFound(id string) error { return Errorf(ENOTFOUND, "no maintenance visit %s", id) }

// Open opens a visit for the caller's firm against its inbound
// pre-declaration: awaiting_entry, or in_repair at once when the declaration
// has already crossed (its crossing would otherwise never reach the visit).
func (s *VisitService) Open(ctx context.Context, p Principal, v Visit, idem *Idempotency) (*Visit, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	if err := v.Validate(); err != nil {
		return nil, false, err
	}
	v.Firm = p.Firm
	d, err := s.Declarations.Declaration(ctx, strings.TrimSpace(v.InboundPreDeclaration))
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return nil, false, err
	}
	if err := v.CheckInbound(d); err != nil {
		return nil, false, err
	}
	now := s.Now().UTC()
	v.ID, v.InboundPreDeclaration, v.Status = s.NewID(), d.ID, VisitAwaitingEntry
	v.Scope, v.Customer = strings.TrimSpace(v.Scope), strings.TrimSpace(v.Customer)
	v.Deposit = ""
	if v.Foreign && v.Object.Kind == KindAircraft {
		v.Deposit = DepositExempt
	}
	v.EnteredAt, v.OutcomeAt, v.DepartedAt, v.OutboundPreDeclaration = nil, nil, nil, ""
	v.TaskCards, v.RemovedParts = []VisitTaskCard{}, []RemovedPart{}
	v.CreatedAt, v.UpdatedAt, v.Version = now, now, 1
	if Crossed(d) {
		at := now
		if d.CrossedAt != nil {
			at = d.CrossedAt.UTC()
		}
		v.Status, v.EnteredAt = VisitInRepair, &at
	}
	msg, err := s.announce(&v)
	if err != nil {
		return nil, false, err
	}
	stored, replayed, err := s.Store.CreateVisit(ctx, &v, idem, Change{Actor: p.Actor(), Action: "open", Messages: msg})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Get returns one visit the caller may see.
func (s *VisitService) Get(ctx context.Context, p Principal, id string) (*Visit, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	v, err := s.Store.Visit(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(v.Firm) {
		return nil, visitNotFound(id)
	}
	return v, nil
}

// List returns the visits the caller may see, newest first.
func (s *VisitService) List(ctx context.Context, p Principal, f VisitFilter) (VisitPage, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return VisitPage{}, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Status != "" && !f.Status.Valid() {
		return VisitPage{}, Invalid(FieldError{Field: "status", Message: "must be one of awaiting_entry, in_repair, repaired, unrepairable, departed"})
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.Visits(ctx, f)
}

// AddTaskCard opens a task card on the owner's visit in repair.
func (s *VisitService) AddTaskCard(ctx context.Context, p Principal, id, number, title string, idem *Idempotency) (*Visit, bool, error) {
	v, _, replayed, err := s.update(ctx, p, id, idem, "task_card", func(v *Visit, now time.Time) (string, error) {
		return strings.TrimSpace(number), v.AddTaskCard(number, title, p.Actor(), now)
	})
	return v, replayed, err
}

// RemovePart records an old part taken off the owner's visit.
func (s *VisitService) RemovePart(ctx context.Context, p Principal, id string, r RemovedPart, idem *Idempotency) (*Visit, *RemovedPart, bool, error) {
	v, ref, replayed, err := s.update(ctx, p, id, idem, "removed_part", func(v *Visit, now time.Time) (string, error) {
		r.ID, r.Actor = s.NewID(), p.Actor()
		rp, err := v.RemovePart(r, now)
		if err != nil {
			return "", err
		}
		return rp.ID, nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	rp, err := v.RemovedPart(ref)
	return v, rp, replayed, err
}

// Dispose gives a removed part of the owner's visit its disposition.
func (s *VisitService) Dispose(ctx context.Context, p Principal, id, rid string, kind DispositionKind, outID string) (*Visit, *RemovedPart, error) {
	var out *PreDeclaration
	if outID = strings.TrimSpace(outID); outID != "" && kind != DisposeScrap {
		d, err := s.Declarations.Declaration(ctx, outID)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return nil, nil, err
		}
		out = d
	}
	v, _, _, err := s.update(ctx, p, id, nil, "disposition."+string(kind), func(v *Visit, now time.Time) (string, error) {
		_, err := v.Dispose(rid, kind, out, outID, p.Actor(), now)
		return rid, err
	})
	if err != nil {
		return nil, nil, err
	}
	rp, err := v.RemovedPart(rid)
	return v, rp, err
}

// DecideScrap is customs' approval or rejection of a scrap disposition.
func (s *VisitService) DecideScrap(ctx context.Context, p Principal, id, rid string, approve bool, reason string) (*Visit, *RemovedPart, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, nil, err
	}
	action := "disposition.approve"
	if !approve {
		action = "disposition.reject"
	}
	v, _, _, err := s.update(ctx, p, id, nil, action, func(v *Visit, now time.Time) (string, error) {
		_, err := v.DecideScrap(rid, approve, p.Actor(), reason, now)
		return rid, err
	})
	if err != nil {
		return nil, nil, err
	}
	rp, err := v.RemovedPart(rid)
	return v, rp, err
}

// Conclude records the outcome of the owner's visit.
func (s *VisitService) Conclude(ctx context.Context, p Principal, id string, outcome VisitStatus) (*Visit, error) {
	if !outcome.finished() {
		return nil, Invalid(FieldError{Field: "outcome", Message: "must be repaired or unrepairable"})
	}
	v, _, _, err := s.update(ctx, p, id, nil, "outcome", func(v *Visit, now time.Time) (string, error) {
		return "", v.Conclude(outcome, now)
	})
	return v, err
}

// update is one change of a visit the caller owns (customs may decide
// scraps), refused with ECONFLICT when now lies in a verified write-off
// period of the firm.
func (s *VisitService) update(ctx context.Context, p Principal, id string, idem *Idempotency, action string, fn func(v *Visit, now time.Time) (string, error)) (*Visit, string, bool, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, "", false, err
	}
	v, ref, replayed, err := s.Store.UpdateVisit(ctx, id, idem, func(v *Visit) (string, Change, error) {
		if !p.sees(v.Firm) {
			return "", Change{}, visitNotFound(id)
		}
		if p.Role == RoleCustoms && !strings.HasPrefix(action, "disposition.") {
			return "", Change{}, Errorf(EFORBIDDEN, "only the owner firm records the work of a visit")
		}
		now := s.Now().UTC()
		if err := s.checkUnlocked(ctx, v.Firm, now); err != nil {
			return "", Change{}, err
		}
		ref, err := fn(v, now)
		if err != nil {
			return "", Change{}, err
		}
		msg, err := s.announce(v)
		if err != nil {
			return "", Change{}, err
		}
		return ref, Change{Actor: p.Actor(), Action: action, Messages: msg}, nil
	})
	if err == nil && !replayed {
		s.committed()
	}
	return v, ref, replayed, err
}

// checkUnlocked refuses a record of firm dated at inside a verified period.
func (s *VisitService) checkUnlocked(ctx context.Context, firm string, at time.Time) error {
	if s.WriteOffs == nil {
		return nil
	}
	periods, err := s.WriteOffs.WriteOffs(ctx, WriteOffFilter{Firm: firm, Status: WriteOffVerified})
	if err != nil {
		return err
	}
	return LockedAt(periods, at)
}

// CheckMovement is the parts service's question before a movement of firm's
// lot: a consume or install citing a task card needs that card on an
// in_repair visit of the firm (422 naming task_card.number), and nothing
// moves inside a verified period (409).
func (s *VisitService) CheckMovement(ctx context.Context, firm string, m *Movement) error {
	if err := s.checkUnlocked(ctx, firm, m.At); err != nil {
		return err
	}
	if m.TaskCard == nil || (m.Kind != MoveConsume && m.Kind != MoveInstall) {
		return nil
	}
	n := strings.TrimSpace(m.TaskCard.Number)
	v, err := s.Store.TaskCardVisit(ctx, firm, n)
	if ErrorCode(err) == ENOTFOUND || (err == nil && v.Status != VisitInRepair) {
		return unprocessable("task_card.number", "names no task card of an in_repair maintenance visit of the firm")
	}
	if err != nil {
		return err
	}
	m.TaskCard.Number = n
	return nil
}

// CheckLot refuses (409) a lot whose import (created_at, the date the
// ledgers count it from) lies inside a verified write-off period of its firm.
func (s *VisitService) CheckLot(ctx context.Context, l *PartsLot) error {
	return s.checkUnlocked(ctx, l.Firm, l.CreatedAt)
}

// CitesTaskCard reports whether a movement of kind k may cite a task card:
// an exit leaves against one; a consume or install may name the maintenance
// task card the material was used under.
func CitesTaskCard(k MovementKind) bool {
	return k == MoveExitIsland || k == MoveConsume || k == MoveInstall
}

// CrossingMove is what a crossed declaration does to a visit: its inbound
// declaration brings it in_repair; an outbound bonded-maintenance
// declaration of the firm for the same object takes a finished visit out.
func (s *VisitService) CrossingMove() VisitCrossingMove {
	return func(v *Visit, d *PreDeclaration) (Change, bool, error) {
		if d == nil || !Crossed(d) {
			return Change{}, false, nil
		}
		at := s.Now().UTC()
		if d.CrossedAt != nil {
			at = d.CrossedAt.UTC()
		}
		var action string
		switch {
		case d.ID == v.InboundPreDeclaration && v.Status == VisitAwaitingEntry:
			if err := v.Enter(at); err != nil {
				return Change{}, false, err
			}
			action = "enter"
		case v.departs(d):
			if err := v.Depart(d, at); err != nil {
				return Change{}, false, err
			}
			action = "depart"
		default:
			return Change{}, false, nil
		}
		msg, err := s.announce(v)
		if err != nil {
			return Change{}, false, err
		}
		return Change{Actor: "gate:" + d.Gate, Action: action, Reason: "pre-declaration " + d.ID + " crossed", Messages: msg}, true, nil
	}
}

// VisitEvent is what a visit's change announces: the visit without its
// lists (counts instead), so events stay small however long the work.
type VisitEvent struct {
	Visit
	TaskCards    int `json:"task_cards"`
	RemovedParts int `json:"removed_parts"`
}

func (s *VisitService) announce(v *Visit) ([]OutboxMessage, error) {
	ev := VisitEvent{Visit: *v, TaskCards: len(v.TaskCards), RemovedParts: len(v.RemovedParts)}
	ev.Visit.TaskCards, ev.Visit.RemovedParts = nil, nil
	m, err := RecordMessage(s.NewID(), s.Source, TypeVisitChanged, v.ID, v.UpdatedAt, ev)
	if err != nil {
		return nil, err
	}
	return []OutboxMessage{m}, nil
}
