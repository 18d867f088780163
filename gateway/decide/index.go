package decide

import (
	"hash/maphash"
	"time"
)

// The correlator's indexes keep a step's cost in proportion to the events
// it takes rather than to what the correlator retains: tracks are kept
// three windows (at a busy gate, tens of thousands), devices may be
// thousands, and scanning them all at every step made the decider's cost
// grow with traffic.

// trackHeap is an indexed min-heap of tracks under one ordering; each
// track keeps its position so a changed key is fixed in O(log n) and a
// dropped track removed. It moves tracks exactly as container/heap would
// (ties among equal keys fall the same way, so which track a bound sheds
// is unchanged), comparing keys held beside each track rather than
// reading them through an interface, two function values and the track
// itself: under a flood of new tracks the heaps took a quarter of the
// decider's time, most of it waiting on memory. For the same reason an
// item names its track by handle (its place in the correlator's tracks)
// and the positions are kept by handle in one dense slice: a pop moves
// some eighteen items, and writing each one's position into its track was
// a cache miss apiece; nor does the collector follow the items, which
// hold no pointer.
type trackHeap struct {
	items []heapItem
	byEnd bool // ordered by last detection; else by the seq held back (lowSeq)
	c     *Correlator
}

// heapItem is a track's handle with its key: by last detection, its Unix
// second and nanosecond (the order of time.Before for the stamps a device
// sends, which carry no monotonic reading); else lowSeq in lo.
type heapItem struct {
	hi int64
	lo uint64
	h  int32
}

func (h *trackHeap) item(t *track) heapItem {
	if h.byEnd {
		return heapItem{hi: t.to.Unix(), lo: uint64(t.to.Nanosecond()), h: t.handle}
	}
	return heapItem{lo: t.lowSeq(), h: t.handle}
}

// which is h's column in Correlator.trackPos.
func (h *trackHeap) which() int {
	if h.byEnd {
		return 0
	}
	return 1
}

func (h *trackHeap) less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo)
}

func (h *trackHeap) setPos(handle int32, i int) {
	h.c.trackPos[handle][h.which()] = int32(i)
}

func (h *trackHeap) pos(t *track) int {
	return int(h.c.trackPos[t.handle][h.which()])
}

func (h *trackHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.setPos(h.items[i].h, i)
	h.setPos(h.items[j].h, j)
}

// up and down are container/heap's.
func (h *trackHeap) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *trackHeap) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.less(j2, j1) {
			j = j2 // = 2*i + 2  // right child
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// popLast takes the last item off.
func (h *trackHeap) popLast() *track {
	n := len(h.items) - 1
	handle := h.items[n].h
	h.items = h.items[:n]
	h.setPos(handle, -1)
	return h.c.tracks[handle]
}

func (h *trackHeap) Len() int { return len(h.items) }

func (h *trackHeap) add(t *track) {
	h.setPos(t.handle, len(h.items))
	h.items = append(h.items, h.item(t))
	h.up(len(h.items) - 1)
}

// fix re-files t after its key changed.
func (h *trackHeap) fix(t *track) {
	i := h.pos(t)
	h.items[i] = h.item(t)
	if !h.down(i, len(h.items)) {
		h.up(i)
	}
}

func (h *trackHeap) remove(t *track) {
	i := h.pos(t)
	if i < 0 {
		return
	}
	if n := len(h.items) - 1; n != i {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	h.popLast()
}

// pop takes the least track off.
func (h *trackHeap) pop() *track {
	n := len(h.items) - 1
	h.swap(0, n)
	h.down(0, n)
	return h.popLast()
}

func (h *trackHeap) min() *track {
	if len(h.items) == 0 {
		return nil
	}
	return h.c.tracks[h.items[0].h]
}

// lowSeq is the lowest seq a track holds back from the replay point: its
// first detection, or the first beam of the crossing that used it.
func (t *track) lowSeq() uint64 {
	if t.usedFrom != 0 && t.usedFrom < t.firstSeq {
		return t.usedFrom
	}
	return t.firstSeq
}

func newTrackIndexes(c *Correlator) (byEnd, byLow *trackHeap) {
	return &trackHeap{byEnd: true, c: c}, &trackHeap{c: c}
}

// silence is one device's entry in the silence queue: the LastSeen it was
// queued with. At most one entry per device is queued; a popped entry
// whose device has been heard since is queued again at its new LastSeen.
type silence struct {
	at time.Time
	id string
}

type silenceHeap []silence

func (h silenceHeap) Len() int { return len(h) }
func (h silenceHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].id < h[j].id
}
func (h silenceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *silenceHeap) Push(x any)   { *h = append(*h, x.(silence)) }
func (h *silenceHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// The tracks are found by key (camera and track ID) through a table of
// their handles under a 64-bit hash of the key, open addressed: under a
// flood of new tracks every detection misses and every shed track is
// removed, and a map keyed by the string read the key's bytes, far apart
// in memory, on both, beside its own directory, table and group (with a
// 200,000-track bound they were a third of the correlator's time). A miss
// here mostly reads one cache line of the table.

// trackHash hashes a track's key; a correlator keeps one with its seed.
type trackHash func(key []byte) uint64

func newTrackHash() trackHash {
	seed := maphash.MakeSeed()
	return func(key []byte) uint64 { return maphash.Bytes(seed, key) }
}

// trackTable is a linear-probing hash table of handles. An entry holds the
// upper half of its track's hash, which also places it, and the handle
// plus one (0 is an empty slot); a removal shifts the entries after it
// back, so no tombstones build up as tracks come and go.
type trackTable struct {
	slots []uint64
	n     int
}

const handleMask = 1<<32 - 1

func tableEntry(t *track) uint64 { return t.hash&^handleMask | uint64(t.handle) + 1 }

func (x *trackTable) home(e uint64) int { return int(e>>32) & (len(x.slots) - 1) }

func (x *trackTable) put(e uint64) {
	i := x.home(e)
	for x.slots[i] != 0 {
		i = (i + 1) & (len(x.slots) - 1)
	}
	x.slots[i] = e
}

// find is the slot of entry e, which the table holds.
func (x *trackTable) find(e uint64) int {
	i := x.home(e)
	for x.slots[i] != e {
		i = (i + 1) & (len(x.slots) - 1)
	}
	return i
}

// remove empties slot i, moving back the entries after it that may not
// lie past an empty slot on their probe.
func (x *trackTable) remove(i int) {
	mask := len(x.slots) - 1
	for {
		x.slots[i] = 0
		j := i
		for {
			j = (j + 1) & mask
			if x.slots[j] == 0 {
				return
			}
			// The entry at j stays if its home lies cyclically in (i, j].
			k := x.home(x.slots[j])
			if i <= j && i < k && k <= j || i > j && (i < k || k <= j) {
				continue
			}
			x.slots[i] = x.slots[j]
			i = j
			break
		}
	}
}

// track returns the track with key, and key's hash.
func (c *Correlator) track(key []byte) (*track, uint64) {
	h := c.hash(key)
	x := &c.byKey
	if len(x.slots) == 0 {
		return nil, h
	}
	mask := len(x.slots) - 1
	for i := int(h>>32) & mask; ; i = (i + 1) & mask {
		e := x.slots[i]
		if e == 0 {
			return nil, h
		}
		if e&^handleMask == h&^handleMask {
			if t := c.tracks[e&handleMask-1]; t.key == string(key) {
				return t, h
			}
		}
	}
}

// holdTrack gives t, whose hash is set, the next handle and files it.
func (c *Correlator) holdTrack(t *track) {
	t.handle = int32(len(c.tracks))
	c.tracks = append(c.tracks, t)
	c.trackPos = append(c.trackPos, [2]int32{-1, -1})
	x := &c.byKey
	if 2*(x.n+1) > len(x.slots) { // at most half full: probes stay short
		old := x.slots
		x.slots = make([]uint64, max(64, 2*len(old)))
		for _, e := range old {
			if e != 0 {
				x.put(e)
			}
		}
	}
	x.put(tableEntry(t))
	x.n++
}

// releaseTrack forgets t, which is off both heaps; the last track takes
// its handle.
func (c *Correlator) releaseTrack(t *track) {
	x := &c.byKey
	x.remove(x.find(tableEntry(t)))
	x.n--
	last := int32(len(c.tracks) - 1)
	if m := c.tracks[last]; m != t {
		i := x.find(tableEntry(m))
		m.handle = t.handle
		x.slots[i] = tableEntry(m)
		c.tracks[m.handle] = m
		c.trackPos[m.handle] = c.trackPos[last]
		for k, h := range [...]*trackHeap{c.byEnd, c.byLow} {
			if p := c.trackPos[m.handle][k]; p >= 0 {
				h.items[p].h = m.handle
			}
		}
	}
	c.tracks[last] = nil
	c.tracks = c.tracks[:last]
	c.trackPos = c.trackPos[:last]
}
