package zone

import (
	"context"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The self-use production equipment register (自用生产设备 零关税): machines
// a firm imported duty- and VAT-free for its own maintenance work, under
// customs supervision for supervision_months from import. Transferred to an
// eligible firm on the island, an item owes nothing; any other transfer owes
// the exempted taxes pro rata to the whole months of supervision left:
//
//	make_up_tax = exempted × unexpired whole months ÷ supervision_months
//
// rounded half up to the fen, in integer fen: money is never a float here.
// Months are counted on Beijing calendar dates, like every deadline.

// TypeEquipmentChanged is the event type of an equipment change, on TopicRecords.
const TypeEquipmentChanged = "bondgate.equipment.changed"

// EquipmentStatus is an item's state: in_use → transferred (or
// out_for_repair and back, or left_island: equipment_exit.go).
type EquipmentStatus string

// Equipment states.
const (
	EquipmentInUse       EquipmentStatus = "in_use"
	EquipmentTransferred EquipmentStatus = "transferred"
)

// MaxSupervisionMonths bounds supervision_months (ten years).
const MaxSupervisionMonths = 120

// EquipmentTaxes are the two taxes exempted on equipment.
type EquipmentTaxes struct {
	Duty Money `json:"duty"`
	VAT  Money `json:"vat"`
}

// EquipmentTransfer is the one transfer that ends an item's register entry.
type EquipmentTransfer struct {
	Kind            TransferKind   `json:"kind"`
	ToFirm          string         `json:"to_firm"`
	Eligible        bool           `json:"eligible"`
	At              time.Time      `json:"at"`
	UnexpiredMonths int            `json:"unexpired_months"`
	MakeUpTax       EquipmentTaxes `json:"make_up_tax"`
	By              string         `json:"by"`
}

// Equipment is one registered item.
type Equipment struct {
	ID                string             `json:"id"`
	Firm              string             `json:"firm"`
	Description       string             `json:"description"`
	Serial            string             `json:"serial"`
	HSCode            string             `json:"hs_code"`
	ImportDeclaration string             `json:"import_declaration"`
	ImportedAt        time.Time          `json:"imported_at"`
	Exempted          EquipmentTaxes     `json:"exempted"`
	SupervisionMonths int                `json:"supervision_months"`
	SupervisionEnds   time.Time          `json:"supervision_ends"`
	Status            EquipmentStatus    `json:"status"`
	Transfer          *EquipmentTransfer `json:"transfer,omitempty"`
	Exits             []EquipmentExit    `json:"exits,omitempty"`
	CreatedAt         time.Time          `json:"created_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
	Version           int                `json:"version"`
}

var (
	fenRE = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,2})?$`)
)

// Validate checks a new item; EINVALID names every failing field.
func (q *Equipment) Validate() error {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	for _, f := range []struct{ name, v string }{{"description", q.Description}, {"serial", q.Serial},
		{"import_declaration", q.ImportDeclaration}} {
		if strings.TrimSpace(f.v) == "" {
			add(f.name, "required")
		}
	}
	if !hsCodeRE.MatchString(q.HSCode) {
		add("hs_code", "must be 6 to 10 digits")
	}
	if q.ImportedAt.IsZero() {
		add("imported_at", "required")
	} else {
		fs = timeProblems(fs, namedTime{"imported_at", q.ImportedAt})
	}
	for _, t := range []struct {
		name string
		m    Money
	}{{"duty", q.Exempted.Duty}, {"vat", q.Exempted.VAT}} {
		if !fenRE.MatchString(t.m.Amount) {
			add("exempted."+t.name+".amount", "must be a decimal string in fen such as \"12000.50\"")
		}
		if !currencyRE.MatchString(t.m.Currency) {
			add("exempted."+t.name+".currency", "must be an ISO 4217 code such as CNY")
		}
	}
	if q.Exempted.VAT.Currency != q.Exempted.Duty.Currency && currencyRE.MatchString(q.Exempted.VAT.Currency) {
		add("exempted.vat.currency", "duty and VAT are in one currency")
	}
	if q.SupervisionMonths < 1 || q.SupervisionMonths > MaxSupervisionMonths {
		add("supervision_months", "must be from 1 to "+strconv.Itoa(MaxSupervisionMonths))
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	return nil
}

// supervisionEnds is import + supervision_months on Beijing dates.
func (q *Equipment) supervisionEnds() time.Time {
	return AddMonths(q.ImportedAt.In(Shanghai), q.SupervisionMonths).UTC()
}

// beijingDate is t's calendar date in Beijing, as midnight UTC of that date.
func beijingDate(t time.Time) time.Time {
	y, m, d := t.In(Shanghai).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// UnexpiredMonths is how many whole months of supervision are left at `at`:
// the most n for which at's Beijing date + n months is not after the date
// supervision ends. A part of a month left does not count.
func UnexpiredMonths(at, ends time.Time) int {
	from, end := beijingDate(at), beijingDate(ends)
	n := 0
	for n < MaxSupervisionMonths*2 && !AddMonths(from, n+1).After(end) {
		n++
	}
	return n
}

// ParseFen reads a decimal amount of at most two decimals as integer fen.
func ParseFen(s string) (int64, bool) {
	if !fenRE.MatchString(s) {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return w*100 + f, true
}

// FormatFen writes fen as a decimal amount with two decimals.
func FormatFen(fen int64) string {
	return strconv.FormatInt(fen/100, 10) + "." + strconv.FormatInt(100+fen%100, 10)[1:]
}

// MakeUp is amount × months ÷ of, rounded half up to the fen; amount is a
// decimal string in fen. Integer arithmetic (big, so no product overflows).
func MakeUp(amount string, months, of int) (string, bool) {
	fen, ok := ParseFen(amount)
	if !ok || of <= 0 || months < 0 {
		return "", false
	}
	num := new(big.Int).Mul(big.NewInt(fen), big.NewInt(int64(2*months)))
	num.Add(num, big.NewInt(int64(of)))
	num.Quo(num, big.NewInt(int64(2*of)))
	return FormatFen(num.Int64()), true
}

// TransferTo ends the item's entry with a transfer at `at` (recorded at
// now), working out the make-up tax. A second transfer, or one while the
// item is out for repair, is ECONFLICT; a transfer dated before the import
// is EINVALID.
func (q *Equipment) TransferTo(toFirm string, eligible bool, at time.Time, by string, now time.Time) error {
	return q.transfer(TransferToFirm, toFirm, eligible, at, by, now)
}

// LeaveIsland ends the item's entry as it leaves the island for good
// (sold or sent abroad, to toFirm when named; or out for repair and not
// coming back): it owes the make-up tax as a transfer to a firm that is not
// eligible does.
func (q *Equipment) LeaveIsland(toFirm string, at time.Time, by string, now time.Time) error {
	return q.transfer(TransferLeaveIsland, toFirm, false, at, by, now)
}

func (q *Equipment) transfer(kind TransferKind, toFirm string, eligible bool, at time.Time, by string, now time.Time) error {
	toFirm = strings.TrimSpace(toFirm)
	var fs []FieldError
	if toFirm == "" && kind == TransferToFirm {
		fs = append(fs, FieldError{Field: "to_firm", Message: "required"})
	}
	if at.IsZero() {
		fs = append(fs, FieldError{Field: "at", Message: "required"})
	} else if at.Before(q.ImportedAt) {
		fs = append(fs, FieldError{Field: "at", Message: "must not be before imported_at"})
	} else {
		fs = timeProblems(fs, namedTime{"at", at})
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	if q.Transfer != nil {
		return Errorf(ECONFLICT, "equipment %s was already transferred (%s) to %q", q.ID, q.Status, q.Transfer.ToFirm)
	}
	// An item out for repair that will not come back may leave for good
	// (ending its exit); a transfer to a firm waits for its return.
	if x := q.CurrentExit(); x != nil && kind == TransferToFirm {
		return Errorf(ECONFLICT, "equipment %s is out for repair (back by %s): record its return before transferring it", q.ID, x.ReturnBy)
	}
	at = at.UTC()
	t := &EquipmentTransfer{Kind: kind, ToFirm: toFirm, Eligible: eligible, At: at, By: by,
		UnexpiredMonths: UnexpiredMonths(at, q.SupervisionEnds)}
	months := t.UnexpiredMonths
	if eligible {
		months = 0 // an eligible firm on the island keeps the exemption
	}
	duty, ok1 := MakeUp(q.Exempted.Duty.Amount, months, q.SupervisionMonths)
	vat, ok2 := MakeUp(q.Exempted.VAT.Amount, months, q.SupervisionMonths)
	if !ok1 || !ok2 {
		return Errorf(EINTERNAL, "equipment %s has amounts that are not in fen", q.ID)
	}
	t.MakeUpTax = EquipmentTaxes{Duty: Money{Amount: duty, Currency: q.Exempted.Duty.Currency},
		VAT: Money{Amount: vat, Currency: q.Exempted.VAT.Currency}}
	q.Status, q.Transfer, q.UpdatedAt = EquipmentTransferred, t, now.UTC()
	if kind == TransferLeaveIsland {
		q.Status = EquipmentLeftIsland
	}
	q.Version++
	return nil
}

// EquipmentFilter selects items for a list.
type EquipmentFilter struct {
	Firm   string
	Cursor string
	Limit  int
}

// EquipmentPage is one page of items, newest first.
type EquipmentPage struct {
	Items      []*Equipment
	NextCursor string
}

// EquipmentStore keeps the register; every write lands the item, its firm
// index, the audit entry and the change's outbox messages in one
// transaction.
type EquipmentStore interface {
	CreateEquipment(ctx context.Context, q *Equipment, idem *Idempotency, ch Change) (stored *Equipment, replayed bool, err error)
	UpdateEquipment(ctx context.Context, id string, fn func(q *Equipment) (Change, error)) (*Equipment, error)
	Equipment(ctx context.Context, id string) (*Equipment, error)
	EquipmentList(ctx context.Context, f EquipmentFilter) (EquipmentPage, error)
}

// EquipmentService carries out the register's use cases.
type EquipmentService struct {
	Store     EquipmentStore
	Now       func() time.Time
	NewID     func() string
	Source    string
	Committed func()
}

func (s *EquipmentService) committed() {
	if s.Committed != nil {
		s.Committed()
	}
}

// Register records an item for the caller's firm.
func (s *EquipmentService) Register(ctx context.Context, p Principal, q Equipment, idem *Idempotency) (*Equipment, bool, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, false, err
	}
	if err := q.Validate(); err != nil {
		return nil, false, err
	}
	if err := notAfterNow("imported_at", q.ImportedAt, s.Now()); err != nil {
		return nil, false, err
	}
	now := s.Now().UTC()
	q.ID, q.Firm, q.Status, q.Transfer = s.NewID(), p.Firm, EquipmentInUse, nil
	q.ImportedAt = q.ImportedAt.UTC()
	q.SupervisionEnds = q.supervisionEnds()
	q.CreatedAt, q.UpdatedAt, q.Version = now, now, 1
	msg, err := s.announce(&q)
	if err != nil {
		return nil, false, err
	}
	stored, replayed, err := s.Store.CreateEquipment(ctx, &q, idem, Change{Actor: p.Actor(), Action: "register", Messages: msg})
	if err == nil && !replayed {
		s.committed()
	}
	return stored, replayed, err
}

// Get returns one item the caller may see; another firm's is ENOTFOUND.
func (s *EquipmentService) Get(ctx context.Context, p Principal, id string) (*Equipment, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return nil, err
	}
	q, err := s.Store.Equipment(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.sees(q.Firm) {
		return nil, equipmentNotFound(id)
	}
	return q, nil
}

// List returns the items the caller may see; a firm only its own.
func (s *EquipmentService) List(ctx context.Context, p Principal, f EquipmentFilter) (EquipmentPage, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return EquipmentPage{}, err
	}
	if p.Role == RoleMRO {
		f.Firm = p.Firm
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	return s.Store.EquipmentList(ctx, f)
}

// Transfer records the owner firm's transfer of an item (kind transfer, or
// leave_island for good) and what it owes.
func (s *EquipmentService) Transfer(ctx context.Context, p Principal, id string, kind TransferKind, toFirm string, eligible bool, at time.Time) (*Equipment, error) {
	if err := p.Require(RoleMRO); err != nil {
		return nil, err
	}
	switch {
	case kind == "":
		kind = TransferToFirm
	case kind != TransferToFirm && kind != TransferLeaveIsland:
		return nil, Invalid(FieldError{Field: "kind", Message: "must be transfer or leave_island"})
	case kind == TransferLeaveIsland && eligible:
		return nil, Invalid(FieldError{Field: "eligible", Message: "an item leaving the island for good goes to no eligible firm"})
	}
	if err := notAfterNow("at", at, s.Now()); err != nil {
		return nil, err
	}
	q, err := s.Store.UpdateEquipment(ctx, id, func(q *Equipment) (Change, error) {
		if !p.sees(q.Firm) {
			return Change{}, equipmentNotFound(id)
		}
		if err := q.transfer(kind, toFirm, eligible, at, p.Actor(), s.Now()); err != nil {
			return Change{}, err
		}
		msg, err := s.announce(q)
		if err != nil {
			return Change{}, err
		}
		return Change{Actor: p.Actor(), Action: string(q.Transfer.Kind), Messages: msg}, nil
	})
	if err == nil {
		s.committed()
	}
	return q, err
}

// announce: an item's event is the item itself, which carries no history.
func (s *EquipmentService) announce(q *Equipment) ([]OutboxMessage, error) {
	m, err := RecordMessage(s.NewID(), s.Source, TypeEquipmentChanged, q.ID, q.UpdatedAt, q)
	if err != nil {
		return nil, err
	}
	return []OutboxMessage{m}, nil
}

func equipmentNotFound(id string) error { return Errorf(ENOTFOUND, "no equipment %s", id) }
