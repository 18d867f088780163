package gateway

import (
	"testing"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/stretchr/testify/require"
)

// The hand-over from ingest to the decider is bounded: past its bound (a
// decider far behind) events are left to be parsed from disk, an event is
// handed over once, and nothing the decider has passed is kept.
func TestParsedHandOverIsBoundedAndTakenOnce(t *testing.T) {
	p := newParsedEvents(3)
	evs := []*decide.SensorEvent{{EventID: "a"}, {EventID: "b"}, {EventID: "c"}, {EventID: "d"}}
	p.put([]uint64{1, 2, 3, 4}, evs)
	_, ok := p.take(4)
	require.False(t, ok, "past the bound the event is read from disk")
	ev, ok := p.take(2)
	require.True(t, ok)
	require.Equal(t, "b", ev.EventID)
	_, ok = p.take(2)
	require.False(t, ok, "handed over once")

	p = newParsedEvents(3)
	p.forget(3) // decided through seq 3 (read from disk before the put)
	p.put([]uint64{3, 5}, evs[2:])
	_, ok = p.take(3)
	require.False(t, ok, "a decided seq is not kept")
	_, ok = p.take(5)
	require.True(t, ok)
}
