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
// item names its track by handle and the positions are kept by handle
// (heldTracks): a pop moves some eighteen items, and writing each one's
// position into its track was a cache miss apiece; nor does the collector
// follow the items, which hold no pointer.
type trackHeap struct {
	items []heapItem
	byEnd bool // ordered by last detection; else by the seq held back (lowSeq)
	held  *heldTracks
}

// heapItem is a track's handle with its key: by last detection, its Unix
// second and nanosecond (the order of time.Before for the stamps a device
// sends, which carry no monotonic reading); else lowSeq in lo.
type heapItem struct {
	hi int64
	lo uint64
	h  int32
}

// heldTracks numbers the tracks held with handles, reused once a track is
// dropped, and keeps by handle each track's positions in the two heaps.
type heldTracks struct {
	tracks []*track
	pos    [][2]int32 // place in byEnd, in byLow; -1 off it
	free   []int32
}

// add gives t a handle.
func (s *heldTracks) add(t *track) {
	if n := len(s.free); n > 0 {
		t.handle, s.free = s.free[n-1], s.free[:n-1]
		s.tracks[t.handle] = t
		return
	}
	t.handle = int32(len(s.tracks))
	s.tracks = append(s.tracks, t)
	s.pos = append(s.pos, [2]int32{-1, -1})
}

// remove frees t's handle; t is off both heaps.
func (s *heldTracks) remove(t *track) {
	s.tracks[t.handle] = nil
	s.free = append(s.free, t.handle)
}

func (h *trackHeap) item(t *track) heapItem {
	if h.byEnd {
		return heapItem{hi: t.to.Unix(), lo: uint64(t.to.Nanosecond()), h: t.handle}
	}
	return heapItem{lo: t.lowSeq(), h: t.handle}
}

// which is h's column in heldTracks.pos.
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
	h.held.pos[handle][h.which()] = int32(i)
}

func (h *trackHeap) pos(t *track) int {
	return int(h.held.pos[t.handle][h.which()])
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
	return h.held.tracks[handle]
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
	return h.held.tracks[h.items[0].h]
}

// lowSeq is the lowest seq a track holds back from the replay point: its
// first detection, or the first beam of the crossing that used it.
func (t *track) lowSeq() uint64 {
	if t.usedFrom != 0 && t.usedFrom < t.firstSeq {
		return t.usedFrom
	}
	return t.firstSeq
}

func newTrackIndexes(held *heldTracks) (byEnd, byLow *trackHeap) {
	return &trackHeap{byEnd: true, held: held}, &trackHeap{held: held}
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

// The tracks are filed by a 64-bit hash of their key (camera and track
// ID), not by the key: under a flood of new tracks every detection misses
// and every shed track is deleted, and a map keyed by the string reads
// the key's bytes, far apart in memory, on both (with a 200,000-track
// bound they were a third of the correlator's time). Tracks whose keys
// share a hash chain through sameHash; the count is kept apart, as the
// map holds one entry per hash.

// trackHash hashes a track's key; a correlator keeps one with its seed.
type trackHash func(key []byte) uint64

func newTrackHash() trackHash {
	seed := maphash.MakeSeed()
	return func(key []byte) uint64 { return maphash.Bytes(seed, key) }
}

// track returns the track with key, and key's hash.
func (c *Correlator) track(key []byte) (*track, uint64) {
	h := c.hash(key)
	for t := c.tracks[h]; t != nil; t = t.sameHash {
		if t.key == string(key) {
			return t, h
		}
	}
	return nil, h
}

// fileTrack files t, whose hash is set, under it.
func (c *Correlator) fileTrack(t *track) {
	if t.sameHash = c.tracks[t.hash]; t.sameHash != nil {
		t.sameHash.behind = true
	}
	c.tracks[t.hash] = t
	c.ntracks++
}

// unfileTrack takes t off its hash.
func (c *Correlator) unfileTrack(t *track) {
	if !t.behind && t.sameHash == nil { // alone under its hash: the usual case
		delete(c.tracks, t.hash)
		c.ntracks--
		return
	}
	switch head := c.tracks[t.hash]; {
	case head == t && t.sameHash == nil:
		delete(c.tracks, t.hash)
	case head == t:
		c.tracks[t.hash] = t.sameHash
	default:
		for u := head; u != nil; u = u.sameHash {
			if u.sameHash == t {
				u.sameHash = t.sameHash
				break
			}
		}
	}
	t.sameHash = nil
	c.ntracks--
}

// eachTrack calls fn for every track held, in no order.
func (c *Correlator) eachTrack(fn func(*track)) {
	for _, t := range c.tracks {
		for ; t != nil; t = t.sameHash {
			fn(t)
		}
	}
}
