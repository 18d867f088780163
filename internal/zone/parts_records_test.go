package zone_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func TestPledgeOfInstalledParts(t *testing.T) {
	l := bladeLot(24)
	_, err := move(l, zone.Movement{Kind: zone.MoveInstall, Quantity: 4, AircraftRegistration: "B-1234"})
	require.NoError(t, err)
	_, err = move(l, zone.Movement{Kind: zone.MoveInstall, Quantity: 2, AircraftRegistration: "B-5678"})
	require.NoError(t, err)

	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Quantity: 5, AircraftRegistration: "B-1234", GuaranteeRef: "BG-1"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "only 4 are installed on B-1234")
	m, err := move(l, zone.Movement{Kind: zone.MovePledge, Quantity: 3, AircraftRegistration: "b 1234", GuaranteeRef: "BG-1"})
	require.NoError(t, err, "the registration as the gate reads it")
	assert.True(t, m.Installed)
	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Quantity: 2, AircraftRegistration: "B-1234", GuaranteeRef: "BG-1"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "1 of B-1234's 4 is not yet pledged")
	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Quantity: 18, GuaranteeRef: "BG-2"})
	require.NoError(t, err, "stock is pledged apart: all 18 in hand")
	v := l.View()
	assert.Equal(t, 18, v.Balance, "an installed pledge does not touch the balance")
	assert.Equal(t, 21, v.Pledged)
	assert.Equal(t, 3, v.PledgedInstalled)
	assert.Equal(t, 0, v.Available)

	_, err = move(l, zone.Movement{Kind: zone.MoveReturn, Quantity: 2, AircraftRegistration: "B-1234"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "3 of B-1234's 4 are pledged")
	_, err = move(l, zone.Movement{Kind: zone.MoveReturn, Quantity: 1})
	assert.Equal(t, zone.EUNPROCESSABLE, zone.ErrorCode(err), "parts are out on two aircraft: which?")
	_, err = move(l, zone.Movement{Kind: zone.MoveReturn, Quantity: 1, AircraftRegistration: "B-1234"})
	require.NoError(t, err, "the one not pledged comes off")
	_, err = move(l, zone.Movement{Kind: zone.MoveReleasePledge, Quantity: 3})
	require.NoError(t, err, "a release without aircraft is of stock")
	assert.Equal(t, 3, l.View().PledgedInstalled)
	_, err = move(l, zone.Movement{Kind: zone.MoveReleasePledge, Quantity: 4, AircraftRegistration: "B-1234"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	_, err = move(l, zone.Movement{Kind: zone.MoveReleasePledge, Quantity: 3, AircraftRegistration: "B-1234"})
	require.NoError(t, err)
	_, err = move(l, zone.Movement{Kind: zone.MoveReturn, Quantity: 3, AircraftRegistration: "B-1234"})
	require.NoError(t, err, "released, it may come off")
	x, err := l.Ledger(time.Time{}, movedAt.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 15, x.ClosingPledged)
}

func TestPledgeOfInstalledSerials(t *testing.T) {
	l := bladeLot(0, "SN1", "SN2")
	require.NoError(t, l.Validate())
	_, err := move(l, zone.Movement{Kind: zone.MoveInstall, Serials: []string{"SN1"}, AircraftRegistration: "B-1"})
	require.NoError(t, err)
	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Serials: []string{"SN1"}, AircraftRegistration: "B-2", GuaranteeRef: "BG"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "SN1 is on B-1")
	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Serials: []string{"SN2"}, AircraftRegistration: "B-1", GuaranteeRef: "BG"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "SN2 is in stock")
	_, err = move(l, zone.Movement{Kind: zone.MovePledge, Serials: []string{"SN1"}, AircraftRegistration: "B-1", GuaranteeRef: "BG"})
	require.NoError(t, err)
	_, err = move(l, zone.Movement{Kind: zone.MoveReturn, Serials: []string{"SN1"}})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err), "a pledged installed part cannot come off")
	_, err = move(l, zone.Movement{Kind: zone.MoveReleasePledge, Serials: []string{"SN1"}, AircraftRegistration: "B-1"})
	require.NoError(t, err)
	m, err := move(l, zone.Movement{Kind: zone.MoveReturn, Serials: []string{"SN1"}})
	require.NoError(t, err)
	assert.Equal(t, "B-1", m.AircraftRegistration, "the serial says where it came off")
}

func TestConsignedStockCannotBePledged(t *testing.T) {
	l := bladeLot(10)
	l.Owner = zone.LotOwner{Kind: zone.OwnerConsignment, Supplier: "AAR OSS"}
	require.NoError(t, l.Validate())
	_, err := move(l, zone.Movement{Kind: zone.MovePledge, Quantity: 1, GuaranteeRef: "BG"})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	assert.Empty(t, l.Movements)

	for _, c := range []struct {
		owner zone.LotOwner
		field string
	}{
		{zone.LotOwner{Kind: zone.OwnerConsignment}, "owner.supplier"},
		{zone.LotOwner{Kind: "borrowed"}, "owner.kind"},
		{zone.LotOwner{Kind: zone.OwnerOwn, Supplier: "X"}, "owner.supplier"},
	} {
		l := bladeLot(1)
		l.Owner = c.owner
		err := l.Validate()
		require.Equal(t, zone.EINVALID, zone.ErrorCode(err), c.owner)
		assert.Equal(t, c.field, zone.ErrorFields(err)[0].Field)
	}
	own := bladeLot(1)
	require.NoError(t, own.Validate())
	assert.Equal(t, zone.OwnerOwn, own.Owner.Kind, "own by default")
}

func TestScrapIsARequest(t *testing.T) {
	l := bladeLot(10)
	m, err := move(l, zone.Movement{Kind: zone.MoveScrap, Quantity: 4})
	require.NoError(t, err)
	assert.Equal(t, zone.MovementRequested, m.Status)
	v := l.View()
	assert.Equal(t, 10, v.Balance, "not scrapped yet")
	assert.Equal(t, 6, v.Available, "but held")
	_, err = move(l, zone.Movement{Kind: zone.MoveConsume, Quantity: 7})
	assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
	_, err = l.Decide(m.ID, false, "customs:HK-1", "", movedAt)
	assert.Equal(t, zone.EINVALID, zone.ErrorCode(err), "a rejection needs a reason")
	_, err = l.Decide(m.ID, true, "customs:HK-1", "", movedAt.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 6, l.View().Balance)

	byCustoms, err := move(l, zone.Movement{Kind: zone.MoveScrap, Quantity: 1}, zone.MoveOptions{ScrapByCustoms: true})
	require.NoError(t, err)
	assert.Equal(t, zone.MovementDone, byCustoms.Status, "customs' own scrap needs no request")
}

func TestThreeTaxes(t *testing.T) {
	cny := func(a string) zone.Money { return zone.Money{Amount: a, Currency: "CNY"} }
	cases := []struct {
		name   string
		duty   zone.Money
		ex     *zone.Taxes
		field  string
		want   zone.Taxes
		shares zone.Taxes // of 1 unit in 3
	}{
		{name: "duty_exempted alone is the duty", duty: cny("300.00"),
			want:   zone.Taxes{Duty: cny("300.00"), VAT: cny("0.00"), ConsumptionTax: cny("0.00")},
			shares: zone.Taxes{Duty: cny("100.00"), VAT: cny("0.00"), ConsumptionTax: cny("0.00")}},
		{name: "all three", ex: &zone.Taxes{Duty: cny("300.00"), VAT: cny("100.00"), ConsumptionTax: cny("0.05")},
			want:   zone.Taxes{Duty: cny("300.00"), VAT: cny("100.00"), ConsumptionTax: cny("0.05")},
			shares: zone.Taxes{Duty: cny("100.00"), VAT: cny("33.33"), ConsumptionTax: cny("0.02")}},
		{name: "a tax left out is zero", ex: &zone.Taxes{Duty: cny("300.00"), VAT: cny("30.00")},
			want:   zone.Taxes{Duty: cny("300.00"), VAT: cny("30.00"), ConsumptionTax: cny("0.00")},
			shares: zone.Taxes{Duty: cny("100.00"), VAT: cny("10.00"), ConsumptionTax: cny("0.00")}},
		{name: "both agree", duty: cny("300.00"), ex: &zone.Taxes{Duty: cny("300.0")},
			want:   zone.Taxes{Duty: cny("300.0"), VAT: cny("0.00"), ConsumptionTax: cny("0.00")},
			shares: zone.Taxes{Duty: cny("100.00"), VAT: cny("0.00"), ConsumptionTax: cny("0.00")}},
		{name: "both disagree", duty: cny("300.00"), ex: &zone.Taxes{Duty: cny("301.00")}, field: "duty_exempted"},
		{name: "one currency", ex: &zone.Taxes{Duty: cny("1.00"), VAT: zone.Money{Amount: "1.00", Currency: "USD"}}, field: "exempted.vat.currency"},
		{name: "an amount", ex: &zone.Taxes{Duty: cny("1.00"), ConsumptionTax: cny("-1")}, field: "exempted.consumption_tax.amount"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := bladeLot(3)
			l.DutyExempted, l.Exempted = c.duty, c.ex
			err := l.Validate()
			if c.field != "" {
				require.Equal(t, zone.EINVALID, zone.ErrorCode(err))
				assert.Equal(t, c.field, zone.ErrorFields(err)[0].Field)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, l.Taxes())
			assert.Equal(t, c.want.Duty, l.DutyExempted, "duty_exempted is the duty")
			assert.Equal(t, c.shares, l.TaxShares(1))
			x, err := l.Ledger(time.Time{}, movedAt.Add(time.Hour))
			require.NoError(t, err)
			assert.Equal(t, c.shares.VAT.Amount, l.TaxShares(1).VAT.Amount)
			assert.Equal(t, zone.FormatAmount(mustAmount(t, c.want.VAT.Amount)), x.VATExempted.Amount, "the ledger totals the VAT")
		})
	}
}

func TestLedgerTotalsOwnAndConsignedApart(t *testing.T) {
	own, cons := bladeLot(10), bladeLot(4)
	cons.ID, cons.Owner = "L2", zone.LotOwner{Kind: zone.OwnerConsignment, Supplier: "AAR OSS"}
	lg, err := zone.BuildLedger("HNA-TECHNIC", []*zone.PartsLot{own, cons}, time.Time{}, movedAt.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, lg.Totals, 2)
	assert.Equal(t, zone.OwnerConsignment, lg.Totals[0].Ownership)
	assert.Equal(t, 4, lg.Totals[0].Closing)
	assert.Equal(t, zone.OwnerOwn, lg.Totals[1].Ownership)
	assert.Equal(t, 10, lg.Totals[1].Closing)
}

func mustAmount(t *testing.T, s string) *big.Rat {
	t.Helper()
	r := zone.ParseAmount(s)
	require.NotNil(t, r, s)
	return r
}

func TestConsignmentReport(t *testing.T) {
	oss := bladeLot(10)
	oss.ID, oss.Owner = "L-OSS", zone.LotOwner{Kind: zone.OwnerConsignment, Supplier: "AAR OSS"}
	own := bladeLot(10)
	for _, l := range []*zone.PartsLot{oss, own} {
		_, err := move(l, zone.Movement{Kind: zone.MoveConsume, Quantity: 2, TaskCard: &zone.TaskCard{Number: "TC-7"}})
		require.NoError(t, err)
		_, err = move(l, zone.Movement{Kind: zone.MoveInstall, Quantity: 1, AircraftRegistration: "B-1234", TaskCard: &zone.TaskCard{Number: "TC-8"}})
		require.NoError(t, err)
	}
	scrap, err := move(oss, zone.Movement{Kind: zone.MoveScrap, Quantity: 1})
	require.NoError(t, err)
	_, err = oss.Decide(scrap.ID, true, "customs", "", movedAt)
	require.NoError(t, err)

	rep := zone.BuildConsignmentReport([]*zone.PartsLot{oss, own}, "", time.Time{}, movedAt.Add(time.Hour))
	require.Len(t, rep.Items, 2, "the supplier's stock consumed and installed; not own stock, not scrap")
	assert.Equal(t, "TC-7", rep.Items[0].TaskCard.Number)
	assert.Equal(t, zone.MoveInstall, rep.Items[1].Kind)
	assert.Equal(t, []zone.ConsignmentTotal{{Supplier: "AAR OSS", PartNumber: "1795M36P01", Unit: "EA", Consumed: 2, Installed: 1}}, rep.Totals)
	assert.Empty(t, zone.BuildConsignmentReport([]*zone.PartsLot{oss}, "Boeing DLS", time.Time{}, movedAt.Add(time.Hour)).Items)
	assert.Empty(t, zone.BuildConsignmentReport([]*zone.PartsLot{oss}, "", movedAt.Add(time.Minute), movedAt.Add(time.Hour)).Items, "outside the period")
}
