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
	// The events ingest parsed, not copies: an event of this size would be
	// stored apart from the map, one allocation per event. Nothing writes
	// to an event once it is committed.
	m   map[uint64]*decide.SensorEvent
	max int
	// passed is the last seq the decider has taken into a committed step:
	// an event at or below it is decided already and not kept.
	passed uint64
}

// maxParsed bounds the hand-over: a decider that far behind reads from disk.
const maxParsed = 50_000

func newParsedEvents(max int) *parsedEvents {
	return &parsedEvents{m: make(map[uint64]*decide.SensorEvent), max: max}
}

// put offers committed events; past the bound they are left to the disk.
func (p *parsedEvents) put(seqs []uint64, evs []*decide.SensorEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, seq := range seqs {
		if len(p.m) >= p.max {
			return
		}
		if seq > p.passed {
			p.m[seq] = evs[i]
		}
	}
}

// take returns and forgets the parsed event of seq, if held.
func (p *parsedEvents) take(seq uint64) (decide.SensorEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, ok := p.m[seq]
	if !ok {
		return decide.SensorEvent{}, false
	}
	delete(p.m, seq)
	return *ev, true
}

// forget records that the decider has passed seq, and once the map is full
// drops what lies at or below it (events it read from disk before they
// were put, or set aside without taking).
func (p *parsedEvents) forget(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passed = max(p.passed, seq)
	if len(p.m) < p.max {
		return
	}
	for s := range p.m {
		if s <= seq {
			delete(p.m, s)
		}
	}
}
