package decide

import (
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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
	// byIdentity files each clearance under the loose key of each of its
	// identities, so a claim looks only at clearances that may match.
	byIdentity map[string][]*cachedClearance
	// gen counts the changes that can turn a refusal into a claim: a
	// clearance stored, the book replaced, a window opening on the gate
	// clock (opens is the next one to open). Commit only uses clearances
	// up, so it leaves gen alone.
	gen   uint64
	opens time.Time
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
	c.index()
	var best *cachedClearance
	for _, cc := range c.byIdentity[identityKey(id)] {
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
	c.byID, c.byIdentity = fresh, nil
}

// index files the book by identity when it is not (it is filed at the
// first claim after the book was made or replaced), which can turn
// refusals into claims as any new book can.
func (c *Clearances) index() {
	if c.byIdentity != nil {
		return
	}
	c.byIdentity = map[string][]*cachedClearance{}
	for _, cc := range c.byID {
		c.file(cc)
	}
	c.gen++
	c.nextOpening(c.clock.Mark())
}

// Put takes next, a clearance the store just wrote from a zone event.
func (c *Clearances) Put(next *record.Clearance) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index()
	cur, ok := c.byID[next.ID]
	if ok && cur.UsedBy != "" && next.UsedBy == "" {
		// A claim was committed after the store's transaction (on the
		// version it wrote): keep it, take the rest.
		next.UsedBy = cur.UsedBy
	}
	if ok {
		c.unfile(cur)
	}
	c.byID[next.ID] = next
	c.file(next)
	c.gen++
	if next.Window.From.After(c.clock.Mark()) && (c.opens.IsZero() || next.Window.From.Before(c.opens)) {
		c.opens = next.Window.From
	}
}

func (c *Clearances) file(cc *cachedClearance) {
	for _, id := range cc.Identities {
		k := identityKey(id)
		c.byIdentity[k] = append(c.byIdentity[k], cc)
	}
}

func (c *Clearances) unfile(cc *cachedClearance) {
	for _, id := range cc.Identities {
		k := identityKey(id)
		filed := c.byIdentity[k][:0]
		for _, o := range c.byIdentity[k] {
			if o != cc {
				filed = append(filed, o)
			}
		}
		if len(filed) == 0 {
			delete(c.byIdentity, k)
		} else {
			c.byIdentity[k] = filed
		}
	}
}

// nextOpening sets opens to the earliest window start after now.
func (c *Clearances) nextOpening(now time.Time) {
	c.opens = time.Time{}
	for _, cc := range c.byID {
		if from := cc.Window.From; from.After(now) && (c.opens.IsZero() || from.Before(c.opens)) {
			c.opens = from
		}
	}
}

// identityKey is a key under which every identity that zone's matching
// (Clearance.Matches) takes for id is filed: kind, then the letters and
// digits of the value with case folded. It is looser than zone's
// normalisation (which drops only a few separators), so it may file
// different identities together, never apart; Matches still decides.
func identityKey(id zone.Identity) string {
	if k, ok := asciiIdentityKey(id); ok {
		return k
	}
	return runeIdentityKey(id)
}

func runeIdentityKey(id zone.Identity) string {
	b := make([]rune, 0, len(id.Kind)+1+len(id.Value))
	b = append(b, []rune(id.Kind)...)
	b = append(b, 0)
	for _, r := range id.Value {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b = append(b, unicode.ToLower(unicode.ToUpper(r)))
		}
	}
	return string(b)
}

// asciiIdentityKey is identityKey for the usual identity, all ASCII, in one
// allocation: there a letter or digit is a byte and folds to lower case.
func asciiIdentityKey(id zone.Identity) (string, bool) {
	var buf [64]byte
	b, ok := appendASCIIIdentityKey(buf[:0], id)
	if !ok {
		return "", false
	}
	return string(b), true
}

// appendIdentityKey appends identityKey(id) to b.
func appendIdentityKey(b []byte, id zone.Identity) []byte {
	if k, ok := appendASCIIIdentityKey(b, id); ok {
		return k
	}
	return append(b, runeIdentityKey(id)...)
}

// appendASCIIIdentityKey appends asciiIdentityKey(id) to b, or reports
// false with b as it was.
func appendASCIIIdentityKey(b []byte, id zone.Identity) ([]byte, bool) {
	n := len(b)
	b = append(b, id.Kind...)
	b = append(b, 0)
	for i := n; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return b[:n], false
		}
	}
	for i := 0; i < len(id.Value); i++ {
		switch r := id.Value[i]; {
		case r >= utf8.RuneSelf:
			return b[:n], false
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			b = append(b, r)
		case 'A' <= r && r <= 'Z':
			b = append(b, r+'a'-'A')
		}
	}
	return b, true
}

// generation is the book's count of changes that can turn a refusal into
// a claim, as of the gate clock now: a claim set's refusals outlive it
// while this stays the same.
func (s *ClaimSet) generation() uint64 {
	c := s.book
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index()
	if !c.opens.IsZero() && !now.Before(c.opens) {
		c.gen++
		c.nextOpening(now)
	}
	return c.gen
}

// claimedAny says whether the set holds a claim: a refusal given then may
// be the claim's, which a later set does not hold.
func (s *ClaimSet) claimedAny() bool { return len(s.taken) > 0 }

// Empty says the step claimed no clearance.
func (s *ClaimSet) Empty() bool { return len(s.taken) == 0 }

// mayClaim says whether any clearance is filed under one of keys (see
// identityKey); when none is, a claim for their identities is refused
// whatever else it says.
func (s *ClaimSet) mayClaim(keys []string) bool {
	c := s.book
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index()
	for _, k := range keys {
		if len(c.byIdentity[k]) > 0 {
			return true
		}
	}
	return false
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
