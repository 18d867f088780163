package decide

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A track lives for three correlation windows; what it keeps of its
// detections must not be pieces of the parsed events, whose text is one
// string per event: a piece would keep every detection's whole text alive
// (under a flood of new tracks the gate's heap doubled before this).
func TestTrackKeepsNoPieceOfItsEvents(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook()
	var evs []SensorEvent
	for i := range 3 {
		body := fmt.Sprintf(`{"event_id":"CAM-%d","device_id":"CAM-1","gate":%q,"time":"2026-11-26T10:00:0%dZ",`+
			`"type":"camera.detection","object_class":"engine","track_id":"t-1","direction":"in",`+
			`"reads":[{"kind":"stand_tag","value":"STAND-00%d","confidence":0.97}],"snapshot":"nvr://cam-1/%d.jpg"}`, i, corrGate, i, 40+i, i)
		parsed, err := ParseEvents([]byte(body))
		require.NoError(t, err)
		evs = append(evs, parsed[0])
		c.Observe(uint64(i+1), parsed[0], book)
	}
	tr := heldTrack(c, "CAM-1/t-1")
	require.NotNil(t, tr)
	within := func(s string, ev SensorEvent) bool {
		// the event's text spans from its first to its last field
		lo, hi := uintptr(unsafe.Pointer(unsafe.StringData(ev.EventID))), uintptr(unsafe.Pointer(unsafe.StringData(ev.Snapshot)))+uintptr(len(ev.Snapshot))
		if lo > hi {
			lo, hi = hi, lo
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= lo && p < hi
	}
	kept := append([]string{tr.id, tr.snapshot}, tr.eventIDs...)
	for _, r := range tr.reads {
		kept = append(kept, r.Value)
	}
	require.Len(t, tr.eventIDs, 3)
	require.Len(t, tr.reads, 3)
	for _, s := range kept {
		for i, ev := range evs {
			require.False(t, within(s, ev), "the track keeps %q, a piece of event %d's text", s, i)
		}
	}
}

// A flood of new tracks is held to MaxTracks: Advance drops the tracks heard
// least recently, counts them, and what was heard last still decides.
func TestCorrelatorHoldsItsTrackBound(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, MaxTracks: 50})
	book := newCorrBook(corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042"))
	seq := uint64(0)
	for i := range 500 { // 500 tracks within a second, each of one detection
		seq++
		c.Observe(seq, detEv(-2+float64(i)/1000, fmt.Sprintf("flood-%d", i), "vehicle", zone.In), book)
	}
	c.Advance(corrAt(-1), book)
	assert.Len(t, c.tracks, 50)
	assert.Equal(t, uint64(450), c.TracksShed())
	assert.NotNil(t, heldTrack(c, "CAM-1/flood-499"), "the newest track stays")
	assert.Nil(t, heldTrack(c, "CAM-1/flood-0"), "the oldest goes first")

	// The engine comes after the flood and still crosses authorized.
	seq++
	c.Observe(seq, detEv(-0.5, "t-engine", "engine", zone.In, readTag("STAND-0042", 0.97)), book)
	seq++
	c.Observe(seq, brkEv(0, "A", 1), book)
	seq++
	outs := c.Observe(seq, brkEv(0.5, "B", 1), book)
	require.Len(t, outs, 1)
	require.NotNil(t, outs[0].Crossing)
	assert.Equal(t, zone.DecisionAuthorized, outs[0].Crossing.Decision)

	// Without a bound nothing is shed.
	u := newQuiet(CorrelatorConfig{Gate: corrGate})
	for i := range 500 {
		u.Observe(uint64(i+1), detEv(-2+float64(i)/1000, fmt.Sprintf("flood-%d", i), "vehicle", zone.In), book)
	}
	u.Advance(corrAt(-1), book)
	assert.Len(t, u.tracks, 500)
	assert.Zero(t, u.TracksShed())
}

// heldTrack is the track c holds under key, or nil.
func heldTrack(c *Correlator, key string) *track {
	t, _ := c.track([]byte(key))
	return t
}

// Under a flood of new tracks each one lives until the bound sheds it, and
// everything it holds is marked by the collector at every cycle until
// then: a new track is two objects, itself and the text it keeps (key,
// snapshot, event ID, read value and identity key in one string), not one
// per piece (it was ten).
func TestNewTrackIsTwoObjects(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, MaxTracks: 1000})
	book := newCorrBook()
	n := 0
	// Each event's text is one string, as ParseEvents leaves it.
	event := func() SensorEvent {
		n++
		id := fmt.Sprint(n)
		text := "CAM-1-" + id + "t-" + id + "STAND-" + id + "nvr://cam-1/" + id + ".jpg"
		ev := SensorEvent{EventID: text[:6+len(id)], DeviceID: "CAM-1", Gate: corrGate, Time: corrT0, Type: EventDetection,
			ObjectClass: ClassEngine, TrackID: text[6+len(id) : 8+2*len(id)], Direction: zone.In, Snapshot: text[14+3*len(id):],
			Reads: []Read{{Kind: zone.ReadStandTag, Value: text[8+2*len(id) : 14+3*len(id)], Confidence: 0.97}}}
		return ev
	}
	for range 1200 {
		c.Observe(uint64(n+1), event(), book)
		c.Advance(corrT0, book)
	}
	require.Positive(t, c.TracksShed())
	evs := make([]SensorEvent, 1100)
	for i := range evs {
		evs[i] = event()
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		c.Observe(uint64(2000+i), evs[i], book)
		c.Advance(corrT0, book)
		i++
	})
	tr := heldTrack(c, "CAM-1/"+evs[i-1].TrackID)
	require.NotNil(t, tr)
	assert.Equal(t, evs[i-1].Snapshot, tr.snapshot)
	assert.Equal(t, "stand_tag\x00stand"+evs[i-1].TrackID[2:], tr.keys[0])
	assert.Equal(t, 2.0, allocs)
}

// The collector scans objects of up to 512 bytes in their span, larger
// ones one by one through a header; a gate holds up to DefaultMaxTracks
// tracks and marks them all at every cycle.
func TestTrackFitsTheCollectorsSpanScan(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(track{}), uintptr(512))
}
