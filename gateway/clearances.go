package gateway

import (
	"encoding/json"
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
// memory for the correlator. It is the correlator's ClearanceBook.
type Clearances struct {
	gate  string
	clock *gateClock

	mu      sync.Mutex
	byID    map[string]*cachedClearance
	pending map[string]pendingClaim // claims made by the correlator, not yet written
}

type pendingClaim struct {
	prevUsedBy string
}

func loadClearances(store Store, gate string, clock *gateClock) (*Clearances, error) {
	c := &Clearances{gate: gate, clock: clock, byID: map[string]*cachedClearance{}, pending: map[string]pendingClaim{}}
	held, err := store.Clearances()
	for id, cc := range held {
		c.byID[id] = &cc
	}
	return c, err
}

// Claim finds a usable clearance for an identity read in a direction at the
// event's time and marks it used, so a second crossing cannot use it. Both
// the event time and the gate's clock must lie in the window, on both ends:
// a device's stamp is the device's word, so a crossing stamped tomorrow does
// not open tomorrow's clearance today, and an offline gate still refuses
// after the window. The clock never runs backwards here, so a clock step
// cannot extend a window.
// The claim is tentative until the decider writes (commit) or drops
// (rollback) the crossing that carries it.
func (c *Clearances) Claim(id zone.Identity, dir zone.Direction, at time.Time) (string, bool) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *cachedClearance
	for _, cc := range c.byID {
		if !usable(cc) || !cc.Window.Contains(now) || !cc.Matches(c.gate, dir, id, at) {
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
	c.pending[best.ID] = pendingClaim{prevUsedBy: best.UsedBy}
	best.UsedBy = "pending"
	return best.ID, true
}

// confirm makes a written claim final in memory.
func (c *Clearances) confirm(clearanceID, crossingID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.byID[clearanceID]; ok {
		cc.UsedBy = crossingID
	}
	delete(c.pending, clearanceID)
}

// reload replaces the memory copy with what is on disk, dropping every
// claim not written.
func (c *Clearances) reload(store Store) error {
	fresh, err := loadClearances(store, c.gate, c.clock)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID, c.pending = fresh.byID, map[string]pendingClaim{}
	return nil
}

// settle undoes every claim not committed: the crossing that held it was
// not written (a replay of a crossing already stored, or a failed
// transaction).
func (c *Clearances) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.pending {
		if cc, ok := c.byID[id]; ok && cc.UsedBy == "pending" {
			cc.UsedBy = p.prevUsedBy
		}
		delete(c.pending, id)
	}
}

// applyEvent applies one clearance event from the zone to the store: the
// event ID goes into the consumed set (so a redelivery changes nothing),
// and the clearance is upserted unless the gate holds a newer version.
// Clearances for other gates are ignored. The in-memory copy is updated by
// the returned function, which the caller runs only after the store
// answered.
func (c *Clearances) applyEvent(store Store, ev zone.Event) (after func(), err error) {
	var cl zone.Clearance
	if err := json.Unmarshal(ev.Data, &cl); err != nil {
		return nil, zone.Errorf(zone.EINVALID, "clearance event %s: %v", ev.ID, err)
	}
	if cl.Gate != c.gate || cl.ID == "" {
		return nil, nil
	}
	if len(cl.ID) > zone.MaxKeyLen {
		return nil, zone.Errorf(zone.EINVALID, "clearance event %s: clearance id longer than %d bytes", ev.ID, zone.MaxKeyLen)
	}
	next, err := store.ApplyClearance(ev.ID, cl)
	if err != nil || next == nil {
		return nil, err
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cur, ok := c.byID[cl.ID]; ok && cur.UsedBy != "" && next.UsedBy == "" {
			// A claim is in flight for it ("pending"), or was written after
			// this transaction (on the version this one wrote): keep it,
			// take the rest.
			next.UsedBy = cur.UsedBy
		}
		c.byID[cl.ID] = next
	}, nil
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

// gateClock is the gate's wall clock made monotonic: it never reads earlier
// than the highest time it has read before, including before a restart
// (the high-water mark is persisted), so stepping the clock back cannot
// re-open a clearance window.
type gateClock struct {
	now func() time.Time
	mu  sync.Mutex
	hw  time.Time
}

// Now returns max(wall clock, high-water mark) and raises the mark.
func (g *gateClock) Now() time.Time {
	t := g.now().UTC()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.hw) {
		g.hw = t
	}
	return g.hw
}

// raise lifts the mark to at least t (the persisted value at start).
func (g *gateClock) raise(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.hw) {
		g.hw = t
	}
}

// mark returns the high-water mark without reading the wall clock.
func (g *gateClock) mark() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hw
}
