package zone_test

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// The e-ledger shows each material's three exempted taxes as the exact share
// of its quantity rounded to the fen, and each visit's totals are the sum of
// the lines shown, for every tax.
func TestMaintenanceLedgerTotalsTheThreeTaxes(t *testing.T) {
	in := t0.Add(time.Hour)
	v := &zone.Visit{ID: "V1", Firm: "F", Status: zone.VisitInRepair, CreatedAt: t0, EnteredAt: &in,
		TaskCards: []zone.VisitTaskCard{{Number: "TC-1"}, {Number: "TC-2"}}}
	other := &zone.Visit{ID: "V2", Firm: "G", Status: zone.VisitInRepair, CreatedAt: t0, EnteredAt: &in,
		TaskCards: []zone.VisitTaskCard{{Number: "TC-1"}}}
	cny := func(a string) zone.Money { return zone.Money{Amount: a, Currency: "CNY"} }
	usd := func(a string) zone.Money { return zone.Money{Amount: a, Currency: "USD"} }
	rng := rand.New(rand.NewPCG(7, 14))
	var lots []*zone.PartsLot
	mk := func(id, firm string, qty int, x zone.Taxes) *zone.PartsLot {
		l := &zone.PartsLot{ID: id, Firm: firm, PartNumber: "P-" + id, Unit: "EA", Quantity: qty, DutyExempted: x.Duty, Exempted: &x, CreatedAt: t0}
		for i := range 40 {
			at := in.Add(time.Duration(i+1) * time.Minute)
			tc := []string{"TC-1", "TC-2", "TC-9"}[rng.IntN(3)]
			kind := []zone.MovementKind{zone.MoveConsume, zone.MoveInstall, zone.MoveExitIsland}[rng.IntN(3)]
			l.Movements = append(l.Movements, zone.Movement{ID: id + "-m", Kind: kind, Quantity: 1 + rng.IntN(3), Status: zone.MovementDone,
				At: at, TaskCard: &zone.TaskCard{Number: tc}})
		}
		lots = append(lots, l)
		return l
	}
	mk("L1", "F", 7, zone.Taxes{Duty: cny("1000.00"), VAT: cny("1300.01"), ConsumptionTax: cny("0.00")})
	mk("L2", "F", 3, zone.Taxes{Duty: cny("10.0001"), VAT: cny("0.05"), ConsumptionTax: cny("99.9999")})
	mk("L3", "F", 11, zone.Taxes{Duty: usd("123.45"), VAT: usd("160.49"), ConsumptionTax: usd("7.77")})
	// an amount of 15 digits and 4 decimals (the largest a lot may carry)
	mk("L4", "F", 9, zone.Taxes{Duty: cny("999999999999999.9999"), VAT: cny("1.00"), ConsumptionTax: cny("2.00")})
	// half a fen rounds away from zero, as FormatAmount does
	mk("L6", "F", 2, zone.Taxes{Duty: cny("0.01"), VAT: cny("0.03"), ConsumptionTax: cny("0.05")})
	mk("L5", "G", 5, zone.Taxes{Duty: cny("5.00"), VAT: cny("6.50"), ConsumptionTax: cny("0.00")})

	lg := zone.BuildMaintenanceLedger([]*zone.Visit{v, other}, lots, time.Time{}, t0.Add(24*time.Hour))
	require.Len(t, lg.Visits, 2)
	byID := map[string]*zone.PartsLot{}
	for _, l := range lots {
		byID[l.ID] = l
	}
	for _, e := range lg.Visits {
		sums := map[string][3]*big.Rat{}
		require.NotEmpty(t, e.Materials)
		for _, m := range e.Materials {
			l := byID[m.LotID]
			assert.Equal(t, l.Firm, e.Firm, "a task card number is the firm's own")
			assert.Contains(t, []zone.MovementKind{zone.MoveConsume, zone.MoveInstall}, m.Kind)
			want := l.TaxShares(m.Quantity)
			assert.Equal(t, want.Duty, m.DutyExempted, "lot %s q %d", l.ID, m.Quantity)
			assert.Equal(t, want.VAT, m.VATExempted, "lot %s q %d", l.ID, m.Quantity)
			assert.Equal(t, want.ConsumptionTax, m.ConsumptionTaxExempted, "lot %s q %d", l.ID, m.Quantity)
			s, ok := sums[m.DutyExempted.Currency]
			if !ok {
				s = [3]*big.Rat{new(big.Rat), new(big.Rat), new(big.Rat)}
				sums[m.DutyExempted.Currency] = s
			}
			for i, x := range []zone.Money{m.DutyExempted, m.VATExempted, m.ConsumptionTaxExempted} {
				s[i].Add(s[i], zone.ParseAmount(x.Amount))
			}
		}
		var duty, vat, ct []zone.Money
		for _, cur := range []string{"CNY", "USD"} {
			if s, ok := sums[cur]; ok {
				duty = append(duty, zone.Money{Amount: zone.FormatAmount(s[0]), Currency: cur})
				vat = append(vat, zone.Money{Amount: zone.FormatAmount(s[1]), Currency: cur})
				ct = append(ct, zone.Money{Amount: zone.FormatAmount(s[2]), Currency: cur})
			}
		}
		assert.Equal(t, duty, e.DutyExempted, "visit %s duty", e.ID)
		assert.Equal(t, vat, e.VATExempted, "visit %s vat", e.ID)
		assert.Equal(t, ct, e.ConsumptionTaxExempted, "visit %s consumption tax", e.ID)
	}
	assert.Len(t, lg.Visits[0].DutyExempted, 2, "CNY and USD lots are totalled apart")
}
