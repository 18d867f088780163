package zone

import (
	"math/big"
	"testing"
)

func TestGrowthPercentRoundsAsReported(t *testing.T) {
	units := func(s string) *big.Int {
		v, ok := amountUnits(s)
		if !ok {
			t.Fatalf("amount %q", s)
		}
		return v
	}
	for _, c := range []struct {
		cur, prev string
		div       int64
		want      string
	}{
		{"31130000000.00", "7240000000.00", 1, "330.0"}, // 2024: 同比增长3.3倍
		{"31130000000.00", "7240000000.00", 100, "3.3"},
		{"37020000000.00", "22115000000.00", 1, "67.4"}, // Jan–Aug 2025
		{"100.00", "200.00", 1, "-50.0"},
		{"100.00", "100.00", 1, "0.0"},
		{"100.05", "100.00", 1, "0.1"}, // 0.05% rounds half away from zero
	} {
		if got := *growthPercent(units(c.cur), units(c.prev), c.div); got != c.want {
			t.Errorf("growth %s vs %s /%d = %s, want %s", c.cur, c.prev, c.div, got, c.want)
		}
	}
}

func TestAmountsSumExactly(t *testing.T) {
	sum := new(big.Int)
	for range 3 {
		v, ok := amountUnits("0.10")
		if !ok {
			t.Fatal("0.10")
		}
		sum.Add(sum, v)
	}
	if got := formatUnits(sum); got != "0.30" {
		t.Fatalf("0.10 × 3 = %s, want 0.30 (no float rounding)", got)
	}
	v, _ := amountUnits("12.3456")
	if got := formatUnits(v); got != "12.3456" {
		t.Fatalf("got %s", got)
	}
	for _, bad := range []string{"", "1.23456", "-1", "x"} {
		if _, ok := amountUnits(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	xs := []float64{10, 2, 8, 4, 6, 1, 3, 5, 7, 9}
	if got := *percentile(xs, 50); got != 5.5 {
		t.Errorf("median %v, want 5.5", got)
	}
	if got := *percentile(xs, 90); got != 9 {
		t.Errorf("p90 %v, want 9 (nearest rank)", got)
	}
	if got := *percentile([]float64{40, 58, 70}, 50); got != 58 {
		t.Errorf("median %v", got)
	}
	if percentile(nil, 50) != nil {
		t.Error("no samples must give no median")
	}
}
