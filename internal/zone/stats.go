package zone

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Figures of the source case used by the statistics.
const (
	// TransitTargetMinutes is the first GEnx-1B's direct-entry transit,
	// gate to workshop, that the source reports.
	TransitTargetMinutes = 40
	// VehicleCostPerMoveCNY is what a rented special vehicle cost per engine
	// move out of the airport and through the main gate (about ¥30,000).
	VehicleCostPerMoveCNY = 30000
	// VehicleDaysMin and VehicleDaysMax are the days it took to arrange.
	VehicleDaysMin, VehicleDaysMax = 1, 3
	// StatsCurrency is the currency values are summed in.
	StatsCurrency = "CNY"
)

// StatsSource reads what the statistics are computed from.
type StatsSource interface {
	// CrossedBetween returns the declarations whose gate crossing falls in
	// [from, to).
	CrossedBetween(ctx context.Context, from, to time.Time) ([]*PreDeclaration, error)
	// SubmittedBetween returns the declarations submitted in [from, to).
	SubmittedBetween(ctx context.Context, from, to time.Time) ([]*PreDeclaration, error)
}

// Stats are the figures the source reports for a period [From, To).
type Stats struct {
	From         time.Time     `json:"from"`
	To           time.Time     `json:"to"`
	Aircraft     KindStats     `json:"aircraft"`
	Engines      KindStats     `json:"engines"`
	PartsBatches KindStats     `json:"parts_batches"`
	Equipment    KindStats     `json:"equipment"`
	Total        KindStats     `json:"total"`
	Transit      TransitStats  `json:"transit"`
	GreenChannel GreenChannel  `json:"green_channel"`
	Savings      SavingsFigure `json:"savings"`
	// Maintenance: bonded-maintenance visits (null without a visit store).
	Maintenance *MaintenanceStats `json:"maintenance,omitempty"`
}

// KindStats counts the inbound moves of one kind that crossed in the period
// and sums their declared value (in CNY, exactly), with growth against the
// same period a year earlier.
type KindStats struct {
	Count int   `json:"count"`
	Value Money `json:"value"`
	// OtherCurrency counts moves declared in another currency: counted, but
	// not in Value (no exchange rates here).
	OtherCurrency int     `json:"other_currency,omitempty"`
	Growth        *Growth `json:"growth"`
}

// Growth compares a period with the same period a year earlier. Percentages
// are decimal strings with one decimal, null when the earlier figure is
// zero. ValueIncreaseTimes is the percentage over 100, the way Chinese
// statistics say "同比增长3.3倍" (an increase of 330%).
type Growth struct {
	PreviousCount      int     `json:"previous_count"`
	PreviousValue      Money   `json:"previous_value"`
	CountPercent       *string `json:"count_percent"`
	ValuePercent       *string `json:"value_percent"`
	ValueIncreaseTimes *string `json:"value_increase_times"`
}

// TransitStats are direct-entry transit times, gate → workshop, of inbound
// engine moves through a dedicated gate that crossed in the period and have
// arrived.
type TransitStats struct {
	MedianMinutes *float64 `json:"direct_entry_median_minutes"`
	Samples       int      `json:"samples"`
	TargetMinutes int      `json:"target_minutes"`
	WithinTarget  int      `json:"within_target"`
}

// GreenChannel is the time from submission to customs' decision of the
// declarations submitted in the period and decided (at any hour).
type GreenChannel struct {
	MedianMinutes *float64 `json:"decision_median_minutes"`
	P90Minutes    *float64 `json:"decision_p90_minutes"`
	Samples       int      `json:"samples"`
}

// SavingsFigure is what direct entry avoided: a rented special vehicle
// (about ¥30,000) and 1–3 days per inbound engine move through a dedicated
// gate.
type SavingsFigure struct {
	Moves          int    `json:"direct_entry_moves"`
	VehicleCostCNY string `json:"vehicle_cost_cny"`
	DaysMin        int    `json:"days_min"`
	DaysMax        int    `json:"days_max"`
}

// StatsService computes the figures for customs.
type StatsService struct {
	Source StatsSource
	// DedicatedGates are the gates direct entry goes through (G-MRO-1).
	DedicatedGates map[string]bool
	Now            func() time.Time
	// Visits, when set, adds the maintenance visits; MaintenanceHistory the
	// source's cumulative figures (seeded history).
	Visits             VisitLister
	MaintenanceHistory *MaintenanceHistory
}

// maxStatsSpan bounds a stats period.
const maxStatsSpan = 20 * 366 * 24 * time.Hour

// Get computes the figures for [from, to). A zero from is the start of
// to's year; a zero to is now.
func (s *StatsService) Get(ctx context.Context, p Principal, from, to time.Time) (*Stats, error) {
	if err := p.Require(RoleCustoms); err != nil {
		return nil, err
	}
	if to.IsZero() {
		to = s.Now()
	}
	to = to.UTC()
	if from.IsZero() {
		from = time.Date(to.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	from = from.UTC()
	if !to.After(from) {
		return nil, Invalid(FieldError{Field: "to", Message: "must be after from"})
	}
	if to.Sub(from) > maxStatsSpan {
		return nil, Invalid(FieldError{Field: "from", Message: "a period spans at most 20 years"})
	}
	cur, err := s.Source.CrossedBetween(ctx, from, to)
	if err != nil {
		return nil, err
	}
	prev, err := s.Source.CrossedBetween(ctx, from.AddDate(-1, 0, 0), to.AddDate(-1, 0, 0))
	if err != nil {
		return nil, err
	}
	submitted, err := s.Source.SubmittedBetween(ctx, from, to)
	if err != nil {
		return nil, err
	}
	st := &Stats{From: from, To: to}
	now, before := tally(cur), tally(prev)
	st.Aircraft = now[KindAircraft].stats(before[KindAircraft])
	st.Engines = now[KindEngine].stats(before[KindEngine])
	st.PartsBatches = now[KindParts].stats(before[KindParts])
	st.Equipment = now[KindEquipment].stats(before[KindEquipment])
	st.Total = now[""].stats(before[""])

	var transit []float64
	moves := 0
	for _, d := range cur {
		if d.Direction != In || d.Object.Kind != KindEngine || !s.DedicatedGates[d.Gate] {
			continue
		}
		moves++
		if d.TransitMinutes != nil {
			transit = append(transit, *d.TransitMinutes)
		}
	}
	st.Transit = TransitStats{MedianMinutes: percentile(transit, 50), Samples: len(transit), TargetMinutes: TransitTargetMinutes}
	for _, m := range transit {
		if m <= TransitTargetMinutes {
			st.Transit.WithinTarget++
		}
	}
	st.Savings = SavingsFigure{Moves: moves, VehicleCostCNY: fmt.Sprintf("%d.00", moves*VehicleCostPerMoveCNY),
		DaysMin: moves * VehicleDaysMin, DaysMax: moves * VehicleDaysMax}

	var decisions []float64
	for _, d := range submitted {
		if d.DecidedAt != nil {
			decisions = append(decisions, d.DecidedAt.Sub(d.CreatedAt).Minutes())
		}
	}
	st.GreenChannel = GreenChannel{MedianMinutes: percentile(decisions, 50), P90Minutes: percentile(decisions, 90), Samples: len(decisions)}
	if err := s.maintenance(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// kindTally sums one kind's moves.
type kindTally struct {
	count, other int
	value        *big.Int // in 1/10000 of a yuan
}

func (t *kindTally) stats(prev *kindTally) KindStats {
	if t == nil {
		t = &kindTally{value: new(big.Int)}
	}
	if prev == nil {
		prev = &kindTally{value: new(big.Int)}
	}
	g := &Growth{PreviousCount: prev.count, PreviousValue: Money{Amount: formatUnits(prev.value), Currency: StatsCurrency}}
	if prev.count > 0 {
		g.CountPercent = growthPercent(big.NewInt(int64(t.count)), big.NewInt(int64(prev.count)), 1)
	}
	if prev.value.Sign() > 0 {
		g.ValuePercent = growthPercent(t.value, prev.value, 1)
		g.ValueIncreaseTimes = growthPercent(t.value, prev.value, 100)
	}
	return KindStats{Count: t.count, Value: Money{Amount: formatUnits(t.value), Currency: StatsCurrency},
		OtherCurrency: t.other, Growth: g}
}

// tally sums inbound moves by kind; "" is the total.
func tally(ds []*PreDeclaration) map[ObjectKind]*kindTally {
	out := map[ObjectKind]*kindTally{}
	add := func(k ObjectKind, d *PreDeclaration, units *big.Int) {
		t := out[k]
		if t == nil {
			t = &kindTally{value: new(big.Int)}
			out[k] = t
		}
		t.count++
		if units == nil {
			t.other++
			return
		}
		t.value.Add(t.value, units)
	}
	for _, d := range ds {
		if d.Direction != In {
			continue
		}
		var units *big.Int
		if d.DeclaredValue.Currency == StatsCurrency {
			units, _ = amountUnits(d.DeclaredValue.Amount)
		}
		add(d.Object.Kind, d, units)
		add("", d, units)
	}
	return out
}

// amountUnits parses a decimal string (up to 4 decimals) into 1/10000 units.
func amountUnits(s string) (*big.Int, bool) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" || len(frac) > 4 {
		return nil, false
	}
	frac += strings.Repeat("0", 4-len(frac))
	v, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok || v.Sign() < 0 {
		return nil, false
	}
	return v, true
}

// formatUnits writes 1/10000 units as a decimal string with two decimals
// (four when the amount needs them).
func formatUnits(v *big.Int) string {
	q, r := new(big.Int).QuoRem(v, big.NewInt(10000), new(big.Int))
	frac := fmt.Sprintf("%04d", r.Int64())
	if strings.HasSuffix(frac, "00") {
		frac = frac[:2]
	}
	return q.String() + "." + frac
}

// growthPercent returns (cur-prev)/prev × 100/div, rounded half away from
// zero to one decimal, as a string.
func growthPercent(cur, prev *big.Int, div int64) *string {
	r := new(big.Rat).SetFrac(new(big.Int).Sub(cur, prev), prev)
	r.Mul(r, big.NewRat(1000, div)) // tenths
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(new(big.Int).Abs(num), den, new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	sign := ""
	if num.Sign() < 0 && q.Sign() != 0 {
		sign = "-"
	}
	t, f := new(big.Int).QuoRem(q, big.NewInt(10), new(big.Int))
	s := fmt.Sprintf("%s%s.%s", sign, t.String(), f.String())
	return &s
}

// percentile returns the p-th percentile of xs (the median interpolates two
// middle values; others use the nearest rank), rounded to 0.1, or nil.
func percentile(xs []float64, p int) *float64 {
	if len(xs) == 0 {
		return nil
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	var v float64
	if p == 50 {
		n := len(s)
		v = s[n/2]
		if n%2 == 0 {
			v = (s[n/2-1] + s[n/2]) / 2
		}
	} else {
		rank := int(math.Ceil(float64(p) / 100 * float64(len(s))))
		v = s[max(rank, 1)-1]
	}
	v = math.Round(v*10) / 10
	return &v
}

// DecisionObserver wraps a DeclarationStore and calls OnDecided once for
// each declaration that gets its first customs decision (DecidedAt set), after
// the change is stored — the hook for the green-channel histogram.
type DecisionObserver struct {
	DeclarationStore
	OnDecided func(d *PreDeclaration)
}

// UpdateDeclaration passes through, noticing a first decision.
func (o *DecisionObserver) UpdateDeclaration(ctx context.Context, id string, fn func(d *PreDeclaration) (Change, error)) (*PreDeclaration, error) {
	var first bool
	d, err := o.DeclarationStore.UpdateDeclaration(ctx, id, func(d *PreDeclaration) (Change, error) {
		undecided := d.DecidedAt == nil
		ch, err := fn(d)
		first = err == nil && undecided && d.DecidedAt != nil
		return ch, err
	})
	if err == nil && first && o.OnDecided != nil {
		o.OnDecided(d)
	}
	return d, err
}
