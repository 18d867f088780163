package zone

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// The parts ledger reconciles lots over a period [from, to): what the firm
// held at the start, what came in and went out, and what it held at the end.
// Every figure is counted from the movements; the closing balance is counted
// separately (everything effective before `to`) and must equal
// opening + imported + returned − consumed − installed − exited − scrapped,
// or the ledger refuses to answer (EINTERNAL): a ledger that does not close
// is a bug to see, not a number to print.
//
// Duty. duty_exempted is the exempted duty of the quantity imported in the
// period. duty_due is the exempted duty of what left the island in the
// period without a valid exception. Every exit_island needs a task card
// naming the aircraft (422 otherwise) and, when approval is on, customs'
// approval before it counts, so every exit carries the task_card exception
// and duty_due is 0 under today's rules. It is still computed from the
// movements (exits with no exception), so a future exit without exception
// shows up here rather than being assumed away. duty_excepted is the exempted
// duty of the parts that left under the task-card exception.

// LedgerLine is one lot's (or one total's) reconciliation over a period.
type LedgerLine struct {
	LotID          string `json:"lot_id,omitempty"`
	Firm           string `json:"firm,omitempty"`
	PartNumber     string `json:"part_number,omitempty"`
	Unit           string `json:"unit"`
	Opening        int    `json:"opening_balance"`
	Imported       int    `json:"imported"`
	Consumed       int    `json:"consumed"`
	Installed      int    `json:"installed"`
	Exited         int    `json:"exited"`
	Returned       int    `json:"returned"`
	Scrapped       int    `json:"scrapped"`
	Pledged        int    `json:"pledged"`
	Released       int    `json:"released"`
	Closing        int    `json:"closing_balance"`
	OpeningPledged int    `json:"opening_pledged"`
	ClosingPledged int    `json:"closing_pledged"`
	DutyExempted   Money  `json:"duty_exempted"`
	DutyExcepted   Money  `json:"duty_excepted"`
	DutyDue        Money  `json:"duty_due"`
	// VATExempted and ConsumptionTaxExempted are the other two taxes zero
	// tariff exempted on the quantity imported in the period.
	VATExempted            Money `json:"vat_exempted"`
	ConsumptionTaxExempted Money `json:"consumption_tax_exempted"`
	// Ownership is own or consignment; Supplier names a consignment's.
	Ownership string `json:"ownership"`
	Supplier  string `json:"supplier,omitempty"`
}

// Closes reports whether opening + in − out equals closing, for the
// balance and for the pledge.
func (x LedgerLine) Closes() bool {
	return x.Opening+x.Imported+x.Returned-x.Consumed-x.Installed-x.Exited-x.Scrapped == x.Closing &&
		x.OpeningPledged+x.Pledged-x.Released == x.ClosingPledged
}

// Ledger reconciles the lot over [from, to); a zero from is the beginning.
func (l *PartsLot) Ledger(from, to time.Time) (LedgerLine, error) {
	open := l.TallyBetween(time.Time{}, from)
	if from.IsZero() {
		open = Tally{}
	}
	in := l.TallyBetween(from, to)
	closing := l.TallyBetween(time.Time{}, to)
	cur := l.DutyExempted.Currency
	x := LedgerLine{LotID: l.ID, Firm: l.Firm, PartNumber: l.PartNumber, Unit: l.Unit,
		Opening: open.Balance(), Imported: in.Imported, Consumed: in.Consumed, Installed: in.Installed,
		Exited: in.Exited, Returned: in.Returned, Scrapped: in.Scrapped, Pledged: in.Pledged, Released: in.Released,
		Closing: closing.Balance(), OpeningPledged: open.Pledge(), ClosingPledged: closing.Pledge(),
		Ownership: l.owner().Kind, Supplier: l.owner().Supplier}
	excepted, due := new(big.Rat), new(big.Rat)
	for i := range l.Movements {
		m := &l.Movements[i]
		at, ok := m.effective()
		if !ok || m.Kind != MoveExitIsland || (!from.IsZero() && at.Before(from)) || (!to.IsZero() && !at.Before(to)) {
			continue
		}
		if m.Exception != "" {
			excepted.Add(excepted, l.DutyShare(m.Quantity))
		} else {
			due.Add(due, l.DutyShare(m.Quantity))
		}
	}
	x.DutyExempted = Money{Amount: FormatAmount(l.DutyShare(in.Imported)), Currency: cur}
	taxes := l.TaxShares(in.Imported)
	x.VATExempted, x.ConsumptionTaxExempted = taxes.VAT, taxes.ConsumptionTax
	x.DutyExcepted = Money{Amount: FormatAmount(excepted), Currency: cur}
	x.DutyDue = Money{Amount: FormatAmount(due), Currency: cur}
	if !x.Closes() {
		return x, Internal(fmt.Errorf("ledger of lot %s does not close: %+v", l.ID, x))
	}
	return x, nil
}

// Ledger is a reconciliation of one lot or of a firm's lots.
type Ledger struct {
	Firm string       `json:"firm,omitempty"`
	From *time.Time   `json:"from,omitempty"`
	To   time.Time    `json:"to"`
	Lots []LedgerLine `json:"lots"`
	// Totals sums the lots by unit, currency and ownership (EA and KG do
	// not add up; own and consigned stock are kept apart).
	Totals []LedgerLine `json:"totals"`
}

// BuildLedger reconciles lots over [from, to) and totals them.
func BuildLedger(firm string, lots []*PartsLot, from, to time.Time) (Ledger, error) {
	lg := Ledger{Firm: firm, To: to.UTC(), Lots: []LedgerLine{}, Totals: []LedgerLine{}}
	if !from.IsZero() {
		f := from.UTC()
		lg.From = &f
	}
	type key struct{ unit, cur, own string }
	totals := map[key]*LedgerLine{}
	sums := map[key][5]*big.Rat{}
	var order []key
	for _, l := range lots {
		if !l.CreatedAt.Before(to) {
			continue // imported after the period: not in this ledger
		}
		x, err := l.Ledger(from, to)
		if err != nil {
			return Ledger{}, err
		}
		lg.Lots = append(lg.Lots, x)
		k := key{x.Unit, x.DutyExempted.Currency, x.Ownership}
		t, ok := totals[k]
		if !ok {
			t = &LedgerLine{Unit: x.Unit, Ownership: x.Ownership}
			totals[k] = t
			sums[k] = [5]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)}
			order = append(order, k)
		}
		t.Opening += x.Opening
		t.Imported += x.Imported
		t.Consumed += x.Consumed
		t.Installed += x.Installed
		t.Exited += x.Exited
		t.Returned += x.Returned
		t.Scrapped += x.Scrapped
		t.Pledged += x.Pledged
		t.Released += x.Released
		t.Closing += x.Closing
		t.OpeningPledged += x.OpeningPledged
		t.ClosingPledged += x.ClosingPledged
		s := sums[k]
		s[0].Add(s[0], ParseAmount(x.DutyExempted.Amount))
		s[1].Add(s[1], ParseAmount(x.DutyExcepted.Amount))
		s[2].Add(s[2], ParseAmount(x.DutyDue.Amount))
		s[3].Add(s[3], ParseAmount(x.VATExempted.Amount))
		s[4].Add(s[4], ParseAmount(x.ConsumptionTaxExempted.Amount))
	}
	sort.SliceStable(order, func(i, j int) bool {
		return order[i].unit+"\x00"+order[i].cur+"\x00"+order[i].own < order[j].unit+"\x00"+order[j].cur+"\x00"+order[j].own
	})
	for _, k := range order {
		t, s := totals[k], sums[k]
		t.DutyExempted = Money{Amount: FormatAmount(s[0]), Currency: k.cur}
		t.DutyExcepted = Money{Amount: FormatAmount(s[1]), Currency: k.cur}
		t.DutyDue = Money{Amount: FormatAmount(s[2]), Currency: k.cur}
		t.VATExempted = Money{Amount: FormatAmount(s[3]), Currency: k.cur}
		t.ConsumptionTaxExempted = Money{Amount: FormatAmount(s[4]), Currency: k.cur}
		if !t.Closes() {
			return Ledger{}, Internal(fmt.Errorf("ledger total %s does not close: %+v", k.unit, *t))
		}
		lg.Totals = append(lg.Totals, *t)
	}
	return lg, nil
}

// LotLedger reconciles one lot the caller may see over [from, to); a zero
// to means now.
func (s *PartsService) LotLedger(ctx context.Context, p Principal, lotID string, from, to time.Time) (Ledger, error) {
	l, err := s.Lot(ctx, p, lotID)
	if err != nil {
		return Ledger{}, err
	}
	from, to, err = s.period(from, to)
	if err != nil {
		return Ledger{}, err
	}
	return BuildLedger(l.Firm, []*PartsLot{l}, from, to)
}

// FirmLedger reconciles a firm's lots over [from, to). A firm always gets its
// own; customs names a firm or, leaving it empty, gets every firm's lots.
func (s *PartsService) FirmLedger(ctx context.Context, p Principal, firm string, from, to time.Time) (Ledger, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return Ledger{}, err
	}
	if p.Role == RoleMRO {
		firm = p.Firm
	}
	from, to, err := s.period(from, to)
	if err != nil {
		return Ledger{}, err
	}
	lots, err := s.Store.AllLots(ctx, firm)
	if err != nil {
		return Ledger{}, err
	}
	return BuildLedger(firm, lots, from, to)
}

func (s *PartsService) period(from, to time.Time) (time.Time, time.Time, error) {
	if to.IsZero() {
		// Just past now, so what happened this instant is in.
		to = s.Now().UTC().Add(time.Nanosecond)
	}
	if !from.IsZero() && !to.After(from) {
		return from, to, Invalid(FieldError{Field: "to", Message: "must be after from"})
	}
	return from.UTC(), to.UTC(), nil
}

// ParseAmount parses a non-negative decimal string ("86400.00"); nil when it
// is not one.
func ParseAmount(s string) *big.Rat {
	if !amountRE.MatchString(s) {
		return nil
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil
	}
	return r
}

// FormatAmount writes r with two decimals, rounding half away from zero.
func FormatAmount(r *big.Rat) string {
	if r == nil {
		return "0.00"
	}
	// FloatString rounds half away from zero on the last digit.
	s := r.FloatString(2)
	if strings.HasPrefix(s, "-0.00") {
		return "0.00"
	}
	return s
}
