package decide

// The correlator as it was before the offers were indexed (index_offers.go):
// every question the linear version asked, kept as the reference the
// indexed one must answer exactly like (correlator_index_test.go). Only
// names changed.

import (
	"container/heap"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// refPending is a completed beam pair waiting for its decision.
type refPending struct {
	first, last beamBreak // first is the earlier break
	segment     int
	dir         zone.Direction
	decided     bool
}

func (p *refPending) start() time.Time { return p.first.at }
func (p *refPending) end() time.Time   { return p.last.at }

// claimAt is the time a clearance's window must hold for p: its stamped end,
// but no later than when the gate heard the pair complete, so beams stamped
// ahead cannot reach into a window that had not opened when they came.
func (p *refPending) claimAt() time.Time {
	heard := laterOf(p.first.heard, p.last.heard)
	if !heard.IsZero() && heard.Before(p.end()) {
		return heard
	}
	return p.end()
}

// track is everything one camera said about one tracked object. A track is
// treated as present from its first to its last detection.
type refTrack struct {
	key      string
	id       string
	firstSeq uint64
	from, to time.Time
	class    string
	dir      zone.Direction
	reads    []Read // best confidence per kind and value, in first-seen order
	snapshot string
	eventIDs []string
	usedBy   string // crossing ID; one track identifies at most one crossing
	// usedFrom is the first beam seq of the crossing in usedBy: a replay
	// must start there too, so that crossing is adopted and takes this
	// track again rather than the track coming back free.
	usedFrom  uint64
	firstSeen int // order of arrival, for deterministic iteration
	// Positions in the correlator's indexes (index.go).
	endPos, lowPos int
}

// refCorrelator joins infrared beam pairs with camera tracks and decides each
// crossing. Events must be observed in seq order; the gate clock moves only
// through Advance, so a device with a wrong clock cannot force decisions.
// It is safe for concurrent use, though a gate drives it from one goroutine.
type refCorrelator struct {
	mu  sync.Mutex
	cfg CorrelatorConfig
	log *slog.Logger

	clock   time.Time // gate clock: the latest time given to Advance
	latest  time.Time // latest event time observed
	open    map[int]beamBreak
	pending []*refPending
	tracks  map[string]*refTrack
	arrived int
	// preUsed holds track IDs a recorded crossing used that the replay has
	// not reached yet, with the crossing's time for pruning.
	preUsed map[string]preUse
	sensors map[string]*SensorState

	// Indexes (index.go): tracks by last detection (for pruning) and by
	// the seq they hold back (for LowWater); devices by when they were
	// last heard (for silence), with the LastSeen each device is queued
	// at; devices whose LastSeen lies past the gate clock (a seeded state
	// or a playback stamp), to pull back; devices changed since
	// ChangedSensors.
	byEnd, byLow *refTrackHeap
	quiet        silenceHeap
	queuedAt     map[string]time.Time
	ahead        map[string]struct{}
	changed      map[string]struct{}
}

// newRefCorrelator returns a correlator for one gate.
func newRefCorrelator(cfg CorrelatorConfig) *refCorrelator {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MinConfidence <= 0 {
		cfg.MinConfidence = DefaultMinConfidence
	}
	if cfg.SilentAfter <= 0 {
		cfg.SilentAfter = DefaultSilentAfter
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	byEnd, byLow := newRefTrackIndexes()
	return &refCorrelator{cfg: cfg, log: log.With("gate", cfg.Gate), open: map[int]beamBreak{},
		tracks: map[string]*refTrack{}, sensors: map[string]*SensorState{}, preUsed: map[string]preUse{},
		byEnd: byEnd, byLow: byLow, queuedAt: map[string]time.Time{}, ahead: map[string]struct{}{}, changed: map[string]struct{}{}}
}

// Observe is ObserveAt with the event's own time as when the gate heard it,
// as when a recording is played back.
func (c *refCorrelator) Observe(seq uint64, ev SensorEvent, book ClearanceBook) []Outcome {
	return c.ObserveAt(seq, ev, book, ev.Time)
}

// ObserveAt feeds one event (in seq order) that the gate took at heard on its
// own clock, and returns what it decided at once: an authorized crossing
// whose identity is already known, or sensor alarms. Crossings that need the
// window to pass are decided by Advance.
func (c *refCorrelator) ObserveAt(seq uint64, ev SensorEvent, book ClearanceBook, heard time.Time) []Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Gate != "" && ev.Gate != c.cfg.Gate {
		c.log.Warn("event for another gate ignored", "seq", seq, "event_gate", ev.Gate, "device", ev.DeviceID)
		return nil
	}
	if ev.Time.After(c.latest) {
		c.latest = ev.Time
	}
	var outs []Outcome
	if a, ok := c.health(seq, ev, heard); ok {
		outs = append(outs, Outcome{Alarms: []zone.Alarm{a}})
	}
	// Replayed state after a reconnect says nothing new about the scene.
	if ev.State == StateInitialized || ev.State == StateDeleted {
		return outs
	}
	switch ev.Type {
	case EventDetection:
		t := c.detect(seq, ev)
		// The track is offered to its nearest undecided crossings: find how
		// near that is once (a pass over the pending crossings), not once
		// per crossing, and again only after a decision changed the set.
		gap, mid, found := c.nearest(t)
		for _, p := range c.pending {
			if t.usedBy != "" || !found {
				break
			}
			if p.decided || !c.candidate(t, p) {
				continue
			}
			if g, m := refNearness(t, p); g != gap || m != mid {
				continue // another undecided crossing lies refNearer
			}
			if o, ok := c.tryAuthorize(p, book, ev.Time); ok {
				outs = append(outs, o)
				gap, mid, found = c.nearest(t)
			}
		}
		c.dropDecided()
	case EventBreak:
		if p := c.beam(seq, ev, heard); p != nil {
			if c.adopt(p) {
				break
			}
			if o, ok := c.tryAuthorize(p, book, ev.Time); ok {
				outs = append(outs, o)
			} else {
				c.pending = append(c.pending, p)
			}
		}
	}
	return outs
}

// Advance moves the gate clock to now (never back) and decides what the
// window has passed: crossings nobody could authorize, beams with no
// partner (noise), silent devices. It also drops state no crossing can use.
func (c *refCorrelator) Advance(now time.Time, book ClearanceBook) []Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.clock) {
		c.clock = now
	}
	w := c.cfg.Window
	var outs []Outcome
	keep := c.pending[:0]
	for _, p := range c.pending {
		if !c.clock.After(p.end().Add(w)) {
			keep = append(keep, p)
			continue
		}
		if o, ok := c.tryAuthorize(p, book, c.clock); ok {
			outs = append(outs, o)
			continue
		}
		outs = append(outs, c.decide(p, c.clock))
	}
	clear(c.pending[len(keep):])
	c.pending = keep

	// A single break never completed into a pair: something touched one beam
	// and went back (a bird, a person leaning in). Nothing crossed, so it is
	// logged, not decided; a real crossing breaks both beams.
	for seg, b := range c.open {
		if c.clock.After(b.at.Add(w)) {
			c.log.Info("beam break with no partner; treated as noise", "segment", seg, "beam", b.beam, "device", b.device, "event_id", b.eventID, "seq", b.seq)
			delete(c.open, seg)
		}
	}

	for id := range c.ahead {
		if s := c.sensors[id]; s != nil && s.LastSeen.After(c.clock) {
			// Nothing is heard after the gate clock; a state kept from before
			// silence was judged on receipt may still carry a device's stamp.
			s.LastSeen = c.clock
			c.changed[id] = struct{}{}
			if !s.Silent {
				c.queue(id, s.LastSeen)
			}
		}
		delete(c.ahead, id)
	}
	// Devices come off the silence queue in order of when they were last
	// heard, so a step looks only at those whose silence may be due.
	var ids []string
	for len(c.quiet) > 0 && c.clock.After(c.quiet[0].at.Add(c.cfg.SilentAfter)) {
		e := heap.Pop(&c.quiet).(silence)
		if at, ok := c.queuedAt[e.id]; !ok || !at.Equal(e.at) {
			continue // superseded by a later entry
		}
		delete(c.queuedAt, e.id)
		s := c.sensors[e.id]
		if s == nil || s.Silent {
			continue
		}
		if !c.clock.After(s.LastSeen.Add(c.cfg.SilentAfter)) {
			c.queue(e.id, s.LastSeen) // heard since it was queued
			continue
		}
		ids = append(ids, e.id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := c.sensors[id]
		c.changed[id] = struct{}{}
		s.Silent = true
		s.OK = false
		s.Problem = problem(s)
		a := c.alarm(s.LastSeq, zone.AlarmSensorSilent, zone.SeverityCritical,
			fmt.Sprintf("%s silent since %s: no heartbeat for %s", id, s.LastSeen.UTC().Format(time.RFC3339), c.cfg.SilentAfter),
			"", id, s.LastSeen.Add(c.cfg.SilentAfter))
		a.Params = map[string]string{"device": id, "since": s.LastSeen.UTC().Format(time.RFC3339),
			"after_seconds": strconv.FormatInt(int64(c.cfg.SilentAfter/time.Second), 10)}
		outs = append(outs, Outcome{Alarms: []zone.Alarm{a}})
	}

	// A track can describe crossings ending up to 2 windows after it and
	// those are decided a window later; past that it is dead weight. The
	// horizon is the earlier of gate clock and event time, so neither a
	// replay of old events nor a device clock running ahead drops a track
	// that a crossing still needs.
	horizon := c.clock
	if c.latest.Before(horizon) {
		horizon = c.latest
	}
	for t := c.byEnd.min(); t != nil && horizon.After(t.to.Add(3*w)); t = c.byEnd.min() {
		heap.Pop(c.byEnd)
		c.byLow.remove(t)
		delete(c.tracks, t.key)
	}
	for k, u := range c.preUsed {
		if horizon.After(u.at.Add(3 * w)) {
			delete(c.preUsed, k)
		}
	}
	return outs
}

// LowWater is the lowest seq of an event still held undecided (0 = none);
// the service replays from here after a restart.
func (c *refCorrelator) LowWater() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var low uint64
	see := func(s uint64) {
		if s != 0 && (low == 0 || s < low) {
			low = s
		}
	}
	for _, b := range c.open {
		see(b.seq)
	}
	for _, p := range c.pending {
		see(p.first.seq)
	}
	// Tracks count too: after a restart a replayed track must again know
	// whether it already identified a crossing, so a used track also holds
	// back the beams of the crossing that used it.
	if t := c.byLow.min(); t != nil {
		see(t.lowSeq())
	}
	// An adopted crossing whose tracks the replay has not reached yet.
	for _, u := range c.preUsed {
		see(u.from)
	}
	return low
}

// Sensors returns every device's state, sorted by device ID.
func (c *refCorrelator) Sensors() []SensorState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SensorState, 0, len(c.sensors))
	for _, s := range c.sensors {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// SeedSensor restores a device's state after a restart, so a silence or a
// fault already reported is not reported again.
func (c *refCorrelator) SeedSensor(s SensorState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.DeviceID == "" {
		return
	}
	cp := s
	if cp.Problem == "" {
		cp.Problem = problem(&cp)
	}
	cp.OK = !cp.Silent && cp.Fault == ""
	c.sensors[s.DeviceID] = &cp
	c.ahead[s.DeviceID] = struct{}{}
	if !cp.Silent {
		c.queue(s.DeviceID, cp.LastSeen)
	}
}

// queue (re)places a device on the silence queue at when it was last heard.
func (c *refCorrelator) queue(id string, at time.Time) {
	c.queuedAt[id] = at
	heap.Push(&c.quiet, silence{at: at, id: id})
}

// ChangedSensors returns the states of the devices that changed since the
// last call, sorted by device ID, and starts counting anew: the decider
// writes only these at a step, so a step's cost follows the devices it
// heard from, not how many the gate knows.
func (c *refCorrelator) ChangedSensors() []SensorState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SensorState, 0, len(c.changed))
	for id := range c.changed {
		if s := c.sensors[id]; s != nil {
			out = append(out, *s)
		}
	}
	clear(c.changed)
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// health applies an event to its device's state and returns an alarm for a
// new fault or tamper.
func (c *refCorrelator) health(seq uint64, ev SensorEvent, heard time.Time) (zone.Alarm, bool) {
	s, ok := c.sensors[ev.DeviceID]
	if !ok {
		s = &SensorState{DeviceID: ev.DeviceID, OK: true}
		c.sensors[ev.DeviceID] = s
	}
	if seq != 0 && seq <= s.LastSeq {
		return zone.Alarm{}, false // already applied before a restart
	}
	if seq > s.LastSeq {
		s.LastSeq = seq
	}
	if heard.After(s.LastSeen) {
		s.LastSeen = heard
	}
	c.changed[ev.DeviceID] = struct{}{}
	if s.LastSeen.After(c.clock) {
		c.ahead[ev.DeviceID] = struct{}{}
	}
	if _, ok := c.queuedAt[ev.DeviceID]; !ok {
		c.queue(ev.DeviceID, s.LastSeen)
	}
	s.Silent = false // it spoke: a later silence is a new one
	var a zone.Alarm
	raised := false
	if ev.Type == EventInfraredFault || ev.Type == EventCameraFault {
		switch ev.State {
		case StateCleared:
			s.Fault = ""
		case StateInitialized:
			// A replayed fault state: still faulty, but not a new alarm.
			if s.Fault == "" {
				s.Fault = faultCode(ev)
			}
		default:
			s.Fault = faultCode(ev)
			kind, sev, what := zone.AlarmSensorFault, zone.SeverityWarning, "fault"
			if ev.Code == TamperCode {
				kind, sev, what = zone.AlarmSensorTamper, zone.SeverityCritical, "tamper"
			}
			msg := fmt.Sprintf("%s reports %s", ev.DeviceID, what)
			if ev.Code != "" {
				msg += " (code " + ev.Code + ")"
			}
			if ev.Message != "" {
				msg += ": " + ev.Message
			}
			a, raised = c.alarm(seq, kind, sev, msg, "", ev.DeviceID, ev.Time), true
			a.Params = map[string]string{"device": ev.DeviceID}
			if ev.Code != "" {
				a.Params["code"] = ev.Code
			}
			if ev.Message != "" {
				a.Params["detail"] = ev.Message // the device's own words, untranslated
			}
		}
	}
	s.OK = !s.Silent && s.Fault == ""
	s.Problem = problem(s)
	return a, raised
}

// detect folds a detection into its track.
func (c *refCorrelator) detect(seq uint64, ev SensorEvent) *refTrack {
	key := ev.DeviceID + "/" + ev.TrackID
	t, ok := c.tracks[key]
	if !ok {
		c.arrived++
		t = &refTrack{key: key, id: ev.TrackID, firstSeq: seq, from: ev.Time, to: ev.Time, firstSeen: c.arrived}
		c.tracks[key] = t
		if u, ok := c.preUsed[ev.TrackID]; ok {
			t.usedBy, t.usedFrom = u.crossingID, u.from
			delete(c.preUsed, ev.TrackID)
		}
		c.byEnd.add(t)
		c.byLow.add(t)
	}
	if ev.Time.Before(t.from) {
		t.from = ev.Time
	}
	if ev.Time.After(t.to) {
		t.to = ev.Time
		c.byEnd.fix(t)
	}
	// An analytics engine often says "unknown" before it is sure; a later
	// definite class wins, a later "unknown" does not undo it.
	if ev.ObjectClass != ClassUnknown || t.class == "" {
		t.class = ev.ObjectClass
	}
	if ev.Direction != "" {
		t.dir = ev.Direction
	}
	if ev.Snapshot != "" {
		t.snapshot = ev.Snapshot
	}
	if len(t.eventIDs) < maxTrackEvents {
		t.eventIDs = append(t.eventIDs, ev.EventID)
	}
next:
	for _, r := range ev.Reads {
		for i := range t.reads {
			if t.reads[i].Kind == r.Kind && t.reads[i].Value == r.Value {
				t.reads[i].Confidence = max(t.reads[i].Confidence, r.Confidence)
				continue next
			}
		}
		if len(t.reads) < maxReadsPerEv {
			t.reads = append(t.reads, r)
		}
	}
	return t
}

// beam applies a break and returns the crossing it completes, if any.
func (c *refCorrelator) beam(seq uint64, ev SensorEvent, heard time.Time) *refPending {
	b := beamBreak{seq: seq, eventID: ev.EventID, device: ev.DeviceID, beam: ev.Beam, at: ev.Time, heard: heard}
	prev, ok := c.open[ev.Segment]
	if !ok {
		c.open[ev.Segment] = b
		return nil
	}
	gap := b.at.Sub(prev.at)
	if gap < 0 {
		gap = -gap
	}
	if prev.beam == b.beam || gap > c.cfg.Window {
		// The same beam again (an object lingering) or a partner too late:
		// the newer break starts over.
		c.log.Info("beam break superseded; treated as noise", "segment", ev.Segment, "beam", prev.beam, "device", prev.device, "event_id", prev.eventID, "seq", prev.seq)
		c.open[ev.Segment] = b
		return nil
	}
	delete(c.open, ev.Segment)
	p := &refPending{first: prev, last: b, segment: ev.Segment}
	// Order by each break's own time: the beam broken first is the side the
	// object came from. The seq of the completing event still names it.
	if b.at.Before(prev.at) {
		p.first, p.last = b, prev
	}
	p.dir = zone.In
	if p.first.beam == "B" {
		p.dir = zone.Out
	}
	return p
}

// adopt takes a crossing's stored decision as given when the service
// already recorded it (a replay), marking its tracks used.
func (c *refCorrelator) adopt(p *refPending) bool {
	if c.cfg.Recorded == nil {
		return false
	}
	x, ok := c.cfg.Recorded(c.crossingID(p))
	if !ok {
		return false
	}
	from := min(p.first.seq, p.last.seq)
	for _, id := range x.TrackIDs {
		found := false
		for _, t := range c.tracks {
			if t.id == id && t.usedBy == "" {
				t.usedBy, t.usedFrom, found = x.ID, from, true
				c.byLow.fix(t)
			}
		}
		if !found {
			c.preUsed[id] = preUse{crossingID: x.ID, from: from, at: p.end()}
		}
	}
	return true
}

func (c *refCorrelator) crossingID(p *refPending) string {
	return "X-" + c.cfg.Gate + "-" + strconv.FormatUint(max(p.first.seq, p.last.seq), 10)
}

// candidate reports whether a track may describe a crossing: present within
// the window either side, moving the same way (or not saying), and free.
func (c *refCorrelator) candidate(t *refTrack, p *refPending) bool {
	w := c.cfg.Window
	if t.usedBy != "" || t.to.Before(p.start().Add(-w)) || t.from.After(p.end().Add(w)) {
		return false
	}
	return t.dir == "" || t.dir == p.dir
}

// offered reports whether t may describe p and no other undecided crossing
// lies refNearer to it in time: a track is offered to its nearest crossing.
func (c *refCorrelator) offered(t *refTrack, p *refPending) bool {
	if !c.candidate(t, p) {
		return false
	}
	for _, q := range c.pending {
		if q != p && !q.decided && c.candidate(t, q) && refNearer(t, q, p) {
			return false
		}
	}
	return true
}

// nearest is how near t lies to the nearest undecided crossing it may
// describe; found is false when there is none.
func (c *refCorrelator) nearest(t *refTrack) (gap, mid time.Duration, found bool) {
	for _, q := range c.pending {
		if q.decided || !c.candidate(t, q) {
			continue
		}
		g, m := refNearness(t, q)
		if !found || g < gap || (g == gap && m < mid) {
			gap, mid, found = g, m, true
		}
	}
	return gap, mid, found
}

// candidates lists the tracks offered to p, in arrival order.
func (c *refCorrelator) candidates(p *refPending) []*refTrack {
	var out []*refTrack
	for _, t := range c.tracks {
		if c.offered(t, p) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].firstSeen < out[j].firstSeen })
	return out
}

// refNearness is how far t lies from p in time: the gap between the track's
// presence and the crossing (0 if they overlap), then the distance between
// their middles to tell overlapping ones apart.
func refNearness(t *refTrack, p *refPending) (gap, mid time.Duration) {
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

// refNearer reports whether t lies strictly refNearer to a than to b.
func refNearer(t *refTrack, a, b *refPending) bool {
	ga, ma := refNearness(t, a)
	gb, mb := refNearness(t, b)
	return ga < gb || (ga == gb && ma < mb)
}

// refByNearness orders ts (a copy) nearest to p first, arrival breaking ties.
func refByNearness(ts []*refTrack, p *refPending) []*refTrack {
	out := append([]*refTrack(nil), ts...)
	sort.SliceStable(out, func(i, j int) bool {
		gi, mi := refNearness(out[i], p)
		gj, mj := refNearness(out[j], p)
		if gi != gj {
			return gi < gj
		}
		return mi < mj
	})
	return out
}

// assign picks, of the tracks offered to p (arrival order), those that
// belong to it. Per object class the anchor is the identity track, or else
// the nearest track with a confident read; a track of that class reading
// none of the anchor's identities is another object crossing beside this one
// (two engines at once on two segments) and stays free for its own
// crossing: one track describes one crossing. Tracks with no confident read
// cannot identify anything and go along.
func (c *refCorrelator) assign(p *refPending, ts []*refTrack, ident *refTrack) []*refTrack {
	anchors := map[string]*refTrack{}
	if ident != nil {
		anchors[ident.class] = ident
	}
	for _, t := range refByNearness(ts, p) {
		if _, ok := anchors[t.class]; !ok && len(c.confident(t)) > 0 {
			anchors[t.class] = t
		}
	}
	out := make([]*refTrack, 0, len(ts))
	for _, t := range ts {
		if a := anchors[t.class]; a == nil || a == t || c.sameObject(a, t) {
			out = append(out, t)
		}
	}
	return out
}

// sameObject reports whether t reads as the anchor a does: some confident
// read of each names the same identity, or t has no confident read at all.
func (c *refCorrelator) sameObject(a, t *refTrack) bool {
	rs := c.confident(t)
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		for _, ar := range c.confident(a) {
			if zone.IdentitiesMatch(r.Identity(), ar.Identity()) {
				return true
			}
		}
	}
	return false
}

// tryAuthorize decides p as authorized if a confident read on one of its
// candidate tracks claims a clearance. A person is never the conveyance, so
// reads on person tracks do not count.
func (c *refCorrelator) tryAuthorize(p *refPending, book ClearanceBook, now time.Time) (Outcome, bool) {
	if book == nil {
		return Outcome{}, false
	}
	ts := c.candidates(p)
	// The declared object (engine, aircraft) is asked before its conveyance
	// (the tow vehicle), so the crossing names what was cleared; within a
	// class the track nearest in time is asked first.
	order := refByNearness(ts, p)
	sort.SliceStable(order, func(i, j int) bool { return classRank(order[i].class) < classRank(order[j].class) })
	for _, t := range order {
		if t.class == ClassPerson {
			continue
		}
		for _, r := range c.confident(t) {
			id, ok := book.Claim(r.Identity(), p.dir, p.claimAt())
			if !ok {
				continue
			}
			x := c.crossing(p, c.assign(p, ts, t), now)
			x.Decision = zone.DecisionAuthorized
			x.ClearanceID = id
			ident := r.Identity()
			x.Identity = &ident
			x.ObjectClass = t.class
			if t.snapshot != "" {
				x.Snapshot = t.snapshot
			}
			p.decided = true
			return Outcome{Crossing: x}, true
		}
	}
	return Outcome{}, false
}

// confident returns a track's reads at or above MinConfidence, best first.
func (c *refCorrelator) confident(t *refTrack) []Read {
	var out []Read
	for _, r := range t.reads {
		if r.Confidence >= c.cfg.MinConfidence {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Confidence > out[j].Confidence })
	return out
}

// decide gives p its final, non-authorized decision once the window passed.
// Precedence: an identified conveyance (unauthorized) over a person over
// nobody (unidentified). A person beside an identified conveyance is its
// crew; a person alone on the line is the alarm.
func (c *refCorrelator) decide(p *refPending, now time.Time) Outcome {
	ts := c.candidates(p)
	var best *Read
	var bestTrack *refTrack
	for _, t := range refByNearness(ts, p) {
		if t.class == ClassPerson {
			continue
		}
		if rs := c.confident(t); len(rs) > 0 && (best == nil || rs[0].Confidence > best.Confidence) {
			r := rs[0]
			best, bestTrack = &r, t
		}
	}
	ts = c.assign(p, ts, bestTrack)
	x := c.crossing(p, ts, now)
	p.decided = true // so a crossing decided later in this pass offers no track to it
	persons, others := 0, 0
	for _, t := range ts {
		if t.class == ClassPerson {
			persons++
		} else {
			others++
		}
	}
	var kind zone.AlarmKind
	var msg string
	params := map[string]string{"direction": string(p.dir), "segment": strconv.Itoa(p.segment)}
	switch {
	case best != nil:
		x.Decision = zone.DecisionUnauthorized
		ident := best.Identity()
		x.Identity = &ident
		x.ObjectClass = bestTrack.class
		if bestTrack.snapshot != "" {
			x.Snapshot = bestTrack.snapshot
		}
		kind = zone.AlarmUnauthorized
		msg = fmt.Sprintf("%s %s crossed %s on segment %d with no clearance", ident.Kind, ident.Value, p.dir, p.segment)
		params["identity_kind"], params["identity"] = string(ident.Kind), ident.Value
	case persons > 0 && others == 0:
		x.Decision = zone.DecisionPerson
		x.ObjectClass = ClassPerson
		kind = zone.AlarmPerson
		msg = fmt.Sprintf("person crossed %s on segment %d", p.dir, p.segment)
	default:
		x.Decision = zone.DecisionUnidentified
		kind = zone.AlarmUnidentified
		msg = fmt.Sprintf("crossing %s on segment %d that no camera identified", p.dir, p.segment)
		if others > 0 {
			msg = fmt.Sprintf("%s crossing %s on segment %d with no confident identity read", x.ObjectClass, p.dir, p.segment)
			params["object_class"] = x.ObjectClass
		}
	}
	a := c.alarm(x.Seq, kind, zone.SeverityCritical, msg, x.ID, "", x.Time)
	a.Params = params
	return Outcome{Crossing: x, Alarms: []zone.Alarm{a}}
}

// crossing builds the record for p from its tracks and marks them used.
func (c *refCorrelator) crossing(p *refPending, ts []*refTrack, now time.Time) *zone.Crossing {
	seq := max(p.first.seq, p.last.seq) // the beam that completed the pair
	x := &zone.Crossing{
		ID:        c.crossingID(p),
		Seq:       seq,
		Gate:      c.cfg.Gate,
		Segment:   p.segment,
		Direction: p.dir,
		Time:      p.end(),
		EventIDs:  []string{p.first.eventID, p.last.eventID},
		DecidedAt: laterOf(now, p.end()),
	}
	for _, t := range ts {
		t.usedBy, t.usedFrom = x.ID, min(p.first.seq, p.last.seq)
		c.byLow.fix(t)
		x.TrackIDs = append(x.TrackIDs, t.id)
		x.EventIDs = append(x.EventIDs, t.eventIDs...)
		if x.ObjectClass == "" && t.class != ClassPerson && t.class != ClassUnknown {
			x.ObjectClass = t.class
		}
		if x.Snapshot == "" {
			x.Snapshot = t.snapshot
		}
	}
	if x.ObjectClass == "" && len(ts) > 0 {
		x.ObjectClass = ClassUnknown
	}
	return x
}

// dropDecided removes crossings tryAuthorize decided from the pending list.
func (c *refCorrelator) dropDecided() {
	keep := c.pending[:0]
	for _, p := range c.pending {
		if !p.decided {
			keep = append(keep, p)
		}
	}
	clear(c.pending[len(keep):])
	c.pending = keep
}

// alarm builds an alarm whose ID derives from the seq that caused it, so a
// replay after a restart produces the same ID.
func (c *refCorrelator) alarm(seq uint64, kind zone.AlarmKind, severity zone.Severity, msg, crossingID, device string, at time.Time) zone.Alarm {
	return zone.Alarm{
		ID:         "A-" + c.cfg.Gate + "-" + strconv.FormatUint(seq, 10) + "-" + string(kind),
		Gate:       c.cfg.Gate,
		Kind:       kind,
		Severity:   severity,
		Message:    msg,
		CrossingID: crossingID,
		DeviceID:   device,
		Time:       at.UTC(),
		State:      zone.AlarmOpen,
	}
}

// refTrackHeap is an indexed min-heap of tracks under one ordering; each
// track keeps its position so a changed key is fixed in O(log n) and a
// dropped track removed.
type refTrackHeap struct {
	items []*refTrack
	less  func(a, b *refTrack) bool
	pos   func(t *refTrack) *int
}

func (h *refTrackHeap) Len() int           { return len(h.items) }
func (h *refTrackHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *refTrackHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.pos(h.items[i]), *h.pos(h.items[j]) = i, j
}
func (h *refTrackHeap) Push(x any) {
	t := x.(*refTrack)
	*h.pos(t) = len(h.items)
	h.items = append(h.items, t)
}
func (h *refTrackHeap) Pop() any {
	n := len(h.items) - 1
	t := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	*h.pos(t) = -1
	return t
}

func (h *refTrackHeap) add(t *refTrack) { heap.Push(h, t) }
func (h *refTrackHeap) fix(t *refTrack) { heap.Fix(h, *h.pos(t)) }
func (h *refTrackHeap) remove(t *refTrack) {
	if i := *h.pos(t); i >= 0 {
		heap.Remove(h, i)
	}
}
func (h *refTrackHeap) min() *refTrack {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// lowSeq is the lowest seq a track holds back from the replay point: its
// first detection, or the first beam of the crossing that used it.
func (t *refTrack) lowSeq() uint64 {
	if t.usedFrom != 0 && t.usedFrom < t.firstSeq {
		return t.usedFrom
	}
	return t.firstSeq
}

func newRefTrackIndexes() (byEnd, byLow *refTrackHeap) {
	byEnd = &refTrackHeap{less: func(a, b *refTrack) bool { return a.to.Before(b.to) }, pos: func(t *refTrack) *int { return &t.endPos }}
	byLow = &refTrackHeap{less: func(a, b *refTrack) bool { return a.lowSeq() < b.lowSeq() }, pos: func(t *refTrack) *int { return &t.lowPos }}
	return byEnd, byLow
}

// decidedIn is the crossings a step decided, to commit to the books, and
// how many of them were authorized.
func decidedIn(outs []Outcome) (written []zone.Crossing, authorized int) {
	for _, o := range outs {
		if o.Crossing != nil {
			written = append(written, *o.Crossing)
			if o.Crossing.Decision == zone.DecisionAuthorized {
				authorized++
			}
		}
	}
	return written, authorized
}
