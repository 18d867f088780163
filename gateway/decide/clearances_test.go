package decide

import (
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
)

// A clearance for tomorrow must not be claimed today, even by a read
// stamped tomorrow: the gate's clock decides, on both ends of the window.
func TestClearanceBookChecksWindowStartOnGateClock(t *testing.T) {
	today := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	now := today
	book := &Clearances{gate: corrGate, clock: NewClock(func() time.Time { return now }),
		byID: map[string]*cachedClearance{}}
	cl := zone.Clearance{ID: "D-TOMORROW", Firm: "HNA-TECHNIC", Gate: corrGate, Direction: zone.In,
		Window: zone.Window{From: today.Add(24 * time.Hour), To: today.Add(26 * time.Hour)}, ObjectKind: zone.KindEngine,
		Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: "STAND-0042"}}, State: zone.ClearanceActive, Version: 1, At: today}
	book.byID[cl.ID] = &cachedClearance{Clearance: cl}
	tag := zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-0042"}

	_, ok := book.Begin().Claim(tag, zone.In, today.Add(25*time.Hour))
	assert.False(t, ok, "an event stamped tomorrow does not open tomorrow's window today")
	_, ok = book.Begin().Claim(tag, zone.In, today)
	assert.False(t, ok, "nor does one stamped today")

	now = today.Add(25 * time.Hour)
	id, ok := book.Begin().Claim(tag, zone.In, today.Add(25*time.Hour))
	assert.True(t, ok, "inside the window on the gate clock it is usable")
	assert.Equal(t, "D-TOMORROW", id)
}
