package zone

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Zero-tariff parts (原辅料零关税): aviation materials imported duty-free into
// the zone, tracked as lots. A lot's balance and pledged quantity are never
// stored: they are derived from its movements every time they are needed.
//
//	balance   = imported − consumed − installed − exited − scrapped + returned
//	pledged   = pledged − released  (in stock ≤ balance; installed ≤ installed)
//	available = balance − pledged in stock − pending (what may move or be pledged)
//
// Only parts that were installed or sent off the island can come back
// (return ≤ installed + exited − returned); consumed and scrapped parts are
// gone. A pledge naming an aircraft covers parts installed on it (the
// source's 对已维修在所运营的航空器的零部件), at most what is installed there
// and not yet pledged; such a part cannot come back until released. A
// movement that would break any of these is ECONFLICT and the lot is left
// exactly as it was.

// TypePartsLotChanged is the event type of a lot change, on TopicRecords.
const TypePartsLotChanged = "bondgate.parts_lot.changed"

// MovementKind is what happens to some of a lot's quantity.
type MovementKind string

// Movement kinds.
const (
	MoveConsume       MovementKind = "consume"        // used up in maintenance on the island
	MoveInstall       MovementKind = "install"        // fitted to an aircraft (registration required)
	MoveExitIsland    MovementKind = "exit_island"    // leaves the island against a maintenance task card
	MoveReturn        MovementKind = "return"         // an installed or exited part comes back into stock
	MoveScrap         MovementKind = "scrap"          // destroyed under customs supervision
	MovePledge        MovementKind = "pledge"         // backs a loan once a guarantee is lodged
	MoveReleasePledge MovementKind = "release_pledge" // the pledge is lifted
)

// MovementKinds lists every kind, for validation and docs.
var MovementKinds = []MovementKind{MoveConsume, MoveInstall, MoveExitIsland, MoveReturn, MoveScrap, MovePledge, MoveReleasePledge}

// Valid reports whether k is a known kind.
func (k MovementKind) Valid() bool { return slices.Contains(MovementKinds, k) }

// takesOut reports whether the kind lowers the balance.
func (k MovementKind) takesOut() bool {
	return k == MoveConsume || k == MoveInstall || k == MoveExitIsland || k == MoveScrap
}

// MovementStatus says whether a movement has taken effect.
type MovementStatus string

// Movement states. Only done movements count in the balance; a pending exit
// or scrap holds its quantity back from every other movement until customs
// decides.
const (
	MovementDone    MovementStatus = "done"
	MovementPending MovementStatus = "pending_approval"
	// MovementRequested is a firm's scrap waiting for customs: destroying
	// bonded or duty-free goods needs customs' approval.
	MovementRequested MovementStatus = "pending"
	MovementRejected  MovementStatus = "rejected"
)

// ExceptionTaskCard is the duty exception of a part that leaves the island
// for maintenance against a task card: its exempted duty does not fall due.
const ExceptionTaskCard = "task_card"

// TaskCard is the maintenance task card a part leaves the island against.
type TaskCard struct {
	Number               string `json:"number"`
	AircraftRegistration string `json:"aircraft_registration"`
}

// Movement is one change to a lot's quantity or pledge.
type Movement struct {
	ID                   string       `json:"id"`
	Kind                 MovementKind `json:"kind"`
	Quantity             int          `json:"quantity"`
	Serials              []string     `json:"serials,omitempty"`
	AircraftRegistration string       `json:"aircraft_registration,omitempty"`
	TaskCard             *TaskCard    `json:"task_card,omitempty"`
	GuaranteeRef         string       `json:"guarantee_ref,omitempty"`
	// Installed marks a pledge or release of parts installed on
	// AircraftRegistration rather than of stock.
	Installed bool           `json:"installed,omitempty"`
	Note      string         `json:"note,omitempty"`
	Status    MovementStatus `json:"status"`
	// Exception is why exempted duty does not fall due when the part leaves
	// the island (task_card); empty means it does.
	Exception string `json:"exception,omitempty"`
	// DutyShare is the exempted duty of this quantity (lot duty × quantity /
	// imported), for exits.
	DutyShare   *Money     `json:"duty_share,omitempty"`
	Actor       string     `json:"actor"`
	At          time.Time  `json:"at"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"` // when it counted in the balance
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Reason      string     `json:"reason,omitempty"`
}

// PartsLot is one duty-free import of one part number.
type PartsLot struct {
	ID                string   `json:"id"`
	Firm              string   `json:"firm"`
	PartNumber        string   `json:"part_number"`
	Description       string   `json:"description"`
	Quantity          int      `json:"quantity"` // imported
	Unit              string   `json:"unit"`
	Serials           []string `json:"serials"`
	ImportDeclaration string   `json:"import_declaration"`
	DutyExempted      Money    `json:"duty_exempted"`
	// Exempted is the three taxes zero tariff exempts; DutyExempted is its
	// duty. Lots stored before it read it as the duty with no VAT or
	// consumption tax (Taxes).
	Exempted *Taxes `json:"exempted,omitempty"`
	// Owner says whose stock it is: the firm's own, or a supplier's on
	// consignment (OSS) until consumed or installed. Empty reads as own.
	Owner     LotOwner   `json:"owner"`
	Movements []Movement `json:"movements"`
	CreatedAt time.Time  `json:"created_at"` // the import, as far as the ledger goes
	UpdatedAt time.Time  `json:"updated_at"`
	Version   int        `json:"version"`
}

// Serialized reports whether the lot tracks each part by serial.
func (l *PartsLot) Serialized() bool { return len(l.Serials) > 0 }

// Tally counts a lot's quantities by movement kind.
type Tally struct {
	Imported  int `json:"imported"`
	Consumed  int `json:"consumed"`
	Installed int `json:"installed"`
	Exited    int `json:"exited"`
	Returned  int `json:"returned"`
	Scrapped  int `json:"scrapped"`
	Pledged   int `json:"pledged"`
	Released  int `json:"released"`
}

// Balance is what the tally leaves in the firm's hands.
func (t Tally) Balance() int {
	return t.Imported - t.Consumed - t.Installed - t.Exited - t.Scrapped + t.Returned
}

// Pledge is the quantity under pledge.
func (t Tally) Pledge() int { return t.Pledged - t.Released }

// add counts one movement's quantity.
func (t *Tally) add(k MovementKind, q int) {
	switch k {
	case MoveConsume:
		t.Consumed += q
	case MoveInstall:
		t.Installed += q
	case MoveExitIsland:
		t.Exited += q
	case MoveReturn:
		t.Returned += q
	case MoveScrap:
		t.Scrapped += q
	case MovePledge:
		t.Pledged += q
	case MoveReleasePledge:
		t.Released += q
	}
}

// effective is when m counted, if it has.
func (m *Movement) effective() (time.Time, bool) {
	if m.Status != MovementDone {
		return time.Time{}, false
	}
	if m.EffectiveAt != nil {
		return *m.EffectiveAt, true
	}
	return m.At, true
}

// TallyBetween counts what took effect in [from, to); a zero from means
// since the beginning, a zero to means until now.
func (l *PartsLot) TallyBetween(from, to time.Time) Tally {
	in := func(t time.Time) bool {
		return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
	}
	var t Tally
	if in(l.CreatedAt) {
		t.Imported = l.Quantity
	}
	for i := range l.Movements {
		if at, ok := l.Movements[i].effective(); ok && in(at) {
			t.add(l.Movements[i].Kind, l.Movements[i].Quantity)
		}
	}
	return t
}

// LotState is a lot's position derived from its movements.
type LotState struct {
	Tally
	Balance    int `json:"balance"`
	Pledge     int `json:"pledged_quantity"`
	PendingOut int `json:"pending_out"`
	Available  int `json:"available"`
	// Serial positions, for serialized lots.
	InHand   map[string]bool `json:"-"`
	Out      map[string]bool `json:"-"` // installed or exited: may come back
	Gone     map[string]bool `json:"-"` // consumed or scrapped
	Pledged  map[string]bool `json:"-"`
	Reserved map[string]bool `json:"-"` // named by a pending exit or scrap
	// StockPledge and InstalledPledge split the pledge between parts in
	// hand and parts installed on aircraft.
	StockPledge     int `json:"pledged_in_stock"`
	InstalledPledge int `json:"pledged_installed"`
	aircraft        map[string]*aircraftPosition
}

// State derives the lot's position from its movements.
func (l *PartsLot) State() LotState {
	s := LotState{Tally: l.TallyBetween(time.Time{}, time.Time{}),
		InHand: map[string]bool{}, Out: map[string]bool{}, Gone: map[string]bool{},
		Pledged: map[string]bool{}, Reserved: map[string]bool{}}
	// The zero "to" above counts everything done, whatever its time.
	for _, sn := range l.Serials {
		s.InHand[sn] = true
	}
	for i := range l.Movements {
		m := &l.Movements[i]
		if m.Status.pending() {
			s.PendingOut += m.Quantity
			for _, sn := range m.Serials {
				s.Reserved[sn] = true
			}
			continue
		}
		if m.Status != MovementDone {
			continue
		}
		for _, sn := range m.Serials {
			switch m.Kind {
			case MoveConsume, MoveScrap:
				delete(s.InHand, sn)
				s.Gone[sn] = true
			case MoveInstall, MoveExitIsland:
				delete(s.InHand, sn)
				s.Out[sn] = true
			case MoveReturn:
				delete(s.Out, sn)
				s.InHand[sn] = true
			case MovePledge:
				s.Pledged[sn] = true
			case MoveReleasePledge:
				delete(s.Pledged, sn)
			}
		}
	}
	s.Balance = s.Tally.Balance()
	s.Pledge = s.Tally.Pledge()
	s.aircraft = l.aircraftPositions()
	for _, a := range s.aircraft {
		s.InstalledPledge += a.pledged
	}
	s.StockPledge = s.Pledge - s.InstalledPledge
	s.Available = s.Balance - s.StockPledge - s.PendingOut
	return s
}

// SerialsInHand lists the serials the firm holds, in the lot's order.
func (l *PartsLot) SerialsInHand() []string {
	st := l.State()
	out := []string{}
	for _, sn := range l.Serials {
		if st.InHand[sn] {
			out = append(out, sn)
		}
	}
	return out
}

// LotView is a lot as answered and announced: the record and its derived
// position.
type LotView struct {
	*PartsLot
	Balance       int      `json:"balance"`
	Pledged       int      `json:"pledged"`
	PendingOut    int      `json:"pending_out"`
	Available     int      `json:"available"`
	SerialsInHand []string `json:"serials_in_hand,omitempty"`
	// PledgedInstalled is the part of Pledged installed on aircraft.
	PledgedInstalled int      `json:"pledged_installed"`
	Exempted         Taxes    `json:"exempted"`
	Owner            LotOwner `json:"owner"`
}

// LotEvent is what a lot's change announces on TopicRecords: the lot's
// header and current position, and the one movement the change made or
// decided (none on import). It never carries the movement list, so an
// event's size does not grow with the lot's history: a lot with thousands of
// movements once made events of a megabyte that Kafka refused and that held
// every other message of the outbox behind them.
type LotEvent struct {
	ID                string    `json:"id"`
	Firm              string    `json:"firm"`
	PartNumber        string    `json:"part_number"`
	Description       string    `json:"description"`
	Quantity          int       `json:"quantity"`
	Unit              string    `json:"unit"`
	ImportDeclaration string    `json:"import_declaration"`
	DutyExempted      Money     `json:"duty_exempted"`
	Exempted          Taxes     `json:"exempted"`
	Owner             LotOwner  `json:"owner"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Version           int       `json:"version"`
	Balance           int       `json:"balance"`
	Pledged           int       `json:"pledged"`
	PendingOut        int       `json:"pending_out"`
	Available         int       `json:"available"`
	PledgedInstalled  int       `json:"pledged_installed"`
	// Movements counts the lot's movements, so a reader can tell it missed one.
	Movements int `json:"movements"`
	// SerialsInHand is set for serialized lots (bounded by the quantity).
	SerialsInHand []string `json:"serials_in_hand,omitempty"`
	// Movement is the movement this change recorded or decided.
	Movement *Movement `json:"movement,omitempty"`
}

// Event builds the lot's announcement of a change; changed is the movement
// the change recorded or decided, nil for the import.
func (l *PartsLot) Event(changed *Movement) LotEvent {
	v := l.View()
	return LotEvent{ID: l.ID, Firm: l.Firm, PartNumber: l.PartNumber, Description: l.Description,
		Quantity: l.Quantity, Unit: l.Unit, ImportDeclaration: l.ImportDeclaration, DutyExempted: l.DutyExempted,
		Exempted: v.Exempted, Owner: v.Owner, PledgedInstalled: v.PledgedInstalled, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, Version: l.Version,
		Balance: v.Balance, Pledged: v.Pledged, PendingOut: v.PendingOut, Available: v.Available,
		Movements: len(l.Movements), SerialsInHand: v.SerialsInHand, Movement: changed}
}

// View derives the lot's answer.
func (l *PartsLot) View() LotView {
	st := l.State()
	v := LotView{PartsLot: l, Balance: st.Balance, Pledged: st.Pledge, PendingOut: st.PendingOut, Available: st.Available,
		PledgedInstalled: st.InstalledPledge, Exempted: l.Taxes(), Owner: l.owner()}
	if l.Serialized() {
		v.SerialsInHand = l.SerialsInHand()
	}
	return v
}

// Validate checks a new lot and fills Quantity from the serials when left
// out. It returns EINVALID naming every failing field.
func (l *PartsLot) Validate() error {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	if strings.TrimSpace(l.PartNumber) == "" {
		add("part_number", "required")
	}
	if strings.TrimSpace(l.Unit) == "" {
		add("unit", "required")
	}
	if strings.TrimSpace(l.ImportDeclaration) == "" {
		add("import_declaration", "required")
	}
	if len(l.Serials) > 0 {
		if l.Quantity == 0 {
			l.Quantity = len(l.Serials)
		}
		if l.Quantity != len(l.Serials) {
			add("quantity", "must equal the number of serials")
		}
		seen := map[string]bool{}
		for i, sn := range l.Serials {
			if strings.TrimSpace(sn) == "" || seen[sn] {
				add("serials["+strconv.Itoa(i)+"]", "must be a non-empty serial, each once")
			}
			seen[sn] = true
		}
	}
	if l.Quantity < 1 {
		add("quantity", "must be at least 1")
	}
	fs = append(fs, l.normalizeTaxes()...)
	fs = append(fs, l.normalizeOwner()...)
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	return nil
}

// unprocessable is a 422 naming one field.
func unprocessable(field, msg string) error {
	return &Error{Code: EUNPROCESSABLE, Message: field + ": " + msg, Fields: []FieldError{{Field: field, Message: msg}}}
}

// MoveOptions tune Move.
type MoveOptions struct {
	// ExitApprovalAbove, when set, makes an exit whose exempted duty share
	// is above it wait for customs (pending_approval). Nil: off.
	ExitApprovalAbove *big.Rat
	// ScrapByCustoms: customs records the scrap itself, so it needs no
	// request; a firm's scrap waits for customs (MovementRequested).
	ScrapByCustoms bool
}

// Move checks m against the lot and, if it may happen, appends it (done or
// pending approval). m.ID, m.Actor and m.At must be set by the caller. On
// any error the lot is unchanged: EINVALID for a malformed movement,
// EUNPROCESSABLE for a missing task card, aircraft or guarantee,
// ECONFLICT when the quantities or serials do not allow it.
func (l *PartsLot) Move(m Movement, opt MoveOptions) (*Movement, error) {
	if !m.Kind.Valid() {
		return nil, Invalid(FieldError{Field: "kind", Message: "must be one of consume, install, exit_island, return, scrap, pledge, release_pledge"})
	}
	m.AircraftRegistration = strings.TrimSpace(m.AircraftRegistration)
	m.GuaranteeRef = strings.TrimSpace(m.GuaranteeRef)
	if l.Serialized() {
		if len(m.Serials) == 0 {
			return nil, unprocessable("serials", "required: this lot is serialized")
		}
		seen := map[string]bool{}
		for _, sn := range m.Serials {
			if seen[sn] {
				return nil, Invalid(FieldError{Field: "serials", Message: "each serial once"})
			}
			seen[sn] = true
			if !slices.Contains(l.Serials, sn) {
				return nil, unprocessable("serials", "serial "+sn+" is not in this lot")
			}
		}
		if m.Quantity == 0 {
			m.Quantity = len(m.Serials)
		}
		if m.Quantity != len(m.Serials) {
			return nil, Invalid(FieldError{Field: "quantity", Message: "must equal the number of serials"})
		}
	} else if len(m.Serials) > 0 {
		return nil, Invalid(FieldError{Field: "serials", Message: "this lot is not serialized"})
	}
	if m.Quantity < 1 {
		return nil, Invalid(FieldError{Field: "quantity", Message: "must be at least 1"})
	}
	switch m.Kind {
	case MoveInstall:
		if m.AircraftRegistration == "" {
			return nil, unprocessable("aircraft_registration", "required to install a part")
		}
	case MoveExitIsland:
		tc := m.TaskCard
		if tc == nil || strings.TrimSpace(tc.Number) == "" || strings.TrimSpace(tc.AircraftRegistration) == "" {
			return nil, unprocessable("task_card", "a part leaves the island only against a task card naming the aircraft (number and aircraft_registration)")
		}
		tc.Number, tc.AircraftRegistration = strings.TrimSpace(tc.Number), strings.TrimSpace(tc.AircraftRegistration)
		if m.AircraftRegistration != "" && normalizeIdentity(m.AircraftRegistration) != normalizeIdentity(tc.AircraftRegistration) {
			return nil, unprocessable("task_card.aircraft_registration", "names another aircraft than aircraft_registration")
		}
		m.AircraftRegistration = tc.AircraftRegistration
		m.Exception = ExceptionTaskCard
	case MovePledge:
		if m.GuaranteeRef == "" {
			return nil, unprocessable("guarantee_ref", "a pledge needs the reference of the guarantee lodged with customs")
		}
		if l.owner().Consigned() && m.AircraftRegistration == "" {
			return nil, Errorf(ECONFLICT, "lot %s is consignment stock of %s: the supplier's stock cannot be pledged", l.ID, l.Owner.Supplier)
		}
	}
	// A pledge or release naming an aircraft is of parts installed on it.
	m.Installed = (m.Kind == MovePledge || m.Kind == MoveReleasePledge) && m.AircraftRegistration != ""
	switch {
	case m.TaskCard == nil:
	case m.Kind == MoveConsume || m.Kind == MoveInstall:
		// Consumption reports (consignment) and visit ledgers name the card.
		m.TaskCard.Number = strings.TrimSpace(m.TaskCard.Number)
		m.TaskCard.AircraftRegistration = strings.TrimSpace(m.TaskCard.AircraftRegistration)
		if m.TaskCard.Number == "" {
			return nil, Invalid(FieldError{Field: "task_card.number", Message: "required with a task card"})
		}
	case m.Kind != MoveExitIsland:
		return nil, Invalid(FieldError{Field: "task_card", Message: "only for exit_island, consume and install"})
	}

	st := l.State()
	switch {
	case m.Installed:
		if err := l.checkInstalledPledge(st, &m, m.Kind == MoveReleasePledge); err != nil {
			return nil, err
		}
	case m.Kind.takesOut() || m.Kind == MovePledge:
		if m.Quantity > st.Available {
			return nil, Errorf(ECONFLICT, "%s of %d refused: lot %s has %d available (balance %d, pledged %d, pending exits %d)",
				m.Kind, m.Quantity, l.ID, st.Available, st.Balance, st.Pledge, st.PendingOut)
		}
		for _, sn := range m.Serials {
			switch {
			case !st.InHand[sn]:
				return nil, Errorf(ECONFLICT, "serial %s is not in stock in lot %s", sn, l.ID)
			case st.Pledged[sn]:
				return nil, Errorf(ECONFLICT, "serial %s is pledged", sn)
			case st.Reserved[sn]:
				return nil, Errorf(ECONFLICT, "serial %s is waiting for an exit approval", sn)
			}
		}
	case m.Kind == MoveReturn:
		if out := st.Installed + st.Exited - st.Returned; m.Quantity > out {
			return nil, Errorf(ECONFLICT, "return of %d refused: only %d of lot %s are installed or off the island", m.Quantity, out, l.ID)
		}
		for _, sn := range m.Serials {
			if !st.Out[sn] {
				return nil, Errorf(ECONFLICT, "serial %s is not installed or off the island", sn)
			}
		}
		if err := l.checkReturn(st, &m); err != nil {
			return nil, err
		}
	case m.Kind == MoveReleasePledge:
		if m.Quantity > st.StockPledge {
			return nil, Errorf(ECONFLICT, "release of %d refused: lot %s has %d pledged in stock (%d installed: name the aircraft)",
				m.Quantity, l.ID, st.StockPledge, st.InstalledPledge)
		}
		for _, sn := range m.Serials {
			if !st.Pledged[sn] || !st.InHand[sn] {
				return nil, Errorf(ECONFLICT, "serial %s is not pledged in stock", sn)
			}
		}
	}

	m.At = m.At.UTC()
	m.Status, m.EffectiveAt = MovementDone, nil
	m.DecidedBy, m.DecidedAt = "", nil
	if m.Kind == MoveExitIsland {
		share := l.DutyShare(m.Quantity)
		m.DutyShare = &Money{Amount: FormatAmount(share), Currency: l.DutyExempted.Currency}
		if opt.ExitApprovalAbove != nil && share.Cmp(opt.ExitApprovalAbove) > 0 {
			m.Status = MovementPending
		}
	}
	if m.Kind == MoveScrap && !opt.ScrapByCustoms {
		m.Status = MovementRequested
	}
	if m.Status == MovementDone {
		at := m.At
		m.EffectiveAt = &at
	}
	l.Movements = append(l.Movements, m)
	l.UpdatedAt = m.At
	l.Version++
	return &l.Movements[len(l.Movements)-1], nil
}

// pending reports whether the movement waits for customs.
func (s MovementStatus) pending() bool { return s == MovementPending || s == MovementRequested }

// Decide is customs' decision on a pending exit or scrap: approved, it takes effect
// at `at`; rejected, its quantity is free again. Anything but a pending
// movement is ECONFLICT.
func (l *PartsLot) Decide(movementID string, approve bool, by, reason string, at time.Time) (*Movement, error) {
	i := slices.IndexFunc(l.Movements, func(m Movement) bool { return m.ID == movementID })
	if i < 0 {
		return nil, Errorf(ENOTFOUND, "no movement %s in lot %s", movementID, l.ID)
	}
	m := &l.Movements[i]
	if !m.Status.pending() {
		return nil, Errorf(ECONFLICT, "movement %s is %s, not pending approval", movementID, m.Status)
	}
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return nil, Invalid(FieldError{Field: "reason", Message: "required to reject"})
	}
	at = at.UTC()
	m.DecidedBy, m.DecidedAt, m.Reason = by, &at, reason
	if approve {
		m.Status, m.EffectiveAt = MovementDone, &at
	} else {
		m.Status = MovementRejected
	}
	l.UpdatedAt = at
	l.Version++
	return m, nil
}

// DutyShare is the exempted duty of q units of the lot: duty × q / imported.
func (l *PartsLot) DutyShare(q int) *big.Rat {
	d := ParseAmount(l.DutyExempted.Amount)
	if d == nil || l.Quantity == 0 {
		return new(big.Rat)
	}
	return new(big.Rat).Mul(d, big.NewRat(int64(q), int64(l.Quantity)))
}

// PartsLotFilter selects lots for a list.
type PartsLotFilter struct {
	Firm   string
	Cursor string
	Limit  int
}

// PartsLotPage is one page of lots, newest first.
type PartsLotPage struct {
	Items      []*PartsLot
	NextCursor string
}

// PartsStore keeps parts lots with their movements. Every write lands the
// lot, its indexes (firm, serials in hand), the audit entry and the change's
// outbox messages in one transaction; a serial already in stock in another
// of the firm's lots is ECONFLICT.
type PartsStore interface {
	// CreateLot stores l; with idem, a repeated key and body answers the
	// stored lot and replayed=true.
	CreateLot(ctx context.Context, l *PartsLot, idem *Idempotency, ch Change) (stored *PartsLot, replayed bool, err error)
	// UpdateLot loads id, lets fn change it and writes it with fn's Change.
	// fn returns a reference (the movement ID) remembered under idem; a
	// repeated key and body answers the lot as it is now, that reference and
	// replayed=true without calling fn.
	UpdateLot(ctx context.Context, id string, idem *Idempotency, fn func(l *PartsLot) (ref string, ch Change, err error)) (lot *PartsLot, ref string, replayed bool, err error)
	// Lot returns one lot or ENOTFOUND.
	Lot(ctx context.Context, id string) (*PartsLot, error)
	// Lots lists by filter, newest first.
	Lots(ctx context.Context, f PartsLotFilter) (PartsLotPage, error)
	// AllLots returns every lot of firm (every lot when firm is empty), for
	// the ledger.
	AllLots(ctx context.Context, firm string) ([]*PartsLot, error)
}

// PartsService carries out the zero-tariff parts use cases.
type PartsService struct {
	Store     PartsStore
	Now       func() time.Time
	NewID     func() string
	Source    string
	Committed func()
	// ExitApprovalAbove, when set, sends exits whose exempted duty share is
	// above it to customs for approval. Nil (the default): off.
	ExitApprovalAbove *big.Rat
	// Maintenance, when set, may refuse a movement (a cited task card of no
	// visit in repair, a date inside a verified write-off period) or a lot
	// imported inside a verified period.
	Maintenance MovementCheck
}

func (s *PartsService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

// CreateLot registers a lot for the caller's firm.
func (s *PartsService) CreateLot(ctx context.Context, p Principal, l PartsLot, idem *Idempotency) (*PartsLot, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	if l.Serials == nil {
		l.Serials = []string{}
	}
	if err := l.Validate(); err != nil {
		return nil, false, err
	}
	now := s.Now().UTC()
	l.ID, l.Firm = s.NewID(), p.Firm
	l.Movements = []Movement{}
	l.CreatedAt, l.UpdatedAt, l.Version = now, now, 1
	if s.Maintenance != nil {
		if err := s.Maintenance.CheckLot(ctx, &l); err != nil {
			return nil, false, err
		}
	}
	msg, err := s.announce(&l, nil)
	if err != nil {
		return nil, false, err
	}
	stored, replayed, err := s.Store.CreateLot(ctx, &l, idem, Change{Actor: p.Actor(), Action: "import", Messages: msg})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Lot returns one lot the caller may see.
func (s *PartsService) Lot(ctx context.Context, p Principal, id string) (*PartsLot, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	l, err := s.Store.Lot(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(l.Firm) {
		return nil, lotNotFound(id)
	}
	return l, nil
}

// Lots lists the lots the caller may see; a firm only its own.
func (s *PartsService) Lots(ctx context.Context, p Principal, f PartsLotFilter) (PartsLotPage, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return PartsLotPage{}, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.Lots(ctx, f)
}

// Move records a movement on a lot the caller may see. The owner firm moves
// its parts; customs may record a movement it supervises (a scrap, say).
func (s *PartsService) Move(ctx context.Context, p Principal, lotID string, m Movement, idem *Idempotency) (*PartsLot, *Movement, bool, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, nil, false, err
	}
	l, ref, replayed, err := s.Store.UpdateLot(ctx, lotID, idem, func(l *PartsLot) (string, Change, error) {
		if !p.sees(l.Firm) {
			return "", Change{}, lotNotFound(lotID)
		}
		m.ID, m.Actor, m.At = s.NewID(), p.Actor(), s.Now()
		if s.Maintenance != nil {
			if err := s.Maintenance.CheckMovement(ctx, l.Firm, &m); err != nil {
				return "", Change{}, err
			}
		}
		mv, err := l.Move(m, MoveOptions{ExitApprovalAbove: s.ExitApprovalAbove, ScrapByCustoms: p.Role == RoleCustoms})
		if err != nil {
			return "", Change{}, err
		}
		msg, err := s.announce(l, mv)
		if err != nil {
			return "", Change{}, err
		}
		return mv.ID, Change{Actor: p.Actor(), Action: "movement." + string(mv.Kind), Reason: mv.Note, Messages: msg}, nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	if !replayed {
		s.committed()
	}
	i := slices.IndexFunc(l.Movements, func(m Movement) bool { return m.ID == ref })
	if i < 0 {
		return nil, nil, false, Internal(errors.New("movement " + ref + " missing from its lot"))
	}
	return l, &l.Movements[i], replayed, nil
}

// Decide is customs' approval or rejection of a pending exit.
func (s *PartsService) Decide(ctx context.Context, p Principal, lotID, movementID string, approve bool, reason string) (*PartsLot, *Movement, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, nil, err
	}
	action := "movement.approve"
	if !approve {
		action = "movement.reject"
	}
	l, _, _, err := s.Store.UpdateLot(ctx, lotID, nil, func(l *PartsLot) (string, Change, error) {
		mv, err := l.Decide(movementID, approve, p.Actor(), reason, s.Now())
		if err != nil {
			return "", Change{}, err
		}
		msg, err := s.announce(l, mv)
		if err != nil {
			return "", Change{}, err
		}
		return movementID, Change{Actor: p.Actor(), Action: action, Reason: strings.TrimSpace(reason), Messages: msg}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.committed()
	i := slices.IndexFunc(l.Movements, func(m Movement) bool { return m.ID == movementID })
	return l, &l.Movements[i], nil
}

func (s *PartsService) announce(l *PartsLot, changed *Movement) ([]OutboxMessage, error) {
	m, err := RecordMessage(s.NewID(), s.Source, TypePartsLotChanged, l.ID, l.UpdatedAt, l.Event(changed))
	if err != nil {
		return nil, err
	}
	return []OutboxMessage{m}, nil
}

func lotNotFound(id string) error { return Errorf(ENOTFOUND, "no parts lot %s", id) }
