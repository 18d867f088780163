package decide

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/require"
)

// linearBook is the gate's book as it claimed before it was filed by
// identity and counted its generations: every claim looks at every
// clearance. The reference correlator claims through it.
type linearBook struct {
	gate  string
	clock *Clock
	byID  map[string]*cachedClearance
}

type linearSet struct {
	book  *linearBook
	taken map[string]bool
}

func (b *linearBook) begin() *linearSet { return &linearSet{book: b, taken: map[string]bool{}} }

func (s *linearSet) Claim(id zone.Identity, dir zone.Direction, at time.Time) (string, bool) {
	c := s.book
	now := c.clock.Now()
	var best *cachedClearance
	for _, cc := range c.byID {
		if !usable(cc) || s.taken[cc.ID] || !cc.Window.Contains(now) || !cc.Matches(c.gate, dir, id, at) {
			continue
		}
		if best == nil || cc.Window.To.Before(best.Window.To) || (cc.Window.To.Equal(best.Window.To) && cc.ID < best.ID) {
			best = cc
		}
	}
	if best == nil {
		return "", false
	}
	s.taken[best.ID] = true
	return best.ID, true
}

func (s *linearSet) commit(written []zone.Crossing) {
	for _, x := range written {
		if cc, ok := s.book.byID[x.ClearanceID]; ok && x.ClearanceID != "" && s.taken[x.ClearanceID] {
			cc.UsedBy = x.ID
		}
	}
}

func (b *linearBook) put(next record.Clearance) {
	if cur, ok := b.byID[next.ID]; ok && cur.UsedBy != "" && next.UsedBy == "" {
		next.UsedBy = cur.UsedBy
	}
	b.byID[next.ID] = &next
}

// held is the book as the store would hold it.
func (b *linearBook) held() map[string]record.Clearance {
	out := map[string]record.Clearance{}
	for id, cc := range b.byID {
		out[id] = *cc
	}
	return out
}

// busyStream is a gate's busy traffic for the claim sets: tracks of
// trackLen detections, each read with its own identity out of plates, a
// beam pair every pairEvery events, and a book of many clearances that
// changes between steps: new ones (some whose window opens only later on
// the gate clock), revoked ones, the whole book read back from the store.
type busyStream struct {
	seed                      uint64
	trackLen, pairEvery       int
	plates, clearances, steps int
}

// spelled writes plate p as a camera or an officer might: the book and
// the reads match once normalised, not as written.
func spelled(r *rand.Rand, p int) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("p-%04d", p)
	case 1:
		return fmt.Sprintf("P %04d", p)
	case 2:
		return fmt.Sprintf("P·%04d", p)
	}
	return fmt.Sprintf("P-%04d", p)
}

// The gate's book, which files its clearances by identity and lets a
// crossing's refusals stand from one step to the next while nothing that
// could turn them into claims happened, decides every busy stream as the
// linear book asked about everything every time.
func TestCorrelatorRefusalsCarriedAcrossStepsDecideLikeAskingEverything(t *testing.T) {
	var streams []busyStream
	for seed := range uint64(8) {
		streams = append(streams,
			busyStream{seed: 2000 + seed, trackLen: 1, pairEvery: 7, plates: 60, clearances: 150, steps: 2500},
			busyStream{seed: 3000 + seed, trackLen: 4, pairEvery: 3, plates: 25, clearances: 40, steps: 2500},
			busyStream{seed: 4000 + seed, trackLen: 12, pairEvery: 20, plates: 300, clearances: 400, steps: 2500})
	}
	for _, s := range streams {
		t.Run(fmt.Sprintf("seed=%d/track_len=%d/pair_every=%d", s.seed, s.trackLen, s.pairEvery), func(t *testing.T) {
			r := rand.New(rand.NewPCG(s.seed, 11))
			at := corrT0
			now := at
			clock := func() time.Time { return now }
			clearance := func(i int) record.Clearance {
				c := corrClearance(fmt.Sprintf("PD-%d", i), []zone.Direction{zone.In, zone.Out}[r.IntN(2)], zone.ReadVehiclePlate, spelled(r, r.IntN(s.plates)))
				// Windows open from a minute back to a minute ahead of
				// the gate clock: some open while crossings wait.
				from := now.Add(time.Duration(r.IntN(120_000)-60_000) * time.Millisecond)
				c.Window = zone.Window{From: from, To: from.Add(time.Duration(5+r.IntN(120)) * time.Second)}
				return record.Clearance{Clearance: c}
			}
			held := map[string]record.Clearance{}
			for i := range s.clearances {
				cl := clearance(i)
				held[cl.ID] = cl
			}
			book := NewClearances(corrGate, NewClock(clock), held)
			ref := &linearBook{gate: corrGate, clock: NewClock(clock), byID: byID(held)}
			cfg := CorrelatorConfig{Gate: corrGate, Logger: slog.New(slog.DiscardHandler)}
			c, refC := NewCorrelator(cfg), newRefCorrelator(cfg)

			seq, track, nextClearance := uint64(0), 0, s.clearances
			authorized, carried := 0, 0
			for step := 0; step < s.steps; {
				// Between steps the store hands the book what it wrote.
				switch k := r.IntN(20); {
				case k < 3:
					cl := clearance(nextClearance)
					nextClearance++
					book.Put(&cl)
					ref.put(cl)
				case k < 4 && len(ref.byID) > 0:
					ids := make([]string, 0, len(ref.byID))
					for id := range ref.byID {
						ids = append(ids, id)
					}
					cl := *ref.byID[ids[r.IntN(len(ids))]]
					cl.State, cl.UsedBy = zone.ClearanceRevoked, ""
					book.Put(&cl)
					ref.put(cl)
				case k < 5:
					book.Replace(ref.held())
				}
				set, refSet := book.Begin(), ref.begin()
				for _, p := range c.pending {
					if p.triedWith != nil && p.triedClean && p.triedGen == book.gen {
						carried++
					}
				}
				var got, want []Outcome
				for range 1 + r.IntN(40) {
					step++
					seq++
					at = at.Add(time.Duration(r.IntN(400)) * time.Millisecond)
					now = at.Add(time.Duration(r.IntN(500)) * time.Millisecond)
					ev := SensorEvent{EventID: fmt.Sprintf("E-%d", seq), Gate: corrGate, Time: at}
					switch {
					case r.IntN(s.pairEvery) == 0:
						ev.Type, ev.DeviceID = EventBreak, "IR-1"
						ev.Segment = 1 + r.IntN(2)
						ev.Beam = []string{"A", "B"}[r.IntN(2)]
					default:
						if step%s.trackLen == 0 || track == 0 {
							track++
						}
						ev.Type, ev.DeviceID = EventDetection, fmt.Sprintf("CAM-%d", 1+track%3)
						ev.TrackID = fmt.Sprintf("t-%d", track)
						ev.ObjectClass = []string{ClassVehicle, ClassEngine, ClassPerson, ClassUnknown}[r.IntN(4)]
						ev.Direction = []zone.Direction{zone.In, zone.Out, ""}[r.IntN(3)]
						if r.IntN(3) > 0 {
							ev.Reads = []Read{{Kind: zone.ReadVehiclePlate, Value: spelled(r, (track*7+r.IntN(2))%s.plates), Confidence: []float64{0.7, 0.85, 0.97}[r.IntN(3)]}}
						}
					}
					got = append(got, c.ObserveAt(seq, ev, set, now)...)
					want = append(want, refC.ObserveAt(seq, ev, refSet, now)...)
				}
				got = append(got, c.Advance(now, set)...)
				want = append(want, refC.Advance(now, refSet)...)
				require.Equal(t, want, got, "step ending at seq %d", seq)
				require.Equal(t, refC.LowWater(), c.LowWater())
				if r.IntN(15) == 0 {
					continue // the step failed: its claims lapse, nothing reached the book
				}
				written, ok := decidedIn(got)
				authorized += ok
				set.Commit(written)
				refSet.commit(written)
			}
			bookHeld := map[string]record.Clearance{}
			for id, cc := range book.byID {
				bookHeld[id] = *cc
			}
			require.Equal(t, ref.held(), bookHeld, "the books agree on what was used")
			require.NotZero(t, authorized, "the stream must authorize some crossings")
			require.NotZero(t, carried, "some refusals must be carried into a later step")
			t.Logf("%d authorized, %d times a crossing could carry its refusals into a step", authorized, carried)
		})
	}
}

// identityKey files together what zone's matching takes as one identity.
func TestIdentityKeyIsLooserThanZoneMatching(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	alphabet := []rune("aAbB01 -·._/#éÉßẞıİ")
	word := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	pairs := 0
	for range 200_000 {
		a, b := zone.Identity{Kind: zone.ReadVehiclePlate, Value: word()}, zone.Identity{Kind: zone.ReadVehiclePlate, Value: word()}
		if zone.IdentitiesMatch(a, b) {
			pairs++
			require.Equal(t, identityKey(a), identityKey(b), "%q and %q match", a.Value, b.Value)
		}
	}
	require.Greater(t, pairs, 1000)
	require.NotEqual(t, identityKey(zone.Identity{Kind: zone.ReadStandTag, Value: "X1"}), identityKey(zone.Identity{Kind: zone.ReadVehiclePlate, Value: "X1"}))
}

// A refusal is not carried into a step in which a window has opened on
// the gate clock: the book is the same, the gate clock is not.
func TestCorrelatorAsksAgainOnceAWindowOpens(t *testing.T) {
	now := corrAt(3)
	cl := corrClearance("PD-LATER", zone.In, zone.ReadStandTag, "STAND-0042")
	cl.Window.From = corrAt(5)
	book := NewClearances(corrGate, NewClock(func() time.Time { return now }), map[string]record.Clearance{cl.ID: {Clearance: cl}})
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	set := book.Begin()
	// Stamped ahead of the gate clock: the crossing's claim time is in
	// the window, the gate clock is not yet.
	require.Empty(t, c.Observe(1, detEv(6, "t-1", ClassEngine, zone.In, readTag("STAND-0042", 0.95)), set))
	require.Empty(t, c.Observe(2, brkEv(6, "A", 1), set))
	require.Empty(t, c.Observe(3, brkEv(6.5, "B", 1), set))
	require.Empty(t, c.Advance(now, set))
	set.Commit(nil)

	now = corrAt(5)
	set = book.Begin()
	got := summarizeOutcomes(c.Advance(corrAt(17), set))
	require.Equal(t, []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-LATER"}}, got)
}

// A refusal given because the step's set had claimed the clearance for
// another crossing is not carried into the next step: that claim may
// lapse (no written crossing carried it), and the clearance is free again.
func TestCorrelatorAsksAgainWhenARefusalWasAnotherClaimOfTheStep(t *testing.T) {
	now := corrAt(32)
	cl := corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")
	book := NewClearances(corrGate, NewClock(func() time.Time { return now }), map[string]record.Clearance{cl.ID: {Clearance: cl}})
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	set := book.Begin()
	second := detEv(30, "t-2", ClassEngine, zone.In, readTag("STAND-0042", 0.95))
	second.DeviceID, second.EventID = "CAM-2", "CAM-2-t-2@30"
	var got []corrDecided
	for i, ev := range []SensorEvent{detEv(0, "t-1", ClassEngine, zone.In, readTag("STAND-0042", 0.95)), brkEv(1, "A", 1), brkEv(1.5, "B", 1),
		second, brkEv(31, "A", 1), brkEv(31.5, "B", 1)} {
		got = append(got, summarizeOutcomes(c.Observe(uint64(i+1), ev, set))...)
	}
	require.Equal(t, []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"}}, got,
		"the second crossing is refused: the first one claimed the clearance in this step")
	set.Commit(nil) // the first crossing was not written: its claim lapses

	got = summarizeOutcomes(c.Advance(corrAt(42), book.Begin()))
	require.Equal(t, []corrDecided{{ID: "X-G-MRO-1-6", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"}}, got)
}

// A decided crossing's track that ends before every pending crossing goes
// to the first of each line it may use; with no direction, to both when
// both lie as near, in pending order, as a search over every crossing
// finds.
func TestCorrelatorHandsATrackToBothLinesWhenTheirHeadsLieAsNear(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	near := detEv(1, "t-0", ClassVehicle, "", readPlate("P-A", 0.95))
	far := detEv(0, "t-1", ClassVehicle, "", readPlate("P-B", 0.95))
	far.DeviceID, far.EventID = "CAM-2", "CAM-2-t-1@0"
	evs := []SensorEvent{near, far, brkEv(1, "A", 1), brkEv(1.2, "B", 1),
		brkEv(5, "B", 3), brkEv(5.5, "A", 3), // out, pending first
		brkEv(5, "A", 2), brkEv(5.5, "B", 2)} // in, as near
	for i, ev := range evs {
		require.Empty(t, c.Observe(uint64(i+1), ev, nil))
	}
	got := summarizeOutcomes(c.Advance(corrAt(12), nil))
	require.Len(t, got, 1)
	require.Equal(t, "X-G-MRO-1-4", got[0].ID)
	tr := heldTrack(c, "CAM-2/t-1")
	require.Len(t, tr.offeredTo, 2)
	require.Equal(t, []zone.Direction{zone.Out, zone.In}, []zone.Direction{tr.offeredTo[0].dir, tr.offeredTo[1].dir})
	checkOffers(t, c, streamStep{seq: 9, ev: far})
}
