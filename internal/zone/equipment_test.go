package zone_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func TestUnexpiredWholeMonths(t *testing.T) {
	// Supervision ends 2029-03-31 (Beijing) for an import on 2026-03-31 + 36 months.
	ends := date("2029-03-30T16:00:00Z")
	for _, c := range []struct {
		at   string
		want int
		why  string
	}{
		{"2026-03-30T16:00:00Z", 36, "the day of import (31 March in Beijing): all 36 left"},
		{"2026-04-01T00:00:00Z", 35, "a day later: 35 whole months and a part"},
		{"2028-12-31T00:00:00Z", 3, "31 December → 31 March"},
		{"2029-01-01T00:00:00Z", 2, "1 January → 1 March, not 1 April"},
		{"2028-12-31T16:00:00Z", 2, "00:00 on 1 January in Beijing is already January"},
		{"2029-02-28T00:00:00Z", 1, "28 February → 28 March"},
		{"2029-03-30T15:59:59Z", 0, "the last day: no whole month left"},
		{"2030-01-01T00:00:00Z", 0, "supervision over"},
	} {
		assert.Equal(t, c.want, zone.UnexpiredMonths(date(c.at), ends), c.why)
	}
	// A month-end import: 31 August + 6 months ends 28 February. From 30
	// September, 5 months reach 28 February (clamped): 5 whole months; from
	// 1 October they reach 1 March: only 4.
	assert.Equal(t, 5, zone.UnexpiredMonths(date("2026-09-30T00:00:00Z"), date("2027-02-27T16:00:00Z")))
	assert.Equal(t, 4, zone.UnexpiredMonths(date("2026-10-01T00:00:00Z"), date("2027-02-27T16:00:00Z")))
}

func TestMakeUpTaxRoundsToTheFen(t *testing.T) {
	for _, c := range []struct {
		amount     string
		months, of int
		want       string
	}{
		{"36000.00", 12, 36, "12000.00"},
		{"100.00", 1, 3, "33.33"},                              // 33.333… down
		{"200.00", 1, 3, "66.67"},                              // 66.666… up
		{"0.05", 1, 2, "0.03"},                                 // 0.025: half up
		{"0.01", 1, 3, "0.00"},                                 // under half a fen
		{"0.02", 1, 3, "0.01"},                                 // 0.00666…
		{"1000", 0, 36, "0.00"},                                // nothing left
		{"1000.5", 36, 36, "1000.50"},                          // all of it
		{"999999999999999.99", 119, 120, "991666666666666.66"}, // no overflow: 99999999999999999 × 119 / 120 = 99166666666666665.84 fen
	} {
		got, ok := zone.MakeUp(c.amount, c.months, c.of)
		require.True(t, ok, c.amount)
		assert.Equal(t, c.want, got, "%s × %d / %d", c.amount, c.months, c.of)
	}
	for _, bad := range []string{"1.005", "-1.00", "1e3", "", "12,00"} {
		_, ok := zone.MakeUp(bad, 1, 2)
		assert.False(t, ok, bad)
	}
}

func TestEquipmentTransfer(t *testing.T) {
	cny := func(a string) zone.Money { return zone.Money{Amount: a, Currency: "CNY"} }
	item := func() *zone.Equipment {
		q := &zone.Equipment{ID: "E1", Firm: "HNA-TECHNIC", Description: "borescope", Serial: "IPLEX-4471",
			HSCode: "90318090", ImportDeclaration: "460120261000223344", ImportedAt: date("2026-03-30T16:00:00Z"),
			Exempted: zone.EquipmentTaxes{Duty: cny("36000.00"), VAT: cny("46800.00")}, SupervisionMonths: 36}
		require.NoError(t, q.Validate())
		q.SupervisionEnds = zone.AddMonths(q.ImportedAt.In(zone.Shanghai), 36).UTC()
		return q
	}
	now := date("2029-01-05T00:00:00Z")
	q := item()
	require.NoError(t, q.TransferTo("GAMECO", true, date("2029-01-01T00:00:00Z"), "mro:HNA-TECHNIC", now))
	assert.Equal(t, zone.EquipmentTaxes{Duty: cny("0.00"), VAT: cny("0.00")}, q.Transfer.MakeUpTax, "an eligible firm on the island owes nothing")
	assert.Equal(t, 2, q.Transfer.UnexpiredMonths)
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(q.TransferTo("X", false, now, "mro:HNA-TECHNIC", now)), "transferred once")

	q = item()
	require.NoError(t, q.TransferTo("Off-island Aero", false, date("2029-01-01T00:00:00Z"), "mro:HNA-TECHNIC", now))
	assert.Equal(t, zone.EquipmentTaxes{Duty: cny("2000.00"), VAT: cny("2600.00")}, q.Transfer.MakeUpTax, "2 of 36 months")

	q = item()
	err := q.TransferTo("", false, date("2026-01-01T00:00:00Z"), "mro:HNA-TECHNIC", now)
	require.Equal(t, zone.EINVALID, zone.ErrorCode(err))
	assert.ElementsMatch(t, []string{"to_firm", "at"}, fieldsOf(err))
	assert.Equal(t, zone.EquipmentInUse, zone.EquipmentStatus(zone.EquipmentInUse))
	assert.Nil(t, q.Transfer, "a refusal changes nothing")

	bad := item()
	bad.Exempted.VAT = zone.Money{Amount: "1.005", Currency: "USD"}
	bad.SupervisionMonths = 0
	bad.HSCode = "9031"
	assert.ElementsMatch(t, []string{"exempted.vat.amount", "exempted.vat.currency", "supervision_months", "hs_code"}, fieldsOf(bad.Validate()))
	_ = time.Second
}

func fieldsOf(err error) []string {
	var out []string
	for _, f := range zone.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return out
}
