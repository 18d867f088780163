package decide

import (
	"sync"
	"time"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// cachedClearance is a clearance as the gate holds it (see record.Clearance).
type cachedClearance = record.Clearance

func usable(c *cachedClearance) bool {
	return c.State == zone.ClearanceActive && c.UsedBy == ""
}

// Clearances is the gate's copy of every clearance for it. It lives in the
// store (so it is usable the moment the service starts, with no link) and in
// memory for the correlator, which claims from it through a ClaimSet.
type Clearances struct {
	gate  string
	clock *Clock

	mu   sync.Mutex
	byID map[string]*cachedClearance
}

// NewClearances returns the book of gate's clearances holding held (as the
// store keeps them), judged on clock.
func NewClearances(gate string, clock *Clock, held map[string]record.Clearance) *Clearances {
	return &Clearances{gate: gate, clock: clock, byID: byID(held)}
}

func byID(held map[string]record.Clearance) map[string]*cachedClearance {
	m := make(map[string]*cachedClearance, len(held))
	for id, cc := range held {
		m[id] = &cc
	}
	return m
}

// ClaimSet is one decision step's claims on the book. The correlator
// claims through it (it is the correlator's ClearanceBook); the claims
// reach the store with the crossings that carry them, in the step's
// transaction (the gate's Store.CommitStep), and the book only after that committed
// (Commit). A step that fails just drops its set: nothing to undo.
type ClaimSet struct {
	book  *Clearances
	taken map[string]bool // clearance IDs claimed in this step
}

// Begin starts a decision step's claim set.
func (c *Clearances) Begin() *ClaimSet {
	return &ClaimSet{book: c, taken: map[string]bool{}}
}

// Claim finds a usable clearance for an identity read in a direction at the
// event's time, not claimed before in this step, and claims it, so a
// second crossing cannot use it. Both the event time and the gate's clock
// must lie in the window, on both ends: a device's stamp is the device's
// word, so a crossing stamped tomorrow does not open tomorrow's clearance
// today, and an offline gate still refuses after the window. The clock
// never runs backwards here, so a clock step cannot extend a window.
func (s *ClaimSet) Claim(id zone.Identity, dir zone.Direction, at time.Time) (string, bool) {
	c := s.book
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *cachedClearance
	for _, cc := range c.byID {
		if !usable(cc) || s.taken[cc.ID] || !cc.Window.Contains(now) || !cc.Matches(c.gate, dir, id, at) {
			continue
		}
		// Of several matches take the one whose window closes first, so the
		// others stay for later moves; the ID breaks ties deterministically.
		if best == nil || cc.Window.To.Before(best.Window.To) || (cc.Window.To.Equal(best.Window.To) && cc.ID < best.ID) {
			best = cc
		}
	}
	if best == nil {
		return "", false
	}
	s.taken[best.ID] = true
	return best.ID, true
}

// Commit makes the claims of written crossings final in the book, once the
// step's transaction committed. A claim no written crossing carries (a
// replay of a crossing already stored) lapses.
func (s *ClaimSet) Commit(written []zone.Crossing) {
	c := s.book
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range written {
		if cc, ok := c.byID[x.ClearanceID]; ok && x.ClearanceID != "" && s.taken[x.ClearanceID] {
			cc.UsedBy = x.ID
		}
	}
	clear(s.taken)
}

// Replace replaces the memory copy with held, as read from the store.
func (c *Clearances) Replace(held map[string]record.Clearance) {
	fresh := byID(held)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID = fresh
}

// Put takes next, a clearance the store just wrote from a zone event.
func (c *Clearances) Put(next *record.Clearance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.byID[next.ID]; ok && cur.UsedBy != "" && next.UsedBy == "" {
		// A claim was committed after the store's transaction (on the
		// version it wrote): keep it, take the rest.
		next.UsedBy = cur.UsedBy
	}
	c.byID[next.ID] = next
}

// Usable counts the clearances usable now: active, not consumed, and not
// past their window on the gate's clock.
func (c *Clearances) Usable() int {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cc := range c.byID {
		if usable(cc) && !now.After(cc.Window.To) {
			n++
		}
	}
	return n
}

// Get returns a copy of a cached clearance.
func (c *Clearances) Get(id string) (zone.Clearance, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.byID[id]
	if !ok {
		return zone.Clearance{}, "", false
	}
	return cc.Clearance, cc.UsedBy, true
}

// ReleaseNote is the release-note number of a cached clearance ("" when it
// has none): the crossing that uses the clearance carries it.
func (c *Clearances) ReleaseNote(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.byID[id]; ok {
		return cc.ReleaseNote
	}
	return ""
}

// Clock is the gate's wall clock made monotonic: it never reads earlier
// than the highest time it has read before, including before a restart
// (the high-water mark is persisted), so stepping the clock back cannot
// re-open a clearance window.
type Clock struct {
	now func() time.Time
	mu  sync.Mutex
	hw  time.Time
}

// NewClock returns the gate clock reading now.
func NewClock(now func() time.Time) *Clock { return &Clock{now: now} }

// Now returns max(wall clock, high-water mark) and raises the mark.
func (g *Clock) Now() time.Time {
	t := g.now().UTC()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.hw) {
		g.hw = t
	}
	return g.hw
}

// Raise lifts the mark to at least t (the persisted value at start).
func (g *Clock) Raise(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.hw) {
		g.hw = t
	}
}

// Mark returns the high-water mark without reading the wall clock.
func (g *Clock) Mark() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hw
}
