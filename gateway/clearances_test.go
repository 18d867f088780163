package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A clearance for tomorrow must not be claimed today, even by a read
// stamped tomorrow: the gate's clock decides, on both ends of the window.
func TestClearanceBookChecksWindowStartOnGateClock(t *testing.T) {
	today := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := &steppedClock{t: today}
	book := &Clearances{gate: testGate, clock: &gateClock{now: clock.Now},
		byID: map[string]*cachedClearance{}}
	cl := engineClearance("D-TOMORROW", "STAND-0042", 1, zone.ClearanceActive, today)
	cl.Window = zone.Window{From: today.Add(24 * time.Hour), To: today.Add(26 * time.Hour)}
	book.byID[cl.ID] = &cachedClearance{Clearance: cl}
	tag := zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-0042"}

	_, ok := book.Begin().Claim(tag, zone.In, today.Add(25*time.Hour))
	assert.False(t, ok, "an event stamped tomorrow does not open tomorrow's window today")
	_, ok = book.Begin().Claim(tag, zone.In, today)
	assert.False(t, ok, "nor does one stamped today")

	clock.Set(today.Add(25 * time.Hour))
	id, ok := book.Begin().Claim(tag, zone.In, today.Add(25*time.Hour))
	assert.True(t, ok, "inside the window on the gate clock it is usable")
	assert.Equal(t, "D-TOMORROW", id)
}

// The same through a running gate: the crossing's events are stamped inside
// a window that had not opened on the gate's clock when they came (a few
// minutes ahead, as ingest allows). Deciding later, once the window is open,
// does not change that: the crossing is unauthorized and the clearance stays.
func TestGateRefusesAClearanceBeforeItsWindowOpens(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := &steppedClock{t: now}
	g := startGate(t, t.TempDir(), func(c *Config) { c.Now = clock.Now; c.Window = time.Second })
	cl := engineClearance("D-LATER", "STAND-0042", 1, zone.ClearanceActive, now)
	cl.Window = zone.Window{From: now.Add(3 * time.Minute), To: now.Add(time.Hour)}
	seedClearance(t, g.svc, "ce-1", cl)

	st, _, raw := g.post(tokGate, engineCrossing(1, "STAND-0042", now.Add(4*time.Minute)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	// Let the decider take the events, then move the clock past the
	// crossing's stamps (and into the window) so it is decided.
	eventually(t, "events taken", func() bool { return g.status().LastDecidedSeq >= 3 })
	clock.Set(now.Add(6 * time.Minute))
	eventually(t, "crossing decided", func() bool { return len(g.crossings(0)) == 1 })
	x := g.crossings(0)[0]
	assert.Equal(t, zone.DecisionUnauthorized, x.Decision)
	assert.Empty(t, x.ClearanceID)
	_, usedBy, ok := g.svc.book.Get("D-LATER")
	require.True(t, ok)
	assert.Empty(t, usedBy, "the clearance stays for its window")
}
