package gateway

import (
	"testing"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/stretchr/testify/require"
)

// The hand-over from ingest to the decider is bounded: past its bound (a
// decider far behind) events are left to be parsed from disk, an event is
// handed over once, and nothing the decider has passed is kept. The
// decider takes in seq order, so what it skips (read from disk or set
// aside) is dropped.
func TestParsedHandOverIsBoundedAndTakenOnce(t *testing.T) {
	p := newParsedEvents(3)
	evs := []*decide.SensorEvent{{EventID: "a"}, {EventID: "b"}, {EventID: "c"}, {EventID: "d"}}
	p.put([]uint64{1, 2, 3, 4}, evs)
	ev, ok := p.take(2)
	require.True(t, ok)
	require.Equal(t, "b", ev.EventID)
	_, ok = p.take(2)
	require.False(t, ok, "handed over once")
	_, ok = p.take(1)
	require.False(t, ok, "skipped for seq 2, so dropped")
	ev, ok = p.take(3)
	require.True(t, ok)
	require.Equal(t, "c", ev.EventID)
	_, ok = p.take(4)
	require.False(t, ok, "past the bound the event is read from disk")

	p = newParsedEvents(3)
	p.forget(3) // decided through seq 3 (read from disk before the put)
	p.put([]uint64{3, 5}, evs[2:])
	_, ok = p.take(3)
	require.False(t, ok, "a decided seq is not kept")
	_, ok = p.take(5)
	require.True(t, ok)

	// A decider that keeps up never lets the hand-over fill: what it passed
	// is gone, and room is made for what comes next.
	p = newParsedEvents(3)
	for seq := uint64(1); seq <= 3000; seq += 3 {
		p.put([]uint64{seq, seq + 1, seq + 2}, evs[:3])
		p.forget(seq + 2)
	}
	p.put([]uint64{3001}, evs[3:])
	ev, ok = p.take(3001)
	require.True(t, ok)
	require.Equal(t, "d", ev.EventID)
}
