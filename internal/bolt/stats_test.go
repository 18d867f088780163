package bolt_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures/stats"
	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestStatsFixtureReproducesTheSourcesFigures loads the historical fixture
// and checks the figures Haikou Customs reported come back exactly.
func TestStatsFixtureReproducesTheSourcesFigures(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	src := bolt.NewStatsSource(db)
	hist, err := stats.History()
	require.NoError(t, err)
	n, err := src.ImportHistory(ctx, hist)
	require.NoError(t, err)
	require.Equal(t, len(hist), n)
	n, err = src.ImportHistory(ctx, hist)
	require.NoError(t, err)
	require.Zero(t, n, "a second load adds nothing")

	svc := &zone.StatsService{Source: src, DedicatedGates: map[string]bool{"G-MRO-1": true}, Now: time.Now}

	// 2024: 49 aircraft, 16 engines, ¥31.13 bn, 同比增长3.3倍.
	s24, err := svc.Get(ctx, customs, day(2024, 1, 1), day(2025, 1, 1))
	require.NoError(t, err)
	require.Equal(t, 49, s24.Aircraft.Count)
	require.Equal(t, 16, s24.Engines.Count)
	require.Equal(t, 0, s24.PartsBatches.Count)
	require.Equal(t, zone.Money{Amount: "31130000000.00", Currency: "CNY"}, s24.Total.Value)
	require.Equal(t, "330.0", str(s24.Total.Growth.ValuePercent))
	require.Equal(t, "3.3", str(s24.Total.Growth.ValueIncreaseTimes))
	require.Equal(t, "7240000000.00", s24.Total.Growth.PreviousValue.Amount)

	// Jan–Aug 2025: 58 aircraft, 9 engines, 6 parts batches, ¥37.02 bn, +67.4%.
	s25, err := svc.Get(ctx, customs, day(2025, 1, 1), day(2025, 9, 1))
	require.NoError(t, err)
	require.Equal(t, 58, s25.Aircraft.Count)
	require.Equal(t, 9, s25.Engines.Count)
	require.Equal(t, 6, s25.PartsBatches.Count)
	require.Equal(t, 73, s25.Total.Count)
	require.Equal(t, zone.Money{Amount: "37020000000.00", Currency: "CNY"}, s25.Total.Value)
	require.Equal(t, "67.4", str(s25.Total.Growth.ValuePercent))
	require.Equal(t, "22115000000.00", s25.Total.Growth.PreviousValue.Amount)
	// The kinds add up to the total, to the fen.
	require.Equal(t, "35280000000.00", s25.Aircraft.Value.Amount)
	require.Equal(t, "1674000000.00", s25.Engines.Value.Amount)
	require.Equal(t, "66000000.00", s25.PartsBatches.Value.Amount)

	// Direct entry (2025 engines through G-MRO-1): transit vs the 40-minute
	// mark, and the special vehicle avoided.
	require.Equal(t, 9, s25.Transit.Samples)
	require.NotNil(t, s25.Transit.MedianMinutes)
	require.Equal(t, 58.0, *s25.Transit.MedianMinutes)
	require.Equal(t, 40, s25.Transit.TargetMinutes)
	require.Equal(t, 1, s25.Transit.WithinTarget)
	require.Equal(t, zone.SavingsFigure{Moves: 9, VehicleCostCNY: "270000.00", DaysMin: 9, DaysMax: 27}, s25.Savings)
	// 2024 engines came by road through the main gate: nothing saved.
	require.Equal(t, 0, s24.Savings.Moves)
	require.Nil(t, s24.Transit.MedianMinutes)

	// Green channel: submission → decision for Jan–Aug 2025 submissions.
	require.Equal(t, 73, s25.GreenChannel.Samples)
	require.NotNil(t, s25.GreenChannel.MedianMinutes)
	require.NotNil(t, s25.GreenChannel.P90Minutes)
	require.Equal(t, 8.0, *s25.GreenChannel.MedianMinutes, "median of the fixture's decision_minutes")
	require.Equal(t, 21.0, *s25.GreenChannel.P90Minutes, "90th percentile (nearest rank)")

	// Only customs.
	_, err = svc.Get(ctx, hna, day(2025, 1, 1), day(2025, 9, 1))
	requireCode(t, zone.EFORBIDDEN, err)
	_, err = svc.Get(ctx, customs, day(2025, 9, 1), day(2025, 1, 1))
	requireCode(t, zone.EINVALID, err)
}
