package gateway

import (
	"sync"

	"github.com/bondgate/bondgate/gateway/decide"
)

// parsedEvents hands the events ingest parsed and committed to the
// decider by seq, so a live event is parsed once (at ingest) rather than
// again when it is decided. The log on disk stays the raw bytes the
// hardware sent; the decider parses from there whatever it does not find
// here (a replay after a restart, a backlog past the bound). What is here
// is exactly what was stored under that seq: the committer puts an event
// only after the transaction that gave it its seq committed.
type parsedEvents struct {
	mu sync.Mutex
	// The events ingest parsed, not copies, in seq order: the committer
	// puts them as it commits, and seqs only grow. The decider takes them
	// in the same order, so the front is all it ever looks at.
	q    []parsedEvent
	head int // q[:head] is taken
	max  int
	// passed is the last seq the decider has taken (written or held):
	// an event at or below it is decided already and not kept.
	passed uint64
}

type parsedEvent struct {
	seq uint64
	ev  *decide.SensorEvent
}

// maxParsed bounds the hand-over: a decider that far behind reads from disk.
const maxParsed = 50_000

func newParsedEvents(max int) *parsedEvents {
	return &parsedEvents{max: max}
}

// put offers committed events; past the bound they are left to the disk.
func (p *parsedEvents) put(seqs []uint64, evs []*decide.SensorEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, seq := range seqs {
		if len(p.q)-p.head >= p.max {
			return
		}
		if seq > p.passed {
			p.q = append(p.q, parsedEvent{seq: seq, ev: evs[i]})
		}
	}
}

// take returns and forgets the parsed event of seq, if held, and whatever
// is held before it (events read from disk or set aside instead).
func (p *parsedEvents) take(seq uint64) (decide.SensorEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropThrough(seq - 1)
	if p.head == len(p.q) || p.q[p.head].seq != seq {
		return decide.SensorEvent{}, false
	}
	ev := p.q[p.head].ev
	p.q[p.head] = parsedEvent{}
	p.head++
	return *ev, true
}

// forget records that the decider has passed seq and drops what is held at
// or below it.
func (p *parsedEvents) forget(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passed = max(p.passed, seq)
	p.dropThrough(seq)
}

// dropThrough drops the held events with seq <= through; mu is held.
func (p *parsedEvents) dropThrough(through uint64) {
	for p.head < len(p.q) && p.q[p.head].seq <= through {
		p.q[p.head] = parsedEvent{}
		p.head++
	}
	switch {
	case p.head == len(p.q):
		p.q, p.head = p.q[:0], 0
	case p.head > len(p.q)/2 && p.head > 1024:
		// Slide the rest down rather than let the front grow the slice.
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
}
