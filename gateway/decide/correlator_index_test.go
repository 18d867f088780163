package decide

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/require"
)

// askingBook is a corrBook that writes down every question it is asked, in
// order: two correlators that ask the same questions of the same book, in
// the same order, decide alike whatever the book answers.
type askingBook struct {
	*corrBook
	asked []string
}

func (b *askingBook) Claim(id zone.Identity, dir zone.Direction, at time.Time) (string, bool) {
	got, ok := b.corrBook.Claim(id, dir, at)
	b.asked = append(b.asked, fmt.Sprintf("%s=%s %s %s -> %s %v", id.Kind, id.Value, dir, at.Format(time.RFC3339Nano), got, ok))
	return got, ok
}

// indexStream is a random stream for comparing the indexed correlator with
// the linear one: many tracks re-detected out of order, beam pairs on a
// few segments, stamps rounded to quant (ties), a few far off, clearances
// arriving mid-stream, a few crossings already recorded (adopted).
type indexStream struct {
	seed  uint64
	start time.Time
	quant time.Duration
	n     int
}

type streamStep struct {
	seq     uint64
	ev      SensorEvent
	heard   time.Time
	advance time.Time
	clear   []zone.Clearance // given to the book before the event
}

func (s indexStream) steps() ([]streamStep, []zone.Clearance, map[string]zone.Crossing) {
	r := rand.New(rand.NewPCG(s.seed, s.seed*7+1))
	classes := []string{ClassEngine, ClassVehicle, ClassPerson, ClassUnknown, ClassAircraft}
	dirs := []zone.Direction{zone.In, zone.Out, ""}
	confs := []float64{0.5, 0.79, 0.8, 0.9, 0.97}
	ident := func() (string, string) {
		if r.IntN(2) == 0 {
			return zone.ReadStandTag, fmt.Sprintf("STAND-%04d", r.IntN(8))
		}
		return zone.ReadVehiclePlate, fmt.Sprintf("P-%d", r.IntN(8))
	}
	clearance := func(i int, at time.Time) zone.Clearance {
		kind, value := ident()
		c := corrClearance(fmt.Sprintf("PD-%d", i), dirs[r.IntN(2)], kind, value)
		c.Window = zone.Window{From: at.Add(-time.Duration(r.IntN(60)) * time.Second), To: at.Add(time.Duration(r.IntN(120)) * time.Second)}
		return c
	}
	base := s.start
	var initial []zone.Clearance
	for i := range 4 {
		initial = append(initial, clearance(i, base.Add(time.Duration(r.IntN(s.n/4))*100*time.Millisecond)))
	}
	recorded := map[string]zone.Crossing{}
	nextTrack := 0
	seen := map[string]time.Time{}
	var out []streamStep
	for i := range s.n {
		seq := uint64(i + 1)
		base = base.Add(time.Duration(r.IntN(300)) * time.Millisecond)
		if r.IntN(200) == 0 {
			base = base.Add(time.Duration(5+r.IntN(20)) * time.Second) // a lull: windows pass
		}
		at := base.Add(time.Duration(r.IntN(3000)-2000) * time.Millisecond)
		if r.IntN(150) == 0 {
			at = at.Add(time.Duration(r.IntN(96)-48) * time.Hour) // a device clock far off
		}
		at = at.Truncate(s.quant)
		st := streamStep{seq: seq, heard: base, advance: base}
		if r.IntN(100) == 0 {
			st.clear = append(st.clear, clearance(100+i, base))
		}
		ev := SensorEvent{EventID: fmt.Sprintf("E-%d", i), Gate: corrGate, Time: at}
		switch k := r.IntN(100); {
		case k < 55:
			if nextTrack == 0 || r.IntN(4) == 0 {
				nextTrack++
			}
			id := max(1, nextTrack-r.IntN(6))
			ev.Type, ev.DeviceID = EventDetection, fmt.Sprintf("CAM-%d", 1+r.IntN(3))
			ev.TrackID = fmt.Sprintf("t-%d", id)
			if last, ok := seen[ev.DeviceID+ev.TrackID]; ok && r.IntN(3) == 0 {
				ev.Time = last // seen again where it was: a new read, the track unmoved
			}
			seen[ev.DeviceID+ev.TrackID] = ev.Time
			ev.ObjectClass = classes[r.IntN(len(classes))]
			ev.Direction = dirs[r.IntN(len(dirs))]
			ev.Snapshot = fmt.Sprintf("nvr://%s/%d.jpg", ev.DeviceID, i)
			for range r.IntN(3) {
				kind, value := ident()
				ev.Reads = append(ev.Reads, Read{Kind: kind, Value: value, Confidence: confs[r.IntN(len(confs))]})
			}
			if r.IntN(40) == 0 {
				ev.State = StateInitialized
			}
		case k < 85:
			ev.Type, ev.DeviceID = EventBreak, "IR-1"
			ev.Segment = 1 + r.IntN(3)
			ev.Beam = []string{"A", "B"}[r.IntN(2)]
			if r.IntN(30) == 0 {
				// Decided before a restart: the replay adopts it if it
				// completes a pair here.
				recorded["X-"+corrGate+"-"+fmt.Sprint(seq)] = zone.Crossing{ID: "X-" + corrGate + "-" + fmt.Sprint(seq),
					TrackIDs: []string{fmt.Sprintf("t-%d", max(1, nextTrack-r.IntN(4))), fmt.Sprintf("t-%d", nextTrack+1+r.IntN(3))}}
			}
		default:
			ev.Type, ev.DeviceID = EventHeartbeat, "HB-1"
		}
		st.ev = ev
		out = append(out, st)
	}
	return out, initial, recorded
}

// The indexed correlator decides every random stream exactly as the linear
// one did: the same outcomes, the same questions to the book in the same
// order, the same low-water mark, at every step. And at every step the
// offers it keeps are what a brute-force pass over its own state finds.
func TestCorrelatorIndexedOffersDecideLikeTheLinearScan(t *testing.T) {
	var streams []indexStream
	for seed := range uint64(12) {
		quant := []time.Duration{time.Millisecond, 100 * time.Millisecond, time.Second}[seed%3]
		streams = append(streams, indexStream{seed: seed, start: corrT0, quant: quant, n: 1500})
	}
	// Across 1970: slot keys below zero.
	streams = append(streams, indexStream{seed: 99, start: time.Date(1969, 12, 31, 23, 58, 0, 0, time.UTC), quant: time.Second, n: 1500})
	for _, s := range streams {
		t.Run(fmt.Sprintf("seed=%d/quant=%s/start=%d", s.seed, s.quant, s.start.Year()), func(t *testing.T) {
			steps, initial, recorded := s.steps()
			rec := func(id string) (zone.Crossing, bool) { x, ok := recorded[id]; return x, ok }
			cfg := CorrelatorConfig{Gate: corrGate, Recorded: rec}
			if s.seed%4 == 3 {
				cfg.Window = 3 * time.Second // a window shorter than the stamp spread
			}
			cfg.Logger = slog.New(slog.DiscardHandler)
			c := NewCorrelator(cfg)
			ref := newRefCorrelator(cfg)
			book := &askingBook{corrBook: newCorrBook(slices.Clone(initial)...)}
			refBook := &askingBook{corrBook: newCorrBook(slices.Clone(initial)...)}
			decided := 0
			for _, st := range steps {
				book.clearances = append(book.clearances, st.clear...)
				refBook.clearances = append(refBook.clearances, st.clear...)
				got := c.ObserveAt(st.seq, st.ev, book, st.heard)
				want := ref.ObserveAt(st.seq, st.ev, refBook, st.heard)
				require.Equal(t, want, got, "observe seq %d", st.seq)
				got = c.Advance(st.advance, book)
				want = ref.Advance(st.advance, refBook)
				require.Equal(t, want, got, "advance after seq %d", st.seq)
				require.Equal(t, refBook.asked, book.asked, "questions to the book after seq %d", st.seq)
				require.Equal(t, ref.LowWater(), c.LowWater(), "low water after seq %d", st.seq)
				for _, o := range got {
					if o.Crossing != nil {
						decided++
					}
				}
				checkOffers(t, c, st)
			}
			last := steps[len(steps)-1].advance.Add(time.Hour)
			require.Equal(t, ref.Advance(last, refBook), c.Advance(last, book))
			require.Equal(t, ref.Sensors(), c.Sensors())
			require.Empty(t, c.pending)
			t.Logf("%d steps, %d crossings decided at window end, %d questions asked", len(steps), decided, len(book.asked))
		})
	}
}

// checkOffers compares what the indexes say with a brute-force pass over
// the same state: each free track's nearest undecided pending crossings,
// each pending crossing's candidates, and those of a crossing not yet
// pending (a pair that just completed) somewhere near the step.
func checkOffers(t *testing.T, c *Correlator, st streamStep) {
	t.Helper()
	for _, tr := range c.tracks {
		require.Equal(t, linearNearest(c, tr), append([]*pendingCrossing{}, tr.offeredTo...), "offers of track %s after seq %d", tr.key, st.seq)
	}
	for _, p := range c.pending {
		require.Equal(t, linearCandidates(c, p), append([]*track{}, c.candidates(p)...), "candidates of %s after seq %d", c.crossingID(p), st.seq)
	}
	for i, off := range []time.Duration{-4 * time.Second, 0, 1500 * time.Millisecond} {
		at := st.ev.Time.Add(off)
		q := &pendingCrossing{first: beamBreak{seq: 1, beam: "A", at: at}, last: beamBreak{seq: 2, beam: "B", at: at.Add(time.Duration(i) * 700 * time.Millisecond)}, dir: zone.In}
		q.mid = q.start().Add(q.end().Sub(q.start()) / 2)
		require.Equal(t, linearCandidates(c, q), append([]*track{}, c.candidates(q)...), "candidates of a new pair at %s after seq %d", at, st.seq)
	}
}

// linearNearness is nearness worked out from the track's presence alone,
// as before the middles were kept.
func linearNearness(t *track, p *pendingCrossing) (gap, mid time.Duration) {
	switch {
	case t.to.Before(p.start()):
		gap = p.start().Sub(t.to)
	case t.from.After(p.end()):
		gap = t.from.Sub(p.end())
	}
	tm := t.from.Add(t.to.Sub(t.from) / 2)
	pm := p.start().Add(p.end().Sub(p.start()) / 2)
	mid = tm.Sub(pm)
	if mid < 0 {
		mid = -mid
	}
	return gap, mid
}

func linearNearer(t *track, a, b *pendingCrossing) bool {
	ga, ma := linearNearness(t, a)
	gb, mb := linearNearness(t, b)
	return ga < gb || (ga == gb && ma < mb)
}

// linearCandidates is the old candidates: every retained track, and for
// each every pending crossing.
func linearCandidates(c *Correlator, p *pendingCrossing) []*track {
	out := []*track{}
	for _, t := range c.tracks {
		if !c.candidate(t, p) {
			continue
		}
		offered := true
		for _, q := range c.pending {
			if q != p && !q.decided && c.candidate(t, q) && linearNearer(t, q, p) {
				offered = false
				break
			}
		}
		if offered {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *track) int { return a.firstSeen - b.firstSeen })
	return out
}

// linearNearest is the undecided pending crossings nearest to t, in
// pending order.
func linearNearest(c *Correlator, t *track) []*pendingCrossing {
	out := []*pendingCrossing{}
	for _, q := range c.pending {
		if q.decided || !c.candidate(t, q) {
			continue
		}
		if len(out) > 0 {
			if linearNearer(t, out[0], q) {
				continue
			}
			if linearNearer(t, q, out[0]) {
				out = out[:0]
			}
		}
		out = append(out, q)
	}
	return out
}

// With the gate's book (a claim set per decision step, clearances stored
// between steps and committed after each), the indexed correlator, which
// within a step asks a crossing again only about tracks offered or read
// anew, decides every random stream as the linear one that asked
// everything every time.
func TestCorrelatorRetriesWithinAStepDecideLikeAskingEverything(t *testing.T) {
	for seed := range uint64(9) {
		s := indexStream{seed: 1000 + seed, start: corrT0, quant: []time.Duration{time.Millisecond, 100 * time.Millisecond, time.Second}[seed%3], n: 2000}
		t.Run(fmt.Sprintf("seed=%d/quant=%s", s.seed, s.quant), func(t *testing.T) {
			steps, initial, recorded := s.steps()
			rec := func(id string) (zone.Crossing, bool) { x, ok := recorded[id]; return x, ok }
			cfg := CorrelatorConfig{Gate: corrGate, Recorded: rec, Logger: slog.New(slog.DiscardHandler)}
			c, ref := NewCorrelator(cfg), newRefCorrelator(cfg)
			now := steps[0].heard
			held := map[string]record.Clearance{}
			for _, cl := range initial {
				held[cl.ID] = record.Clearance{Clearance: cl}
			}
			book := NewClearances(corrGate, NewClock(func() time.Time { return now }), held)
			refBook := NewClearances(corrGate, NewClock(func() time.Time { return now }), held)
			r := rand.New(rand.NewPCG(s.seed, 3))
			authorized := 0
			for len(steps) > 0 {
				chunk := steps[:min(len(steps), 1+r.IntN(60))]
				steps = steps[len(chunk):]
				for _, st := range chunk {
					for _, cl := range st.clear { // stored between steps
						book.Put(&record.Clearance{Clearance: cl})
						refBook.Put(&record.Clearance{Clearance: cl})
					}
				}
				set, refSet := book.Begin(), refBook.Begin()
				var got, want []Outcome
				for _, st := range chunk {
					now = st.heard
					got = append(got, c.ObserveAt(st.seq, st.ev, set, st.heard)...)
					want = append(want, ref.ObserveAt(st.seq, st.ev, refSet, st.heard)...)
				}
				now = chunk[len(chunk)-1].advance
				got = append(got, c.Advance(now, set)...)
				want = append(want, ref.Advance(now, refSet)...)
				require.Equal(t, want, got, "step ending at seq %d", chunk[len(chunk)-1].seq)
				require.Equal(t, ref.LowWater(), c.LowWater())
				written, ok := decidedIn(got)
				authorized += ok
				set.Commit(written)
				refSet.Commit(written)
			}
			t.Logf("%d authorized", authorized)
		})
	}
}

// Within one step, a track the crossing was already asked about is asked
// again once it can claim what it could not: here a track first taken for
// a person (whose reads never count) is then seen to be the engine.
func TestCorrelatorAsksAgainInTheStepWhenATrackBecomesAClaimant(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	cl := corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")
	book := NewClearances(corrGate, NewClock(func() time.Time { return corrAt(3) }), map[string]record.Clearance{cl.ID: {Clearance: cl}})
	set := book.Begin()
	observe := func(seq uint64, ev SensorEvent) []Outcome { return c.ObserveAt(seq, ev, set, corrAt(3)) }
	require.Empty(t, observe(1, detEv(0, "t-1", ClassPerson, zone.In, readTag("STAND-0042", 0.95))))
	require.Empty(t, observe(2, brkEv(1, "A", 1)))
	require.Empty(t, observe(3, brkEv(2, "B", 1)), "a person's read does not authorize")
	got := summarizeOutcomes(observe(4, detEv(0, "t-1", ClassEngine, zone.In)))
	require.Equal(t, []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"}}, got)
}

// Tracks are found by a hash of their key; keys that share one (a 64-bit
// hash makes it rare) or lie next to each other in the table probe past
// each other, and removals shift them back. With hashes made to collide,
// all in one place or a few wrapping round the table's end, the
// correlator decides as it does without: the same outcomes, questions,
// low water and tracks shed at the bound, every held track found by its
// key.
func TestCorrelatorTracksSharingAHashDecideAlike(t *testing.T) {
	hashes := map[string]trackHash{
		"one place": func(key []byte) uint64 { return uint64(len(key)%3) << 32 },
		"wrapping": func(key []byte) uint64 {
			return (1<<32 - 4 + uint64(key[len(key)-1]%7)) << 32
		},
	}
	for name, hash := range hashes {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) { sharingAHash(t, seed, hash) })
		}
	}
}

func sharingAHash(t *testing.T, seed uint64, hash trackHash) {
	steps, initial, recorded := indexStream{seed: seed, start: corrT0, quant: 100 * time.Millisecond, n: 1500}.steps()
	rec := func(id string) (zone.Crossing, bool) { x, ok := recorded[id]; return x, ok }
	cfg := CorrelatorConfig{Gate: corrGate, Recorded: rec, MaxTracks: 40, Logger: slog.New(slog.DiscardHandler)}
	c, plain := NewCorrelator(cfg), NewCorrelator(cfg)
	c.hash = hash
	book := &askingBook{corrBook: newCorrBook(slices.Clone(initial)...)}
	plainBook := &askingBook{corrBook: newCorrBook(slices.Clone(initial)...)}
	for _, st := range steps {
		book.clearances = append(book.clearances, st.clear...)
		plainBook.clearances = append(plainBook.clearances, st.clear...)
		require.Equal(t, plain.ObserveAt(st.seq, st.ev, plainBook, st.heard), c.ObserveAt(st.seq, st.ev, book, st.heard), "observe seq %d", st.seq)
		require.Equal(t, plain.Advance(st.advance, plainBook), c.Advance(st.advance, book), "advance after seq %d", st.seq)
		require.Equal(t, plainBook.asked, book.asked, "questions to the book after seq %d", st.seq)
		require.Equal(t, plain.LowWater(), c.LowWater(), "low water after seq %d", st.seq)
		require.Equal(t, plain.TracksShed(), c.TracksShed(), "tracks shed after seq %d", st.seq)
		require.Equal(t, len(plain.tracks), len(c.tracks), "tracks held after seq %d", st.seq)
		for _, tr := range plain.tracks {
			require.NotNil(t, heldTrack(c, tr.key), "track %s after seq %d", tr.key, st.seq)
		}
	}
	require.Positive(t, c.TracksShed())
}
