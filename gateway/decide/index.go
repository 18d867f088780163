package decide

import (
	"container/heap"
	"time"
)

// The correlator's indexes keep a step's cost in proportion to the events
// it takes rather than to what the correlator retains: tracks are kept
// three windows (at a busy gate, tens of thousands), devices may be
// thousands, and scanning them all at every step made the decider's cost
// grow with traffic.

// trackHeap is an indexed min-heap of tracks under one ordering; each
// track keeps its position so a changed key is fixed in O(log n) and a
// dropped track removed.
type trackHeap struct {
	items []*track
	less  func(a, b *track) bool
	pos   func(t *track) *int
}

func (h *trackHeap) Len() int           { return len(h.items) }
func (h *trackHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *trackHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]), *h.pos(h.items[j]) = i, j
}
func (h *trackHeap) Push(x any) {
	t := x.(*track)
	*h.pos(t) = len(h.items)
	h.items = append(h.items, t)
}
func (h *trackHeap) Pop() any {
	n := len(h.items) - 1
	t := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	*h.pos(t) = -1
	return t
}

func (h *trackHeap) add(t *track) { heap.Push(h, t) }
func (h *trackHeap) fix(t *track) { heap.Fix(h, *h.pos(t)) }
func (h *trackHeap) remove(t *track) {
	if i := *h.pos(t); i >= 0 {
		heap.Remove(h, i)
	}
}
func (h *trackHeap) min() *track {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// lowSeq is the lowest seq a track holds back from the replay point: its
// first detection, or the first beam of the crossing that used it.
func (t *track) lowSeq() uint64 {
	if t.usedFrom != 0 && t.usedFrom < t.firstSeq {
		return t.usedFrom
	}
	return t.firstSeq
}

func newTrackIndexes() (byEnd, byLow *trackHeap) {
	byEnd = &trackHeap{less: func(a, b *track) bool { return a.to.Before(b.to) }, pos: func(t *track) *int { return &t.endPos }}
	byLow = &trackHeap{less: func(a, b *track) bool { return a.lowSeq() < b.lowSeq() }, pos: func(t *track) *int { return &t.lowPos }}
	return byEnd, byLow
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
