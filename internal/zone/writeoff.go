package zone

import (
	"context"
	"math/big"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// Write-off periods (核销): a firm closes its bonded-maintenance books with
// customs for a period of at most 12 months. The summary says, per part
// number, opening + in − out = closing for the zero-tariff materials (lots)
// and for the removed old parts (旧件), and which visits opened, departed or
// carry over. Customs verifies a submitted period (or returns it); a
// verified period is locked: nothing new may be dated inside it, so its
// summary never changes.
//
//	draft ─submit→ submitted ─verify→ verified
//	                         ─return→ returned ─submit→ submitted

// TypeWriteOffChanged is the event type of a write-off change, on TopicRecords.
const TypeWriteOffChanged = "bondgate.writeoff.changed"

// WriteOffStatus is a period's state.
type WriteOffStatus string

// Write-off states.
const (
	WriteOffDraft     WriteOffStatus = "draft"
	WriteOffSubmitted WriteOffStatus = "submitted"
	WriteOffVerified  WriteOffStatus = "verified"
	WriteOffReturned  WriteOffStatus = "returned"
)

// Valid reports whether s is a known state.
func (s WriteOffStatus) Valid() bool {
	return s == WriteOffDraft || s == WriteOffSubmitted || s == WriteOffVerified || s == WriteOffReturned
}

// MaxWriteOffMonths is the longest period customs writes off at once.
const MaxWriteOffMonths = 12

// DateLayout is a calendar date.
const DateLayout = "2006-01-02"

// PartBalance is one part number's movement over a period.
type PartBalance struct {
	PartNumber string `json:"part_number"`
	Unit       string `json:"unit,omitempty"`
	Opening    int    `json:"opening"`
	In         int    `json:"in"`
	Out        int    `json:"out"`
	Closing    int    `json:"closing"`
}

// Balanced reports whether opening + in − out = closing.
func (b PartBalance) Balanced() bool { return b.Opening+b.In-b.Out == b.Closing }

// WriteOffSummary is what a period's books say.
type WriteOffSummary struct {
	// Parts: zero-tariff materials per part number; in = imported or
	// returned, out = consumed, installed, exited or scrapped.
	Parts []PartBalance `json:"parts"`
	// RemovedParts: old parts per part number; in = removed, out = finally
	// disposed of (re-exported, returned, scrap approved).
	RemovedParts   []PartBalance `json:"removed_parts"`
	VisitsOpened   int           `json:"visits_opened"`
	VisitsDeparted int           `json:"visits_departed"`
	// VisitsCarriedOver are in the zone at the period's end (in repair or
	// waiting to leave): they carry over to the next period.
	VisitsCarriedOver int       `json:"visits_carried_over"`
	CarriedOver       []string  `json:"carried_over"`
	ComputedAt        time.Time `json:"computed_at"`
}

// WriteOff is one period of a firm's books.
type WriteOff struct {
	ID          string          `json:"id"`
	Firm        string          `json:"firm"`
	From        string          `json:"from"` // calendar date, Asia/Shanghai
	To          string          `json:"to"`   // inclusive
	Status      WriteOffStatus  `json:"status"`
	Summary     WriteOffSummary `json:"summary"`
	SubmittedAt *time.Time      `json:"submitted_at,omitempty"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	DecidedAt   *time.Time      `json:"decided_at,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Version     int             `json:"version"`
}

// Bounds is the period as instants: [start, end), end the midnight after To.
func (w *WriteOff) Bounds() (start, end time.Time) {
	s, _ := time.ParseInLocation(DateLayout, w.From, Shanghai)
	e, _ := time.ParseInLocation(DateLayout, w.To, Shanghai)
	return s.UTC(), e.AddDate(0, 0, 1).UTC()
}

// Contains reports whether t is dated inside the period.
func (w *WriteOff) Contains(t time.Time) bool {
	s, e := w.Bounds()
	return !t.Before(s) && t.Before(e)
}

// ParsePeriod checks a period's dates: EINVALID naming from or to for a
// malformed date or one out of order, EUNPROCESSABLE naming to for a period
// longer than 12 months.
func ParsePeriod(from, to string) (start, end time.Time, err error) {
	var fs []FieldError
	s, err1 := time.ParseInLocation(DateLayout, strings.TrimSpace(from), Shanghai)
	if err1 != nil {
		fs = append(fs, FieldError{Field: "from", Message: "must be a date such as 2026-01-01"})
	}
	e, err2 := time.ParseInLocation(DateLayout, strings.TrimSpace(to), Shanghai)
	if err2 != nil {
		fs = append(fs, FieldError{Field: "to", Message: "must be a date such as 2026-12-31"})
	}
	if len(fs) == 0 {
		fs = timeProblems(fs, namedTime{"from", s}, namedTime{"to", e})
	}
	if len(fs) == 0 && e.Before(s) {
		fs = append(fs, FieldError{Field: "to", Message: "must not be before from"})
	}
	if len(fs) > 0 {
		return time.Time{}, time.Time{}, Invalid(fs...)
	}
	end = e.AddDate(0, 0, 1)
	if end.After(s.AddDate(0, MaxWriteOffMonths, 0)) {
		return time.Time{}, time.Time{}, unprocessable("to", "a write-off period is at most 12 months")
	}
	return s.UTC(), end.UTC(), nil
}

// LockedAt refuses (ECONFLICT) a record dated at inside one of the verified
// periods.
func LockedAt(periods []*WriteOff, at time.Time) error {
	for _, w := range periods {
		if w.Status == WriteOffVerified && w.Contains(at) {
			return Errorf(ECONFLICT, "write-off period %s (%s to %s) is verified: nothing may be dated inside it", w.ID, w.From, w.To)
		}
	}
	return nil
}

// Overlapping returns the first of existing whose dates meet [start, end).
func Overlapping(existing []*WriteOff, start, end time.Time) *WriteOff {
	for _, w := range existing {
		s, e := w.Bounds()
		if s.Before(end) && start.Before(e) {
			return w
		}
	}
	return nil
}

// Summarize computes a period's books from the firm's lots and visits.
func Summarize(lots []*PartsLot, visits []*Visit, start, end time.Time) WriteOffSummary {
	sum := WriteOffSummary{Parts: []PartBalance{}, RemovedParts: []PartBalance{}, CarriedOver: []string{}}
	parts := map[string]*PartBalance{}
	for _, l := range lots {
		k := l.PartNumber + "\x00" + l.Unit
		b := parts[k]
		if b == nil {
			b = &PartBalance{PartNumber: l.PartNumber, Unit: l.Unit}
			parts[k] = b
		}
		before, during := l.TallyBetween(time.Time{}, start), l.TallyBetween(start, end)
		b.Opening += before.Balance()
		b.In += during.Imported + during.Returned
		b.Out += during.Consumed + during.Installed + during.Exited + during.Scrapped
		b.Closing += l.TallyBetween(time.Time{}, end).Balance()
	}
	removed := map[string]*PartBalance{}
	held := func(r *RemovedPart, t time.Time) bool { // taken off before t, not yet accounted for at t
		if !r.RemovedAt.Before(t) {
			return false
		}
		at, ok := r.DisposedAt()
		return !ok || !at.Before(t)
	}
	for _, v := range visits {
		if !v.CreatedAt.Before(start) && v.CreatedAt.Before(end) {
			sum.VisitsOpened++
		}
		if v.DepartedAt != nil && !v.DepartedAt.Before(start) && v.DepartedAt.Before(end) {
			sum.VisitsDeparted++
		}
		if v.CreatedAt.Before(end) && (v.DepartedAt == nil || !v.DepartedAt.Before(end)) {
			sum.CarriedOver = append(sum.CarriedOver, v.ID)
		}
		for i := range v.RemovedParts {
			r := &v.RemovedParts[i]
			b := removed[r.PartNumber]
			if b == nil {
				b = &PartBalance{PartNumber: r.PartNumber}
				removed[r.PartNumber] = b
			}
			if held(r, start) {
				b.Opening++
			}
			if !r.RemovedAt.Before(start) && r.RemovedAt.Before(end) {
				b.In++
			}
			if at, ok := r.DisposedAt(); ok && !at.Before(start) && at.Before(end) {
				b.Out++
			}
			if held(r, end) {
				b.Closing++
			}
		}
	}
	sum.VisitsCarriedOver = len(sum.CarriedOver)
	// A part number the period never saw (first taken in after it) has no
	// line: the books of a verified period must not grow.
	for _, b := range parts {
		if *b != (PartBalance{PartNumber: b.PartNumber, Unit: b.Unit}) {
			sum.Parts = append(sum.Parts, *b)
		}
	}
	for _, b := range removed {
		if *b != (PartBalance{PartNumber: b.PartNumber}) {
			sum.RemovedParts = append(sum.RemovedParts, *b)
		}
	}
	byPart := func(s []PartBalance) func(i, j int) bool {
		return func(i, j int) bool {
			if s[i].PartNumber != s[j].PartNumber {
				return s[i].PartNumber < s[j].PartNumber
			}
			return s[i].Unit < s[j].Unit
		}
	}
	sort.Slice(sum.Parts, byPart(sum.Parts))
	sort.Slice(sum.RemovedParts, byPart(sum.RemovedParts))
	sort.Strings(sum.CarriedOver)
	return sum
}

// Unaccounted names each record that keeps a period from being submitted:
// removed parts taken off in the period without a final disposition, and
// visits finished in the period that have not departed.
func Unaccounted(visits []*Visit, start, end time.Time) []FieldError {
	var fs []FieldError
	in := func(t time.Time) bool { return !t.Before(start) && t.Before(end) }
	for _, v := range visits {
		if v.OutcomeAt != nil && in(*v.OutcomeAt) && v.Status != VisitDeparted {
			fs = append(fs, FieldError{Field: "visits/" + v.ID,
				Message: "visit is " + string(v.Status) + " and has not departed"})
		}
		for i := range v.RemovedParts {
			r := &v.RemovedParts[i]
			if _, ok := r.DisposedAt(); !ok && in(r.RemovedAt) {
				msg := "removed part " + r.PartNumber + " serial " + r.Serial + " has no final disposition"
				if r.Disposition != nil {
					msg += " (" + string(r.Disposition.Kind) + " " + string(r.Disposition.Status) + ")"
				}
				fs = append(fs, FieldError{Field: "visits/" + v.ID + "/removed-parts/" + r.ID, Message: msg})
			}
		}
	}
	return fs
}

// WriteOffFilter selects a firm's periods (every firm's when Firm is empty).
type WriteOffFilter struct {
	Firm   string
	Status WriteOffStatus
}

// WriteOffStore keeps write-off periods.
type WriteOffStore interface {
	// CreateWriteOff stores w after fn, given the firm's existing periods,
	// agrees (in the same transaction, so two overlapping drafts cannot both
	// land); a repeated Idempotency-Key and body answers the stored period.
	CreateWriteOff(ctx context.Context, w *WriteOff, idem *Idempotency, fn func(existing []*WriteOff) (Change, error)) (stored *WriteOff, replayed bool, err error)
	UpdateWriteOff(ctx context.Context, id string, fn func(w *WriteOff) (Change, error)) (*WriteOff, error)
	WriteOff(ctx context.Context, id string) (*WriteOff, error)
	// WriteOffs lists by filter, newest first.
	WriteOffs(ctx context.Context, f WriteOffFilter) ([]*WriteOff, error)
}

// WriteOffService carries out the write-off use cases.
type WriteOffService struct {
	Store     WriteOffStore
	Visits    VisitStore
	Lots      LotLister
	Now       func() time.Time
	NewID     func() string
	Source    string
	Committed func()
}

func (s *WriteOffService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

func writeOffNotFound(id string) error { return Errorf(ENOTFOUND, "no write-off period %s", id) }

// summary computes the books of firm over [start, end).
func (s *WriteOffService) summary(ctx context.Context, firm string, start, end time.Time) (WriteOffSummary, []*Visit, error) {
	var lots []*PartsLot
	if s.Lots != nil {
		var err error
		if lots, err = s.Lots.AllLots(ctx, firm); err != nil {
			return WriteOffSummary{}, nil, err
		}
	}
	visits, err := s.Visits.AllVisits(ctx, firm)
	if err != nil {
		return WriteOffSummary{}, nil, err
	}
	sum := Summarize(lots, visits, start, end)
	sum.ComputedAt = s.Now().UTC()
	return sum, visits, nil
}

// Draft opens a period for the caller's firm with its computed summary.
func (s *WriteOffService) Draft(ctx context.Context, p Principal, from, to string, idem *Idempotency) (*WriteOff, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	start, end, err := ParsePeriod(from, to)
	if err != nil {
		return nil, false, err
	}
	sum, _, err := s.summary(ctx, p.Firm, start, end)
	if err != nil {
		return nil, false, err
	}
	now := s.Now().UTC()
	w := &WriteOff{ID: s.NewID(), Firm: p.Firm, From: strings.TrimSpace(from), To: strings.TrimSpace(to),
		Status: WriteOffDraft, Summary: sum, CreatedAt: now, UpdatedAt: now, Version: 1}
	stored, replayed, err := s.Store.CreateWriteOff(ctx, w, idem, func(existing []*WriteOff) (Change, error) {
		if o := Overlapping(existing, start, end); o != nil {
			return Change{}, Errorf(ECONFLICT, "the period overlaps write-off %s (%s to %s) of the firm", o.ID, o.From, o.To)
		}
		msg, err := s.announce(w)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: "draft", Messages: msg}, nil
	})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Get returns one period the caller may see.
func (s *WriteOffService) Get(ctx context.Context, p Principal, id string) (*WriteOff, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	w, err := s.Store.WriteOff(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(w.Firm) {
		return nil, writeOffNotFound(id)
	}
	return w, nil
}

// List returns the periods the caller may see, newest first.
func (s *WriteOffService) List(ctx context.Context, p Principal, f WriteOffFilter) ([]*WriteOff, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, Invalid(FieldError{Field: "status", Message: "must be one of draft, submitted, verified, returned"})
	}
	return s.Store.WriteOffs(ctx, f)
}

// Submit sends the owner's draft (or returned) period to customs with a
// fresh summary; ECONFLICT naming each record not accounted for.
func (s *WriteOffService) Submit(ctx context.Context, p Principal, id string) (*WriteOff, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, err
	}
	w, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	start, end := w.Bounds()
	sum, visits, err := s.summary(ctx, w.Firm, start, end)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, p, id, "submit", "", func(w *WriteOff, now time.Time) error {
		if w.Status != WriteOffDraft && w.Status != WriteOffReturned {
			return Errorf(ECONFLICT, "write-off %s is %s: only a draft or returned period is submitted", id, w.Status)
		}
		if fs := Unaccounted(visits, start, end); len(fs) > 0 {
			return &Error{Code: ECONFLICT, Fields: fs,
				Message: "the period has records not accounted for: removed parts need a final disposition, finished visits must depart"}
		}
		w.Status, w.Summary, w.SubmittedAt = WriteOffSubmitted, sum, &now
		return nil
	})
}

// Decide is customs' verification (the books are closed and the period
// locked, with the summary as computed now) or return of a submitted period.
func (s *WriteOffService) Decide(ctx context.Context, p Principal, id string, verify bool, reason string) (*WriteOff, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if !verify && reason == "" {
		return nil, Invalid(FieldError{Field: "reason", Message: "required to return a period"})
	}
	w, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	start, end := w.Bounds()
	sum, _, err := s.summary(ctx, w.Firm, start, end)
	if err != nil {
		return nil, err
	}
	action := "verify"
	if !verify {
		action = "return"
	}
	return s.update(ctx, p, id, action, reason, func(w *WriteOff, now time.Time) error {
		if w.Status != WriteOffSubmitted {
			return Errorf(ECONFLICT, "write-off %s is %s, not submitted", id, w.Status)
		}
		w.DecidedBy, w.DecidedAt, w.Reason = p.Actor(), &now, reason
		if verify {
			w.Status, w.Summary = WriteOffVerified, sum
		} else {
			w.Status = WriteOffReturned
		}
		return nil
	})
}

func (s *WriteOffService) update(ctx context.Context, p Principal, id, action, reason string, fn func(w *WriteOff, now time.Time) error) (*WriteOff, error) {
	w, err := s.Store.UpdateWriteOff(ctx, id, func(w *WriteOff) (Change, error) {
		if !p.sees(w.Firm) {
			return Change{}, writeOffNotFound(id)
		}
		now := s.Now().UTC()
		if err := fn(w, now); err != nil {
			return Change{}, err
		}
		w.UpdatedAt = now
		w.Version++
		msg, err := s.announce(w)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: action, Reason: reason, Messages: msg}, nil
	})
	if err == nil {
		s.committed()
	}
	return w, err
}

func (s *WriteOffService) announce(w *WriteOff) ([]OutboxMessage, error) {
	m, err := RecordMessage(s.NewID(), s.Source, TypeWriteOffChanged, w.ID, w.UpdatedAt, w)
	if err != nil {
		return nil, err
	}
	return []OutboxMessage{m}, nil
}

// MaterialUse is one consume or install of a zero-tariff lot under a task
// card of a visit, with the three taxes zero tariff exempted on it.
type MaterialUse struct {
	LotID                  string       `json:"lot_id"`
	MovementID             string       `json:"movement_id"`
	PartNumber             string       `json:"part_number"`
	Kind                   MovementKind `json:"kind"`
	Quantity               int          `json:"quantity"`
	Unit                   string       `json:"unit"`
	TaskCard               string       `json:"task_card"`
	At                     time.Time    `json:"at"`
	DutyExempted           Money        `json:"duty_exempted"`
	VATExempted            Money        `json:"vat_exempted"`
	ConsumptionTaxExempted Money        `json:"consumption_tax_exempted"`
}

// VisitLedgerEntry is one visit in the e-ledger.
type VisitLedgerEntry struct {
	*Visit
	Materials []MaterialUse `json:"materials"`
	// DutyExempted, VATExempted and ConsumptionTaxExempted total the
	// materials' lines, per currency: the sum of the amounts shown.
	DutyExempted           []Money `json:"duty_exempted"`
	VATExempted            []Money `json:"vat_exempted"`
	ConsumptionTaxExempted []Money `json:"consumption_tax_exempted"`
}

// MaintenanceLedger is the bonded-maintenance e-ledger over a time range.
type MaintenanceLedger struct {
	From   *time.Time         `json:"from,omitempty"`
	To     time.Time          `json:"to"`
	Visits []VisitLedgerEntry `json:"visits"`
}

// lotShares are a lot's three exempted taxes in ten-thousandths of the
// currency unit (amounts carry at most 4 decimals and 15 digits, so a
// uint64 holds them), parsed once per lot. A line's share of q units is
// rounded to fen once, and a visit's totals add fen as integers: no exact
// rational arithmetic per movement (what made a 1,000,000-movement ledger
// take seconds).
type lotShares struct {
	cur   string
	units [3]uint64
	qty   uint64
	exact bool // false: an amount did not fit; fall back to big.Rat
}

func newLotShares(l *PartsLot) *lotShares {
	t := l.Taxes()
	ls := &lotShares{cur: t.Duty.Currency, qty: uint64(max(l.Quantity, 0)), exact: l.Quantity > 0}
	i := 0
	t.each(func(_ string, m *Money) {
		r := ParseAmount(m.Amount)
		if r == nil {
			r = new(big.Rat)
		}
		n := new(big.Rat).Mul(r, big.NewRat(10000, 1))
		if !n.IsInt() || !n.Num().IsUint64() {
			ls.exact = false
		} else {
			ls.units[i] = n.Num().Uint64()
		}
		i++
	})
	return ls
}

// fen is each tax's share of q units, rounded half away from zero to fen
// (the amount FormatAmount would print for the exact share).
func (ls *lotShares) fen(l *PartsLot, q int) [3]int64 {
	var f [3]int64
	if q > 0 && ls.exact {
		d := ls.qty * 100 // units → fen
		for i, u := range ls.units {
			hi, lo := bits.Mul64(u, uint64(q))
			if hi >= d {
				ls.exact = false
				break
			}
			quo, rem := bits.Div64(hi, lo, d)
			if rem >= d-rem {
				quo++
			}
			f[i] = int64(quo)
		}
	}
	if q <= 0 || !ls.exact {
		shares := l.TaxShares(q)
		i := 0
		shares.each(func(_ string, m *Money) {
			r := ParseAmount(m.Amount)
			if r == nil {
				r = new(big.Rat)
			}
			f[i] = new(big.Rat).Mul(r, big.NewRat(100, 1)).Num().Int64()
			i++
		})
	}
	return f
}

// BuildMaintenanceLedger lists the visits in the zone at some time in
// [from, to) (a zero from: since the beginning) with the materials their
// task cards used, read from the lots' movements.
func BuildMaintenanceLedger(visits []*Visit, lots []*PartsLot, from, to time.Time) MaintenanceLedger {
	lg := MaintenanceLedger{To: to, Visits: []VisitLedgerEntry{}}
	if !from.IsZero() {
		lg.From = &from
	}
	cards := map[string]int{} // firm 0x00 task card → index in lg.Visits
	for _, v := range visits {
		if !v.CreatedAt.Before(to) || (v.DepartedAt != nil && v.DepartedAt.Before(from)) {
			continue
		}
		lg.Visits = append(lg.Visits, VisitLedgerEntry{Visit: v, Materials: []MaterialUse{}})
		for _, tc := range v.TaskCards {
			cards[v.Firm+"\x00"+tc.Number] = len(lg.Visits) - 1
		}
	}
	// First pass: which movements a visit used, so each visit's materials
	// are allocated once at their size (a growing slice per visit doubled
	// the ledger's memory).
	type hit struct {
		lot, mv int32
		visit   int32
		at      time.Time
	}
	var hits []hit
	counts := make([]int, len(lg.Visits))
	var key []byte
	for li, l := range lots {
		for i := range l.Movements {
			m := &l.Movements[i]
			if m.TaskCard == nil || (m.Kind != MoveConsume && m.Kind != MoveInstall) || m.Status != MovementDone {
				continue
			}
			at, _ := m.effective()
			if at.Before(from) || !at.Before(to) {
				continue
			}
			key = append(append(append(key[:0], l.Firm...), 0), m.TaskCard.Number...)
			j, ok := cards[string(key)]
			if !ok {
				continue
			}
			hits = append(hits, hit{lot: int32(li), mv: int32(i), visit: int32(j), at: at})
			counts[j]++
		}
	}
	backing := make([]MaterialUse, 0, len(hits))
	for j := range lg.Visits {
		lg.Visits[j].Materials = backing[len(backing) : len(backing) : len(backing)+counts[j]]
		backing = backing[:len(backing)+counts[j]]
	}
	type total struct {
		cur string
		fen [3]int64
	}
	totals := make([][]total, len(lg.Visits)) // per visit, per currency
	var ls *lotShares
	var money map[int][3]Money
	for h, x := range hits {
		l, m := lots[x.lot], &lots[x.lot].Movements[x.mv]
		if h == 0 || x.lot != hits[h-1].lot {
			ls, money = newLotShares(l), map[int][3]Money{}
		}
		f := ls.fen(l, m.Quantity)
		mon, ok := money[m.Quantity]
		if !ok {
			for k := range mon {
				mon[k] = Money{Amount: FormatFen(f[k]), Currency: ls.cur}
			}
			money[m.Quantity] = mon
		}
		j := x.visit
		e := &lg.Visits[j]
		e.Materials = append(e.Materials, MaterialUse{LotID: l.ID, MovementID: m.ID, PartNumber: l.PartNumber, Kind: m.Kind,
			Quantity: m.Quantity, Unit: l.Unit, TaskCard: m.TaskCard.Number, At: x.at,
			DutyExempted: mon[0], VATExempted: mon[1], ConsumptionTaxExempted: mon[2]})
		t := totals[j]
		k := 0
		for k < len(t) && t[k].cur != ls.cur {
			k++
		}
		if k == len(t) {
			totals[j] = append(t, total{cur: ls.cur})
		}
		for y := range f {
			totals[j][k].fen[y] += f[y]
		}
	}
	for j := range lg.Visits {
		e := &lg.Visits[j]
		t := totals[j]
		sort.Slice(t, func(a, b int) bool { return t[a].cur < t[b].cur })
		e.DutyExempted, e.VATExempted, e.ConsumptionTaxExempted = make([]Money, len(t)), make([]Money, len(t)), make([]Money, len(t))
		for k, x := range t {
			e.DutyExempted[k] = Money{Amount: FormatFen(x.fen[0]), Currency: x.cur}
			e.VATExempted[k] = Money{Amount: FormatFen(x.fen[1]), Currency: x.cur}
			e.ConsumptionTaxExempted[k] = Money{Amount: FormatFen(x.fen[2]), Currency: x.cur}
		}
		sort.SliceStable(e.Materials, func(a, b int) bool { return e.Materials[a].At.Before(e.Materials[b].At) })
	}
	return lg
}

// Ledger is the e-ledger the caller may see over [from, to): a firm its own
// visits, customs every firm's (or firm's when given).
func (s *VisitService) Ledger(ctx context.Context, p Principal, firm string, from, to time.Time) (MaintenanceLedger, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return MaintenanceLedger{}, err
	}
	if p.Role == RoleMRO {
		firm = p.Firm
	}
	if to.IsZero() {
		to = s.Now().UTC().Add(time.Nanosecond)
	}
	if !from.IsZero() && !to.After(from) {
		return MaintenanceLedger{}, Invalid(FieldError{Field: "to", Message: "must be after from"})
	}
	visits, err := s.Store.AllVisits(ctx, firm)
	if err != nil {
		return MaintenanceLedger{}, err
	}
	var lots []*PartsLot
	if s.Lots != nil {
		if lots, err = s.Lots.AllLots(ctx, firm); err != nil {
			return MaintenanceLedger{}, err
		}
	}
	return BuildMaintenanceLedger(visits, lots, from.UTC(), to.UTC()), nil
}
