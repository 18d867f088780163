package zone

import "testing"

// TestGateMustHear pins which declaration changes reach the gates.
func TestGateMustHear(t *testing.T) {
	for _, c := range []struct {
		from, to Status
		want     bool
	}{
		{"", StatusSubmitted, false},
		{StatusSubmitted, StatusInspection, false},
		{StatusSubmitted, StatusCleared, true},  // granted
		{StatusCleared, StatusRevoked, true},    // withdrawn
		{StatusCleared, StatusCancelled, true},  // withdrawn
		{StatusCleared, StatusExpired, true},    // withdrawn
		{StatusCleared, StatusCrossed, true},    // used
		{StatusExpired, StatusCrossed, true},    // used, late
		{StatusSubmitted, StatusExpired, false}, // never held by a gate
		{StatusCrossed, StatusArrived, false},   // already used
		{StatusArrived, StatusClosed, false},
	} {
		if got := GateMustHear(c.from, c.to); got != c.want {
			t.Errorf("GateMustHear(%q, %q) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}
