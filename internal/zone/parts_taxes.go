package zone

import (
	"math/big"
	"strings"
)

// Zero tariff (零关税) exempts three taxes, not one: import duty, import VAT
// and consumption tax. A lot carries all three in one currency; a lot
// created with duty_exempted alone has that as its duty and no VAT or
// consumption tax exempted.

// Taxes are the amounts zero tariff exempted, one per tax.
type Taxes struct {
	Duty           Money `json:"duty"`
	VAT            Money `json:"vat"`
	ConsumptionTax Money `json:"consumption_tax"`
}

// TaxNames lists the taxes in their wire names, in order.
var TaxNames = []string{"duty", "vat", "consumption_tax"}

// each visits the taxes in TaxNames order.
func (t *Taxes) each(fn func(name string, m *Money)) {
	fn("duty", &t.Duty)
	fn("vat", &t.VAT)
	fn("consumption_tax", &t.ConsumptionTax)
}

// Taxes is what the lot's import exempted; lots stored before the three
// taxes read as their duty alone.
func (l *PartsLot) Taxes() Taxes {
	if l.Exempted != nil {
		return *l.Exempted
	}
	zero := Money{Amount: "0.00", Currency: l.DutyExempted.Currency}
	return Taxes{Duty: l.DutyExempted, VAT: zero, ConsumptionTax: zero}
}

// normalizeTaxes checks duty_exempted and exempted and fills one from the
// other: a tax left out of exempted is zero in the duty's currency.
func (l *PartsLot) normalizeTaxes() []FieldError {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	if l.Exempted == nil {
		if ParseAmount(l.DutyExempted.Amount) == nil {
			add("duty_exempted.amount", "must be a decimal string such as \"86400.00\"")
		}
		if !currencyRE.MatchString(l.DutyExempted.Currency) {
			add("duty_exempted.currency", "must be an ISO 4217 code such as CNY")
		}
		if len(fs) == 0 {
			t := l.Taxes()
			l.Exempted = &t
		}
		return fs
	}
	x := *l.Exempted
	cur := x.Duty.Currency
	if cur == "" {
		cur = l.DutyExempted.Currency
	}
	if x.Duty.Amount == "" && l.DutyExempted.Amount != "" {
		x.Duty = l.DutyExempted
	}
	x.each(func(name string, m *Money) {
		if m.Amount == "" && m.Currency == "" {
			*m = Money{Amount: "0.00", Currency: cur}
		}
		if ParseAmount(m.Amount) == nil {
			add("exempted."+name+".amount", "must be a decimal string such as \"86400.00\"")
		}
		if !currencyRE.MatchString(m.Currency) {
			add("exempted."+name+".currency", "must be an ISO 4217 code such as CNY")
		} else if m.Currency != cur {
			add("exempted."+name+".currency", "the three taxes of a lot are in one currency ("+cur+")")
		}
	})
	if l.DutyExempted != (Money{}) && len(fs) == 0 {
		a, b := ParseAmount(l.DutyExempted.Amount), ParseAmount(x.Duty.Amount)
		if a == nil || b == nil || a.Cmp(b) != 0 || l.DutyExempted.Currency != x.Duty.Currency {
			add("duty_exempted", "must equal exempted.duty when both are given")
		}
	}
	if len(fs) == 0 {
		l.Exempted, l.DutyExempted = &x, x.Duty
	}
	return fs
}

// share is amount × q / imported, the exempted tax of q units.
func (l *PartsLot) share(amount string, q int) *big.Rat {
	d := ParseAmount(amount)
	if d == nil || l.Quantity == 0 {
		return new(big.Rat)
	}
	return new(big.Rat).Mul(d, big.NewRat(int64(q), int64(l.Quantity)))
}

// TaxShares are the exempted taxes of q units of the lot.
func (l *PartsLot) TaxShares(q int) Taxes {
	t := l.Taxes()
	t.each(func(_ string, m *Money) { m.Amount = FormatAmount(l.share(m.Amount, q)) })
	return t
}

// Ownership of a lot's stock.
const (
	OwnerOwn         = "own"
	OwnerConsignment = "consignment"
)

// LotOwner is whose stock a lot is: the firm's own, or a supplier's on
// consignment (航空零备件寄售, OSS) until the firm consumes or installs it.
type LotOwner struct {
	Kind     string `json:"kind"`
	Supplier string `json:"supplier,omitempty"`
}

// Consigned reports whether the stock is a supplier's.
func (o LotOwner) Consigned() bool { return o.Kind == OwnerConsignment }

// owner is the lot's owner, own when never set.
func (l *PartsLot) owner() LotOwner {
	if l.Owner.Kind == "" {
		return LotOwner{Kind: OwnerOwn}
	}
	return l.Owner
}

func (l *PartsLot) normalizeOwner() []FieldError {
	l.Owner.Supplier = strings.TrimSpace(l.Owner.Supplier)
	switch l.Owner.Kind {
	case "", OwnerOwn:
		if l.Owner.Supplier != "" {
			return []FieldError{{Field: "owner.supplier", Message: "only for consignment stock"}}
		}
		l.Owner.Kind = OwnerOwn
	case OwnerConsignment:
		if l.Owner.Supplier == "" {
			return []FieldError{{Field: "owner.supplier", Message: "required for consignment stock"}}
		}
	default:
		return []FieldError{{Field: "owner.kind", Message: "must be own or consignment"}}
	}
	return nil
}
