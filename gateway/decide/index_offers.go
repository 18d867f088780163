package decide

import (
	"cmp"
	"slices"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// Which tracks a pending crossing may use (candidates) is kept as it
// changes rather than worked out by asking, for every retained track,
// whether any other pending crossing lies nearer: a detection with a
// confident read asks it of its nearest crossing, and that scan grew with
// tracks × pending crossings.
//
// The invariant: every free retained track knows its nearest undecided
// pending crossings (ties included) and each of those lists it as offered.
// It is restored where its inputs change: a track's presence or direction
// (refresh), a track used or dropped (unoffer), a crossing made pending
// (offerNew) or decided (withdraw). What each costs: refresh the pending
// crossings near the track, offerNew the tracks that may reach the new
// crossing, withdraw a refresh per track the decided crossing left free.

// trackSlots indexes tracks by their last detection in slots a second
// wide, so the tracks that may reach a crossing are found without looking
// at older ones. Keys holds the occupied slots
// in order: a device stamping far ahead makes a distant slot, not a long
// walk.
type trackSlots struct {
	width int64 // seconds
	slots map[int64][]*track
	keys  []int64
}

func newTrackSlots() *trackSlots {
	return &trackSlots{width: 1, slots: map[int64][]*track{}}
}

func (s *trackSlots) key(at time.Time) int64 {
	sec := at.Unix()
	k := sec / s.width
	if sec%s.width != 0 && sec < 0 {
		k-- // floor, for stamps before 1970
	}
	return k
}

func (s *trackSlots) add(t *track) {
	k := s.key(t.to)
	ts, ok := s.slots[k]
	if !ok {
		i, _ := slices.BinarySearch(s.keys, k)
		s.keys = slices.Insert(s.keys, i, k)
	}
	t.slot, t.slotPos = k, int32(len(ts))
	s.slots[k] = append(ts, t)
}

func (s *trackSlots) remove(t *track) {
	ts := s.slots[t.slot]
	last := len(ts) - 1
	ts[t.slotPos] = ts[last]
	ts[t.slotPos].slotPos = t.slotPos
	ts[last] = nil
	ts = ts[:last]
	if len(ts) > 0 {
		s.slots[t.slot] = ts
		return
	}
	delete(s.slots, t.slot)
	if i, ok := slices.BinarySearch(s.keys, t.slot); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
}

// moved re-files t after its last detection changed.
func (s *trackSlots) moved(t *track) {
	if s.key(t.to) != t.slot {
		s.remove(t)
		s.add(t)
	}
}

// endingFrom calls fn for every track whose last detection is at or after
// from, and a few before it (those sharing its slot).
func (s *trackSlots) endingFrom(from time.Time, fn func(*track)) {
	i, _ := slices.BinarySearch(s.keys, s.key(from))
	for _, k := range s.keys[i:] {
		for _, t := range s.slots[k] {
			fn(t)
		}
	}
}

// closer orders two nearnesses: gap first, then the distance of middles.
func closer(g1, m1, g2, m2 time.Duration) bool {
	return g1 < g2 || (g1 == g2 && m1 < m2)
}

// middle is halfway through a track's presence (for nearness).
func (t *track) middle() time.Time {
	return t.from.Add(t.to.Sub(t.from) / 2)
}

// unoffer takes t off every crossing it is offered to.
func (c *Correlator) unoffer(t *track) {
	for k, p := range t.offeredTo {
		p.dropOffer(t.offeredAt[k])
	}
	clear(t.offeredTo)
	t.offeredTo, t.offeredAt = t.offeredTo[:0], t.offeredAt[:0]
}

// offer lists t as offered to p, the last of t.offeredTo.
func (p *pendingCrossing) offer(t *track) {
	t.offeredAt = append(t.offeredAt, len(p.offered))
	p.offered = append(p.offered, t)
}

// dropOffer takes the track at i off p's offered; the last one takes its
// place, and its offeredAt says so.
func (p *pendingCrossing) dropOffer(i int) {
	last := len(p.offered) - 1
	if i != last {
		moved := p.offered[last]
		p.offered[i] = moved
		moved.offeredAt[slices.Index(moved.offeredTo, p)] = i
	}
	p.offered[last] = nil
	p.offered = p.offered[:last]
}

// holds reports whether t is offered to p.
func (p *pendingCrossing) holds(t *track) bool { return slices.Contains(t.offeredTo, p) }

// refresh finds t's nearest undecided pending crossings again, after its
// presence or direction changed or it lost the crossings it had. It walks
// the pending crossings of t's direction outward from t's middle in order
// of start and stops where none further can lie as near as the best found
// (a crossing lasts at most a window), so it looks at the crossings near t,
// not at every pending one.
func (c *Correlator) refresh(t *track) {
	c.unoffer(t)
	if t.usedBy != "" {
		return
	}
	for i, d := range directions {
		if t.dir == "" || t.dir == d {
			c.nearestOn(c.lines[i].crossings, c.lines[i].longest, t)
		}
	}
	if len(t.offeredTo) > 1 { // found walking outward: put back in pending order
		slices.SortFunc(t.offeredTo, func(a, b *pendingCrossing) int { return cmp.Compare(a.order, b.order) })
	}
	t.offeredAt = t.offeredAt[:0]
	for _, p := range t.offeredTo {
		p.offer(t)
		p.fresh = append(p.fresh, t)
	}
}

// directions are those of the lines (a crossing's, never "").
var directions = [...]zone.Direction{zone.In, zone.Out}

// line is the undecided pending crossings of one direction, ordered by
// start (then arrival), how long the longest of them lasts and how many
// last that long (most pairs last alike: one leaving rarely means a scan).
type line struct {
	crossings []*pendingCrossing
	longest   time.Duration
	atLongest int
}

// lineOf is the line of crossings in direction d.
func (c *Correlator) lineOf(d zone.Direction) *line {
	if d == directions[1] {
		return &c.lines[1]
	}
	return &c.lines[0]
}

// nearestOn adds to t's nearest crossings those of one line (one
// direction, ordered by start, none lasting longer than longest) that lie
// at least as near.
func (c *Correlator) nearestOn(line []*pendingCrossing, longest time.Duration, t *track) {
	w := c.cfg.Window
	consider := func(q *pendingCrossing) {
		if !c.candidate(t, q) {
			return
		}
		g, m := nearness(t, q)
		if len(t.offeredTo) > 0 {
			if closer(t.gap, t.midGap, g, m) {
				return
			}
			if closer(g, m, t.gap, t.midGap) {
				clear(t.offeredTo)
				t.offeredTo = t.offeredTo[:0]
			}
		}
		t.gap, t.midGap = g, m
		t.offeredTo = append(t.offeredTo, q)
	}
	// beyond is whether a crossing starting at s, and every one further
	// out, lies strictly farther than the best found or outside t's reach:
	// gapLB and midLB bound its nearness from below.
	beyond := func(gapLB, midLB time.Duration) bool {
		return gapLB > w || (len(t.offeredTo) > 0 && closer(t.gap, t.midGap, gapLB, midLB))
	}
	mid := t.middle()
	i, _ := slices.BinarySearchFunc(line, mid, func(q *pendingCrossing, at time.Time) int { return q.start().Compare(at) })
	for _, q := range line[i:] {
		// Starting at or after t's middle: its gap is at least how far it
		// starts past t's end, its middle at least its start.
		if beyond(max(0, q.start().Sub(t.to)), q.start().Sub(mid)) {
			break
		}
		consider(q)
	}
	for j := i - 1; j >= 0; j-- {
		q := line[j]
		// Starting before t's middle: it ends at most longest after its
		// start (a pair's breaks lie at most a window apart, and most
		// crossings last far less), its middle at most half that after.
		if beyond(max(0, t.from.Sub(q.start())-longest), max(0, mid.Sub(q.start())-longest/2)) {
			break
		}
		consider(q)
	}
}

// enter puts p, just made pending, on its direction's line, ordered by
// start (then arrival); leave takes it off once decided.
func (c *Correlator) enter(p *pendingCrossing) {
	l := c.lineOf(p.dir)
	i, _ := slices.BinarySearchFunc(l.crossings, p, comparePending)
	l.crossings = slices.Insert(l.crossings, i, p)
	switch d := p.end().Sub(p.start()); {
	case d > l.longest || len(l.crossings) == 1:
		l.longest, l.atLongest = d, 1
	case d == l.longest:
		l.atLongest++
	}
}

func (c *Correlator) leave(p *pendingCrossing) {
	l := c.lineOf(p.dir)
	if i, ok := slices.BinarySearchFunc(l.crossings, p, comparePending); ok {
		l.crossings = slices.Delete(l.crossings, i, i+1)
	}
	if p.end().Sub(p.start()) != l.longest {
		return
	}
	if l.atLongest--; l.atLongest > 0 {
		return
	}
	l.longest = 0
	for _, q := range l.crossings {
		switch d := q.end().Sub(q.start()); {
		case d > l.longest:
			l.longest, l.atLongest = d, 1
		case d == l.longest:
			l.atLongest++
		}
	}
}

func comparePending(a, b *pendingCrossing) int {
	if n := a.start().Compare(b.start()); n != 0 {
		return n
	}
	return cmp.Compare(a.order, b.order)
}

// reachFrom is the earliest last detection of a track that p may be
// nearest to: one in p's window, and not ending before the start of
// another crossing on p's line that starts before p (that one lies
// nearer to it, and may describe it too).
func (c *Correlator) reachFrom(p *pendingCrossing) time.Time {
	from := p.start().Add(-c.cfg.Window)
	line := c.lineOf(p.dir).crossings
	i, _ := slices.BinarySearchFunc(line, p.start(), func(q *pendingCrossing, at time.Time) int { return q.start().Compare(at) })
	if i > 0 && line[i-1].start().After(from) {
		return line[i-1].start()
	}
	return from
}

// offerNew makes p, just added to the pending crossings, the nearest
// crossing of every free track that lies nearer to it than to the ones
// it had (or as near: then it is offered to both).
func (c *Correlator) offerNew(p *pendingCrossing) {
	p.order = c.pendingSeq
	c.pendingSeq++
	p.offered = []*track{}
	p.fresh = nil // what offerNew offers was just tried
	c.enter(p)
	c.slots.endingFrom(c.reachFrom(p), func(t *track) {
		if !c.candidate(t, p) {
			return
		}
		g, m := nearness(t, p)
		if len(t.offeredTo) > 0 {
			if closer(t.gap, t.midGap, g, m) {
				return
			}
			if closer(g, m, t.gap, t.midGap) {
				c.unoffer(t)
			}
		}
		t.gap, t.midGap = g, m
		t.offeredTo = append(t.offeredTo, p) // p is the last pending
		p.offer(t)
	})
}

// withdraw takes decided p out of the offers: each track it held goes to
// its next nearest crossing.
func (c *Correlator) withdraw(p *pendingCrossing) {
	if p.offered == nil {
		return // never pending
	}
	c.leave(p)
	var heads [len(directions)][]*pendingCrossing
	for i := range c.lines {
		heads[i] = c.lines[i].head()
	}
	for _, t := range p.offered {
		if k := slices.Index(t.offeredTo, p); k >= 0 {
			t.offeredTo = slices.Delete(t.offeredTo, k, k+1)
			t.offeredAt = slices.Delete(t.offeredAt, k, k+1)
		}
		if len(t.offeredTo) == 0 && !c.offerHeads(t, heads) {
			c.refresh(t)
		}
	}
	p.offered, p.fresh = nil, nil
}

// head is the crossings of l that lie nearest to every track ending
// before all of them: those starting first and, of those, with the
// earliest middle (in pending order).
func (l *line) head() []*pendingCrossing {
	var out []*pendingCrossing
	for _, q := range l.crossings {
		if len(out) > 0 {
			if !q.start().Equal(out[0].start()) {
				break
			}
			if q.mid.After(out[0].mid) {
				continue
			}
			if q.mid.Before(out[0].mid) {
				out = out[:0]
			}
		}
		out = append(out, q)
	}
	return out
}

// offerHeads is refresh for a free track that ends before every crossing
// on its lines, as the bulk of a decided crossing's tracks do: its
// nearest are the heads of its lines (the nearer, or both if as near),
// found once per withdraw rather than by a search per track. It reports
// false, doing nothing, for any other track.
func (c *Correlator) offerHeads(t *track, heads [len(directions)][]*pendingCrossing) bool {
	if t.usedBy != "" {
		return false
	}
	for i, d := range directions {
		if (t.dir == "" || t.dir == d) && len(heads[i]) > 0 && !t.to.Before(heads[i][0].start()) {
			return false
		}
	}
	// The track's offers are gone (withdraw), so t.offeredTo is free to
	// build the new ones in.
	lines := 0
	for i, d := range directions {
		if t.dir != "" && t.dir != d || len(heads[i]) == 0 || !c.candidate(t, heads[i][0]) {
			continue
		}
		// Every crossing of a head lies as near: same start, same middle.
		g, m := nearness(t, heads[i][0])
		if len(t.offeredTo) > 0 {
			if closer(t.gap, t.midGap, g, m) {
				continue
			}
			if closer(g, m, t.gap, t.midGap) {
				t.offeredTo = t.offeredTo[:0]
			}
		}
		if len(t.offeredTo) == 0 {
			lines = 0
		}
		lines++
		t.gap, t.midGap = g, m
		t.offeredTo = append(t.offeredTo, heads[i]...)
	}
	if lines > 1 { // as near on both lines: put back in pending order
		slices.SortFunc(t.offeredTo, func(a, b *pendingCrossing) int { return cmp.Compare(a.order, b.order) })
	}
	t.offeredAt = t.offeredAt[:0]
	for _, q := range t.offeredTo {
		q.offer(t)
		q.fresh = append(q.fresh, t)
	}
	return true
}

// offeredTracks lists the tracks offered to p, in arrival order. A
// crossing not yet pending (a pair just completed) is offered every free
// track in its window that no pending crossing holds nearer.
func (c *Correlator) offeredTracks(p *pendingCrossing) []*track {
	out := c.offeredUnordered(p)
	slices.SortFunc(out, func(a, b *track) int { return a.firstSeen - b.firstSeen })
	return out
}

// offeredUnordered is offeredTracks in no particular order.
func (c *Correlator) offeredUnordered(p *pendingCrossing) []*track {
	var out []*track
	if p.offered != nil {
		out = slices.Clone(p.offered)
	} else {
		c.slots.endingFrom(c.reachFrom(p), func(t *track) {
			if !c.candidate(t, p) {
				return
			}
			if g, m := nearness(t, p); len(t.offeredTo) == 0 || !closer(t.gap, t.midGap, g, m) {
				out = append(out, t)
			}
		})
	}
	return out
}

// claimants lists, of the tracks offered to p (all of them when p is not
// pending yet; with fresh, only p's fresh ones), those whose reads can
// claim a clearance (not persons, some read confident; of set's book, one
// filed there), in the order they are asked: declared objects before
// their conveyance, then nearest in time, then arrival.
func (c *Correlator) claimants(p *pendingCrossing, fresh bool, set *ClaimSet) []claimant {
	var out []claimant
	add := func(t *track) {
		if t.class == ClassPerson || len(t.confident) == 0 {
			return
		}
		if set != nil && !set.mayClaim(t.keys) {
			return
		}
		g, m := nearness(t, p)
		out = append(out, claimant{t: t, rank: classRank(t.class), gap: g, mid: m})
	}
	switch {
	case fresh:
		for _, t := range p.fresh {
			if p.holds(t) {
				add(t)
			}
		}
	case p.offered != nil:
		for _, t := range p.offered {
			add(t)
		}
	default:
		for _, t := range c.offeredUnordered(p) {
			add(t)
		}
	}
	slices.SortFunc(out, func(a, b claimant) int {
		return cmp.Or(a.rank-b.rank, cmp.Compare(a.gap, b.gap), cmp.Compare(a.mid, b.mid), a.t.firstSeen-b.t.firstSeen)
	})
	if fresh {
		out = slices.CompactFunc(out, func(a, b claimant) bool { return a.t == b.t })
	}
	return out
}

type claimant struct {
	t        *track
	rank     int
	gap, mid time.Duration
}

// indexID files t under its track ID (one per camera that saw it), for
// adopting a recorded crossing's tracks, while the index is kept.
func (c *Correlator) indexID(t *track) {
	if c.byID != nil {
		c.byID[t.id] = append(c.byID[t.id], t)
	}
}

// keepTrackIDs starts the track-ID index from the tracks held, each ID's
// tracks in order of arrival as indexID would have filed them.
func (c *Correlator) keepTrackIDs() {
	if c.byID != nil {
		return
	}
	all := slices.Clone(c.tracks)
	slices.SortFunc(all, func(a, b *track) int { return a.firstSeen - b.firstSeen })
	c.byID = make(map[string][]*track, len(all))
	for _, t := range all {
		c.byID[t.id] = append(c.byID[t.id], t)
	}
}

// EndReplay says the replay after a restart is over: no recorded crossing
// lies ahead, so the track-ID index is no longer kept.
func (c *Correlator) EndReplay() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID = nil
}

func (c *Correlator) unindexID(t *track) {
	if c.byID == nil {
		return
	}
	ts := c.byID[t.id]
	if i := slices.Index(ts, t); i >= 0 {
		ts = slices.Delete(ts, i, i+1)
	}
	if len(ts) == 0 {
		delete(c.byID, t.id)
		return
	}
	c.byID[t.id] = ts
}
