package bolt

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/gateway/record"
)

// TestEventsReadFromAnyPointOfTheBlocks: the decider and the events API
// read from any seq, any page size; whatever the blocks' bounds (count and
// bytes) and the log's, they get exactly the events after it, in order,
// with their set-aside marks.
func TestEventsReadFromAnyPointOfTheBlocks(t *testing.T) {
	db, g := openGate(t, filepath.Join(t.TempDir(), "gate.db"))
	defer db.Close()
	var evs []record.NewEvent
	for i := range 3000 {
		id := fmt.Sprintf("e-%06d", i)
		pad := ""
		if i%500 >= 490 { // big events end blocks early on bytes
			pad = strings.Repeat("x", 12<<10)
		}
		evs = append(evs, record.NewEvent{Key: []byte("CAM-1\x00" + id),
			Raw: []byte(`{"event_id":"` + id + `","pad":"` + pad + `"}`)})
	}
	appendAll(t, g, evs, 7)
	require.NoError(t, g.log.fold())
	tail := newEvents("tail", 0, 50)
	appendAll(t, g, tail, 7) // only in the log
	evs = append(evs, tail...)
	total := uint64(len(evs))

	asides := map[uint64]bool{1: true, 1024: true, 1025: true, 2999: true, 3040: true}
	require.NoError(t, db.update(func(tx *bbolt.Tx) error {
		for seq := range asides {
			if err := tx.Bucket(gateAside).Put(u64(seq), []byte(`{}`)); err != nil {
				return err
			}
		}
		return nil
	}))
	var blocks int
	require.NoError(t, db.view(func(tx *bbolt.Tx) error {
		blocks = tx.Bucket(gateEvents).Stats().KeyN
		return nil
	}))
	assert.Less(t, blocks, 3000/100, "3,000 folded events are held in blocks, not a value each")

	for _, after := range []uint64{0, 1, 2, 489, 490, 1023, 1024, 1025, 2047, 2998, 2999, 3000, 3001, 3049, 3050, 3051} {
		for _, max := range []int{1, 3, 1000, 5000} {
			got, err := g.EventsAfter(after, max)
			require.NoError(t, err)
			want := min(total, after+uint64(max))
			if after >= total {
				want = after
			}
			require.Len(t, got, int(want-after), "after %d, max %d", after, max)
			for i, e := range got {
				seq := after + 1 + uint64(i)
				require.Equal(t, seq, e.Seq, "after %d, max %d", after, max)
				require.Equal(t, string(evs[seq-1].Raw), string(e.Raw), "seq %d", seq)
				require.Equal(t, asides[seq], e.Aside, "seq %d", seq)
			}
		}
	}
}

// TestEventsFromAnEarlierVersionsFile: a gate file written before blocks
// holds one raw event a value. It reads on after an upgrade, with the
// events folded since in blocks after it, and its keys still dedupe.
func TestEventsFromAnEarlierVersionsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	old := newEvents("old", 0, 100)
	require.NoError(t, db.update(func(tx *bbolt.Tx) error {
		events, seen := tx.Bucket(gateEvents), tx.Bucket(gateSeen)
		for i, e := range old {
			seq := u64(uint64(i + 1))
			if err := events.Put(seq, e.Raw); err != nil {
				return err
			}
			if err := seen.Put(e.Key, seq); err != nil {
				return err
			}
		}
		return events.SetSequence(uint64(len(old)))
	}))
	require.NoError(t, db.Close())

	db, g = openGate(t, path)
	defer db.Close()
	evs := append(old, newEvents("new", 0, 60)...)
	got := appendAll(t, g, evs, 9)
	for i, a := range got {
		assert.Equal(t, i < len(old), a.Duplicate, "event %d", i)
		assert.Equal(t, uint64(i+1), a.Seq, "event %d", i)
	}
	require.NoError(t, g.log.fold())
	for _, page := range []int{1, 7, 1000} {
		checkLog(t, g, evs, page)
	}
	from, err := g.EventsAfter(98, 4)
	require.NoError(t, err)
	require.Len(t, from, 4)
	assert.Equal(t, []uint64{99, 100, 101, 102}, []uint64{from[0].Seq, from[1].Seq, from[2].Seq, from[3].Seq})
}

// TestACutBlocksEventsAreStillHanded: a block whose framing is cut short
// (a file damaged by other means) hands the events before the cut as they
// are and those from it to the next block with no bytes, for the decider
// to set aside, instead of stopping every read at it.
func TestACutBlocksEventsAreStillHanded(t *testing.T) {
	db, g := openGate(t, filepath.Join(t.TempDir(), "gate.db"))
	defer db.Close()
	evs := newEvents("e", 0, 10)
	appendAll(t, g, evs, 10)
	require.NoError(t, g.log.fold())
	more := newEvents("f", 0, 5)
	appendAll(t, g, more, 5)
	require.NoError(t, g.log.fold())
	require.NoError(t, db.update(func(tx *bbolt.Tx) error {
		events := tx.Bucket(gateEvents)
		v := events.Get(u64(1))
		require.NotNil(t, v)
		// The last two events are gone and the eighth is cut short.
		cut := len(v) - 2*(len(evs[9].Raw)+1) - 5
		return events.Put(u64(1), append([]byte(nil), v[:cut]...))
	}))
	got, err := g.EventsAfter(0, 100)
	require.NoError(t, err)
	require.Len(t, got, 15)
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq)
		switch {
		case i < 7:
			assert.Equal(t, string(evs[i].Raw), string(e.Raw), "seq %d", e.Seq)
		case i < 10:
			assert.Empty(t, e.Raw, "seq %d is past the cut", e.Seq)
		default:
			assert.Equal(t, string(more[i-10].Raw), string(e.Raw), "seq %d", e.Seq)
		}
	}
	from, err := g.EventsAfter(8, 3)
	require.NoError(t, err)
	assert.Equal(t, []uint64{9, 10, 11}, []uint64{from[0].Seq, from[1].Seq, from[2].Seq})
}
