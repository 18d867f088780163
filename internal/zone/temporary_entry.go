package zone

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Temporary-entry repair (暂时进境修理): a foreign aircraft or engine enters
// for repair without paying duty and must be re-exported by a deadline.
//
// The deadline rule: reexport_deadline = entered_at + (6 + the months of every
// extension) calendar months, computed in one step from entered_at. Adding
// months keeps the day of the month and the time of day; when the target
// month is shorter, the deadline is that month's last day (2027-08-31 + 6
// months = 2028-02-29; 2026-08-31 + 6 = 2027-02-28). Computing from entered_at
// rather than chaining from the previous deadline means a clamp never eats
// days: 2027-08-31 + 6 + 1 months is 2028-03-31, not 2028-03-29.
//
// "Six months from the date of entry" is a calendar date in Beijing: the
// months are added to entered_at as a wall-clock time in Asia/Shanghai, so an
// entry at 2026-02-28T17:00Z (1 March in Beijing) is due 1 September, not the
// 28 August that UTC months give.

// Event types of temporary entries, on TopicRecords.
const (
	TypeTemporaryEntryChanged  = "bondgate.temporary_entry.changed"
	TypeTemporaryEntryReminder = "bondgate.temporary_entry.reminder"
)

// Temporary-entry limits, as customs applies them.
const (
	DefaultReexportMonths = 6 // months from entry to the re-export deadline
	MaxExtensions         = 3 // extensions customs may grant
	MaxExtensionMonths    = 6 // months one extension may add
)

// EntryStatus is a temporary entry's state.
type EntryStatus string

// Temporary-entry states: entered → reexported; entered → overdue (the
// deadline passed) → reexported. An extension that moves the deadline past
// now brings an overdue entry back to entered.
const (
	EntryEntered    EntryStatus = "entered"
	EntryOverdue    EntryStatus = "overdue"
	EntryReexported EntryStatus = "reexported"
)

// Valid reports whether s is a known state.
func (s EntryStatus) Valid() bool {
	return s == EntryEntered || s == EntryOverdue || s == EntryReexported
}

// GuaranteeKind is how the duty on a temporary entry is secured.
type GuaranteeKind string

// Guarantee kinds.
const (
	GuaranteeExempt        GuaranteeKind = "exempt" // foreign aircraft entering for maintenance: no deposit
	GuaranteeDeposit       GuaranteeKind = "deposit"
	GuaranteeBankGuarantee GuaranteeKind = "bank_guarantee"
)

// Guarantee secures the duty on a temporary entry. Amount is required for a
// deposit or a bank guarantee and absent when exempt.
type Guarantee struct {
	Kind   GuaranteeKind `json:"kind"`
	Amount *Money        `json:"amount,omitempty"`
}

// Extension is one customs decision moving the re-export deadline.
type Extension struct {
	Months   int       `json:"months"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Deadline time.Time `json:"deadline"` // the deadline this extension set
}

// TemporaryEntry is an aircraft or engine in the zone under temporary entry
// for repair.
type TemporaryEntry struct {
	ID               string    `json:"id"`
	Firm             string    `json:"firm"`
	Object           Object    `json:"object"`
	Owner            string    `json:"owner"`
	EnteredAt        time.Time `json:"entered_at"`
	Repair           string    `json:"repair"`
	Guarantee        Guarantee `json:"guarantee"`
	PreDeclarationID string    `json:"predeclaration_id,omitempty"`
	// ReexportEvidence is what showed the object left: a crossed outbound
	// pre-declaration or an export declaration number.
	ReexportEvidence *ReexportEvidence `json:"reexport_evidence,omitempty"`
	Status           EntryStatus       `json:"status"`
	ReexportDeadline time.Time         `json:"reexport_deadline"`
	Extensions       []Extension       `json:"extensions"`
	OverdueAt        *time.Time        `json:"overdue_at,omitempty"`
	ReexportedAt     *time.Time        `json:"reexported_at,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	Version          int               `json:"version"`
}

// TemporaryEntryEvent is what an entry's change announces on TopicRecords:
// the entry's current state with the number of extensions and the latest one,
// never the list, so events carry the change and not the history.
type TemporaryEntryEvent struct {
	TemporaryEntry
	Extensions    int        `json:"extensions"`
	LastExtension *Extension `json:"last_extension,omitempty"`
}

// Event builds the entry's announcement of its current state.
func (e *TemporaryEntry) Event() TemporaryEntryEvent {
	ev := TemporaryEntryEvent{TemporaryEntry: *e, Extensions: len(e.Extensions)}
	ev.TemporaryEntry.Extensions = nil
	if n := len(e.Extensions); n > 0 {
		last := e.Extensions[n-1]
		ev.LastExtension = &last
	}
	return ev
}

// AddMonths adds n calendar months to t, keeping the day and time of day and
// clamping to the last day of a shorter target month.
func AddMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(d, last)-1)
}

// Deadline is the re-export deadline from the entry date and the extensions.
func (e *TemporaryEntry) Deadline() time.Time {
	months := DefaultReexportMonths
	for _, x := range e.Extensions {
		months += x.Months
	}
	return AddMonths(e.EnteredAt.In(Shanghai), months).UTC()
}

// Shanghai is Beijing time, in which customs counts deadlines and periods.
// China has kept UTC+8 without daylight saving since 1991, and times are
// bounded to 2000–2199, so a fixed zone is exact and needs no tz database.
var Shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// Validate checks a new entry's fields and returns EINVALID naming each
// failing one.
func (e *TemporaryEntry) Validate() error {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	fs = append(fs, e.Object.problems(KindAircraft, KindEngine)...)
	if strings.TrimSpace(e.Owner) == "" {
		add("owner", "required")
	}
	if e.EnteredAt.IsZero() && e.PreDeclarationID == "" {
		add("entered_at", "required (or predeclaration_id, whose crossing gives it)")
	}
	if !e.EnteredAt.IsZero() {
		fs = timeProblems(fs, namedTime{"entered_at", e.EnteredAt})
	}
	if strings.TrimSpace(e.Repair) == "" {
		add("repair", "required")
	}
	switch e.Guarantee.Kind {
	case GuaranteeExempt:
		if e.Guarantee.Amount != nil {
			add("guarantee.amount", "must be absent when exempt")
		}
	case GuaranteeDeposit, GuaranteeBankGuarantee:
		if e.Guarantee.Amount == nil {
			add("guarantee.amount", "required for a "+string(e.Guarantee.Kind))
		} else {
			if !amountRE.MatchString(e.Guarantee.Amount.Amount) {
				add("guarantee.amount", "must be a decimal string such as \"500000.00\"")
			} else if ParseAmount(e.Guarantee.Amount.Amount).Sign() <= 0 {
				add("guarantee.amount", "must be more than zero")
			}
			if !currencyRE.MatchString(e.Guarantee.Amount.Currency) {
				add("guarantee.amount.currency", "must be an ISO 4217 code such as CNY")
			}
		}
	default:
		add("guarantee.kind", "must be one of exempt, deposit, bank_guarantee")
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	return nil
}

// Reexport closes the entry: the object has left. A second re-export is
// ECONFLICT and changes nothing.
func (e *TemporaryEntry) Reexport(at time.Time) error {
	if e.Status == EntryReexported {
		return Errorf(ECONFLICT, "temporary entry %s was already re-exported", e.ID)
	}
	at = at.UTC()
	e.Status, e.ReexportedAt, e.UpdatedAt = EntryReexported, &at, at
	e.Version++
	return nil
}

// Extend moves the deadline by months (1 to 6) with a reason; at most three
// extensions. A re-exported entry cannot be extended (ECONFLICT); an overdue
// one whose new deadline lies after at is entered again.
func (e *TemporaryEntry) Extend(months int, reason, by string, at time.Time) error {
	reason = strings.TrimSpace(reason)
	var fs []FieldError
	if months < 1 || months > MaxExtensionMonths {
		fs = append(fs, FieldError{Field: "months", Message: fmt.Sprintf("must be from 1 to %d", MaxExtensionMonths)})
	}
	if reason == "" {
		fs = append(fs, FieldError{Field: "reason", Message: "required"})
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	if e.Status == EntryReexported {
		return Errorf(ECONFLICT, "temporary entry %s was already re-exported", e.ID)
	}
	if len(e.Extensions) >= MaxExtensions {
		return Errorf(ECONFLICT, "temporary entry %s already has %d extensions, the most customs may grant", e.ID, MaxExtensions)
	}
	at = at.UTC()
	e.Extensions = append(e.Extensions, Extension{Months: months, Reason: reason, By: by, At: at})
	e.ReexportDeadline = e.Deadline()
	e.Extensions[len(e.Extensions)-1].Deadline = e.ReexportDeadline
	if e.Status == EntryOverdue && e.ReexportDeadline.After(at) {
		e.Status, e.OverdueAt = EntryEntered, nil
	}
	e.UpdatedAt = at
	e.Version++
	return nil
}

// MarkOverdue moves an entered entry whose deadline has passed at `at` to
// overdue. It reports whether anything changed.
func (e *TemporaryEntry) MarkOverdue(at time.Time) bool {
	if e.Status != EntryEntered || at.Before(e.ReexportDeadline) {
		return false
	}
	at = at.UTC()
	e.Status, e.OverdueAt, e.UpdatedAt = EntryOverdue, &at, at
	e.Version++
	return true
}

// ReminderKind names one reminder before (or the notice at) a deadline.
type ReminderKind string

// Reminders, most distant first, and the overdue notice.
const (
	Reminder30Days ReminderKind = "30d"
	Reminder7Days  ReminderKind = "7d"
	Reminder1Day   ReminderKind = "1d"
	NoticeOverdue  ReminderKind = "overdue"
)

// reminderLeads is how far before the deadline each reminder falls due.
var reminderLeads = []struct {
	Kind ReminderKind
	Lead time.Duration
}{{Reminder30Days, 30 * 24 * time.Hour}, {Reminder7Days, 7 * 24 * time.Hour}, {Reminder1Day, 24 * time.Hour}}

// MaxReminderLead is the earliest a reminder falls due before a deadline.
const MaxReminderLead = 30 * 24 * time.Hour

// DueNotice is what the scheduler owes an entry at some moment: the kind
// fires, and Superseded lists earlier reminders that are too late to be
// useful and are marked fired without being sent (a scheduler that was down
// for a week sends the 7-day reminder, not also the 30-day one).
type DueNotice struct {
	Kind       ReminderKind
	Superseded []ReminderKind
}

// DueNotice returns the notice owed at now for the current deadline, given
// which kinds already fired for it; ok is false when nothing is owed.
func (e *TemporaryEntry) DueNotice(now time.Time, fired func(ReminderKind) bool) (DueNotice, bool) {
	if e.Status != EntryEntered {
		return DueNotice{}, false
	}
	if !now.Before(e.ReexportDeadline) {
		if fired(NoticeOverdue) {
			return DueNotice{}, false
		}
		n := DueNotice{Kind: NoticeOverdue}
		for _, r := range reminderLeads {
			if !fired(r.Kind) {
				n.Superseded = append(n.Superseded, r.Kind)
			}
		}
		return n, true
	}
	// The most urgent reminder whose time has come.
	for i := len(reminderLeads) - 1; i >= 0; i-- {
		r := reminderLeads[i]
		if now.Before(e.ReexportDeadline.Add(-r.Lead)) {
			continue
		}
		if fired(r.Kind) {
			return DueNotice{}, false
		}
		n := DueNotice{Kind: r.Kind}
		for _, earlier := range reminderLeads[:i] {
			if !fired(earlier.Kind) {
				n.Superseded = append(n.Superseded, earlier.Kind)
			}
		}
		return n, true
	}
	return DueNotice{}, false
}

// Reminder is the data of a reminder event.
type Reminder struct {
	EntryID  string       `json:"entry_id"`
	Firm     string       `json:"firm"`
	Kind     ReminderKind `json:"kind"`
	Deadline time.Time    `json:"reexport_deadline"`
	DaysLeft int          `json:"days_left"`
	At       time.Time    `json:"at"`
}

// OverdueAlarmID is the ID of the alarm raised when e's current deadline
// passes: the same deadline always gives the same ID, so raising it twice
// stores it once.
func OverdueAlarmID(entryID string, deadline time.Time) string {
	return "OVERDUE-" + entryID + "-" + deadline.UTC().Format("20060102T150405Z")
}

// TemporaryEntryFilter selects temporary entries for a list.
type TemporaryEntryFilter struct {
	Firm      string
	Status    EntryStatus
	DueBefore *time.Time // deadline strictly before
	Cursor    string
	Limit     int
}

// TemporaryEntryPage is one page of a list, newest first.
type TemporaryEntryPage struct {
	Items      []*TemporaryEntry
	NextCursor string
}

// TemporaryEntryStore keeps temporary entries; every write lands the record,
// its indexes, the audit entry and the change's outbox messages in one
// transaction.
type TemporaryEntryStore interface {
	// CreateTemporaryEntry stores e; with idem, a repeated key and body
	// answers the stored entry and replayed=true.
	CreateTemporaryEntry(ctx context.Context, e *TemporaryEntry, idem *Idempotency, ch Change) (stored *TemporaryEntry, replayed bool, err error)
	// UpdateTemporaryEntry loads id, lets fn change it and writes it with fn's
	// Change; fn's error leaves everything as it was.
	UpdateTemporaryEntry(ctx context.Context, id string, fn func(e *TemporaryEntry) (Change, error)) (*TemporaryEntry, error)
	// TemporaryEntry returns one entry or ENOTFOUND.
	TemporaryEntry(ctx context.Context, id string) (*TemporaryEntry, error)
	// TemporaryEntries lists by filter, newest first.
	TemporaryEntries(ctx context.Context, f TemporaryEntryFilter) (TemporaryEntryPage, error)
}

// DeclarationReader reads pre-declarations (to check a temporary entry's link).
type DeclarationReader interface {
	Declaration(ctx context.Context, id string) (*PreDeclaration, error)
}

// TemporaryEntryService carries out the temporary-entry use cases.
type TemporaryEntryService struct {
	Store TemporaryEntryStore
	// Declarations, when set, checks predeclaration_id links.
	Declarations DeclarationReader
	Now          func() time.Time
	NewID        func() string
	Source       string
	Committed    func()
}

func (s *TemporaryEntryService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

// Create records an entry for the caller's firm, status entered, deadline
// six months after entry.
func (s *TemporaryEntryService) Create(ctx context.Context, p Principal, e TemporaryEntry, idem *Idempotency) (*TemporaryEntry, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	if err := e.Validate(); err != nil {
		return nil, false, err
	}
	if err := notAfterNow("entered_at", e.EnteredAt, s.Now()); err != nil {
		return nil, false, err
	}
	if e.PreDeclarationID != "" {
		// The entry is the crossing: its time is the gate's, not the firm's.
		d, err := s.crossedDeclaration(ctx, p, "predeclaration_id", e.PreDeclarationID, In, RegimeTemporaryEntryRepair)
		if err != nil {
			return nil, false, err
		}
		e.EnteredAt = *d.CrossedAt
	}
	now := s.Now().UTC()
	e.ID, e.Firm, e.Status = s.NewID(), p.Firm, EntryEntered
	e.EnteredAt = e.EnteredAt.UTC()
	e.Extensions = []Extension{}
	e.ReexportDeadline = e.Deadline()
	e.OverdueAt, e.ReexportedAt = nil, nil
	e.CreatedAt, e.UpdatedAt, e.Version = now, now, 1
	m, err := s.announce(&e)
	if err != nil {
		return nil, false, err
	}
	stored, replayed, err := s.Store.CreateTemporaryEntry(ctx, &e, idem, Change{Actor: p.Actor(), Action: "enter", Messages: m})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Get returns one entry the caller may see; another firm's is ENOTFOUND.
func (s *TemporaryEntryService) Get(ctx context.Context, p Principal, id string) (*TemporaryEntry, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	e, err := s.Store.TemporaryEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(e.Firm) {
		return nil, entryNotFound(id)
	}
	return e, nil
}

// List returns the entries the caller may see; a firm only its own.
func (s *TemporaryEntryService) List(ctx context.Context, p Principal, f TemporaryEntryFilter) (TemporaryEntryPage, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return TemporaryEntryPage{}, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Status != "" && !f.Status.Valid() {
		return TemporaryEntryPage{}, Invalid(FieldError{Field: "status", Message: "must be one of entered, overdue, reexported"})
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.TemporaryEntries(ctx, f)
}

// Reexport closes the owner's entry (customs may record it too) on
// evidence that the object left: the firm's crossed outbound
// pre-declaration of the same object, or an export declaration number.
func (s *TemporaryEntryService) Reexport(ctx context.Context, p Principal, id string, ev ReexportEvidence) (*TemporaryEntry, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	// Another firm's entry is not found, whatever the evidence.
	e, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := ev.check(); err != nil {
		return nil, err
	}
	var out *PreDeclaration
	if ev.PreDeclaration != "" {
		// Read before the entry's transaction: a declaration is its own
		// record, and a crossed one no longer changes in ways that matter here.
		owner := Principal{Role: RoleMRO, Firm: e.Firm}
		if out, err = s.crossedDeclaration(ctx, owner, "predeclaration", ev.PreDeclaration, Out, ""); err != nil {
			return nil, err
		}
		if !sameObject(out.Object, e.Object) {
			return nil, unprocessable("predeclaration", "declares another object than the entry's")
		}
	}
	return s.update(ctx, p, id, "reexport", "", func(e *TemporaryEntry) error {
		at := s.Now()
		if out != nil {
			at = *out.CrossedAt
		}
		if err := e.Reexport(at); err != nil {
			return err
		}
		e.ReexportEvidence = &ev
		return nil
	})
}

// Extend is customs' decision to move the deadline.
func (s *TemporaryEntryService) Extend(ctx context.Context, p Principal, id string, months int, reason string) (*TemporaryEntry, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	return s.update(ctx, p, id, "extend", strings.TrimSpace(reason), func(e *TemporaryEntry) error {
		return e.Extend(months, reason, p.Actor(), s.Now())
	})
}

func (s *TemporaryEntryService) update(ctx context.Context, p Principal, id, action, reason string, fn func(*TemporaryEntry) error) (*TemporaryEntry, error) {
	e, err := s.Store.UpdateTemporaryEntry(ctx, id, func(e *TemporaryEntry) (Change, error) {
		if !p.sees(e.Firm) {
			return Change{}, entryNotFound(id)
		}
		if err := fn(e); err != nil {
			return Change{}, err
		}
		m, err := s.announce(e)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: action, Reason: reason, Messages: m}, nil
	})
	if err == nil {
		s.committed()
	}
	return e, err
}

func (s *TemporaryEntryService) announce(e *TemporaryEntry) ([]OutboxMessage, error) {
	m, err := RecordMessage(s.NewID(), s.Source, TypeTemporaryEntryChanged, e.ID, e.UpdatedAt, e.Event())
	if err != nil {
		return nil, err
	}
	return []OutboxMessage{m}, nil
}

// RecordMessage builds the outbox message of one event about a zone record
// (temporary entry, parts lot) on TopicRecords, keyed by the record's ID.
func RecordMessage(id, source, typ, recordID string, at time.Time, data any) (OutboxMessage, error) {
	ev, err := NewEvent(id, source, typ, recordID, at, data)
	if err != nil {
		return OutboxMessage{}, err
	}
	return ev.Message(TopicRecords, recordID)
}

// sees reports whether the principal may see a record of firm.
func (p Principal) sees(firm string) bool {
	return p.Role == RoleCustoms || (p.Role == RoleMRO && p.Firm == firm)
}

func entryNotFound(id string) error {
	return Errorf(ENOTFOUND, "no temporary entry %s", id)
}
