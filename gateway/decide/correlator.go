package decide

import (
	"cmp"
	"container/heap"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// Correlator defaults, for the gate's Config and the command's flags.
const (
	DefaultWindow        = 10 * time.Second
	DefaultMinConfidence = 0.8
	DefaultSilentAfter   = 60 * time.Second
	// DefaultMaxTracks bounds the camera tracks a gate's correlator holds,
	// about 200 MB of heap. A gate sees a few tracks a minute; only a flood
	// (a detector gone wild, or a load test posting every detection as a
	// new track) comes near it.
	DefaultMaxTracks = 200_000
)

// CorrelatorConfig tunes a Correlator. Zero values take the defaults.
type CorrelatorConfig struct {
	Gate string
	// Window is how far either side of a crossing a camera detection may lie
	// and still describe it (default DefaultWindow).
	Window time.Duration
	// MinConfidence is the lowest read confidence that identifies (default
	// DefaultMinConfidence).
	MinConfidence float64
	// SilentAfter is how long a device may stay quiet on the gate clock
	// before it is reported silent (default DefaultSilentAfter).
	SilentAfter time.Duration
	// MaxTracks bounds the camera tracks held (0: no bound). Tracks are
	// held for three windows after their last detection; past the bound,
	// Advance drops those heard least recently first, as if their time had
	// come, and TracksShed counts them. Memory then stays bounded under a
	// flood of new tracks instead of growing with rate × three windows.
	MaxTracks int
	// Logger receives noise reports (a beam with no partner); default slog.Default().
	Logger *slog.Logger
	// Recorded, if set, says whether a crossing was already decided and
	// stored: the service replays events from LowWater after a restart, and
	// a replay must not decide again (the clearance it used is gone by now,
	// so it would decide differently). The stored decision is taken as
	// given: nothing is returned for it and its tracks stay used.
	Recorded func(crossingID string) (zone.Crossing, bool)
}

// ClearanceBook is what the correlator asks when it decides; Claim marks the
// clearance used so a second crossing cannot use it.
type ClearanceBook interface {
	Claim(id zone.Identity, dir zone.Direction, at time.Time) (clearanceID string, ok bool)
}

// Outcome is what one step of the correlator decided: a crossing (with the
// alarm it raises, if not authorized) or sensor alarms alone. The alarms of
// an outcome that carries a crossing belong to it: a service replaying after
// a restart that already holds Crossing.ID should drop the whole outcome,
// because a replay may decide differently once the clearance is used.
type Outcome struct {
	Crossing *zone.Crossing
	Alarms   []zone.Alarm
}

// SensorState is what the gate knows of one device's health, as shown in
// GET /v1/status.
type SensorState struct {
	DeviceID string `json:"device_id"`
	// LastSeen is when the gate last heard from the device, on the gate's
	// receipt clock: a device's own stamp may be far ahead and must not
	// hide a silence.
	LastSeen time.Time `json:"last_seen"`
	OK       bool      `json:"ok"`
	Problem  string    `json:"problem,omitempty"`
	// LastSeq is the seq of the device's latest event; events at or below it
	// have already been applied to this state (a replay after restart).
	LastSeq uint64 `json:"last_seq,omitempty"`
	// Silent says a silence alarm was raised and the device has not spoken since.
	Silent bool `json:"silent,omitempty"`
	// Fault holds the open fault or tamper code ("fault" when none was given).
	Fault string `json:"fault,omitempty"`
}

// beamBreak is one infrared break, held until its partner comes or the window passes.
type beamBreak struct {
	seq     uint64
	eventID string
	device  string // the infrared device that saw it, for the log
	beam    string
	at      time.Time // the device's stamp
	heard   time.Time // the gate clock when the gate took it
}

// pendingCrossing is a completed beam pair waiting for its decision.
type pendingCrossing struct {
	first, last beamBreak // first is the earlier break
	segment     int
	dir         zone.Direction
	decided     bool
	mid         time.Time // halfway between the breaks
	// Once pending (index_offers.go): its place among the pending
	// crossings and the tracks offered to it (in no order; each offer's
	// place here is kept in the track's offeredAt).
	order   uint64
	offered []*track
	// triedWith is the claim set p was last tried with, and fresh the
	// tracks offered to it or read anew since: within one decision step
	// a claim set's refusals stand, so a retry asks only the fresh ones
	// (tryAuthorize). They stand in a later step too while the book's
	// generation is triedGen and no refusal was given beside a claim of the set
	// (triedClean). Fresh may name a track twice, or one no longer
	// offered: appending costs less than keeping a set, as whole piles
	// of tracks move from a decided crossing to the next.
	triedWith  *ClaimSet
	triedGen   uint64
	triedClean bool
	fresh      []*track
}

func (p *pendingCrossing) start() time.Time { return p.first.at }
func (p *pendingCrossing) end() time.Time   { return p.last.at }

// claimAt is the time a clearance's window must hold for p: its stamped end,
// but no later than when the gate heard the pair complete, so beams stamped
// ahead cannot reach into a window that had not opened when they came.
func (p *pendingCrossing) claimAt() time.Time {
	heard := laterOf(p.first.heard, p.last.heard)
	if !heard.IsZero() && heard.Before(p.end()) {
		return heard
	}
	return p.end()
}

// track is everything one camera said about one tracked object. A track is
// treated as present from its first to its last detection.
type track struct {
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
	firstSeen int    // order of arrival, for deterministic iteration
	confident []Read // reads at or above MinConfidence, best first
	// keys are the identityKey of each confident read: reads whose keys
	// differ never match, so most comparisons end without normalising.
	keys []string
	// Its handle and place in the correlator's indexes (index.go); int32
	// keeps the track within 512 bytes, small enough for the collector's
	// span scan (2^31 tracks would be a terabyte).
	handle  int32
	slotPos int32
	slot    int64
	// The nearest undecided pending crossings (ties all), in pending
	// order, the track's place in each one's offered, and how near they
	// lie (index_offers.go).
	offeredTo   []*pendingCrossing
	offeredAt   []int
	gap, midGap time.Duration
	hash        uint64 // of key, by which the correlator finds it (index.go)
	// Room for the first of reads, confident, keys and eventIDs: most
	// tracks hold one, and a slice of its own per track was four more
	// objects for the collector to mark while the track lives.
	readIn, confidentIn [1]Read
	keyIn, eventIDIn    [1]string
}

// maxTrackEvents bounds the event IDs a crossing record lists per track; a
// parked object can be detected for hours.
const maxTrackEvents = 16

// Correlator joins infrared beam pairs with camera tracks and decides each
// crossing. Events must be observed in seq order; the gate clock moves only
// through Advance, so a device with a wrong clock cannot force decisions.
// It is safe for concurrent use, though a gate drives it from one goroutine.
type Correlator struct {
	mu  sync.Mutex
	cfg CorrelatorConfig
	log *slog.Logger

	clock   time.Time // gate clock: the latest time given to Advance
	latest  time.Time // latest event time observed
	open    map[int]beamBreak
	pending []*pendingCrossing
	// The tracks held, by handle, each one's positions in byEnd and
	// byLow, and their handles by hash of key (index.go).
	tracks   []*track
	trackPos [][2]int32
	byKey    trackTable
	hash     trackHash
	shed     uint64 // tracks dropped early to keep within MaxTracks
	arrived  int
	// preUsed holds track IDs a recorded crossing used that the replay has
	// not reached yet, with the crossing's time for pruning.
	preUsed map[string]preUse
	sensors map[string]*SensorState
	keyBuf  []byte // detect's lookup key
	// confide's scratch: a track's confident reads, and one identity key.
	confBuf  []Read
	idKeyBuf []byte

	// Indexes (index.go, index_offers.go): tracks by last detection (for
	// pruning, and in slots for the crossings they may reach), by the seq
	// they hold back (for LowWater) and by track ID (for adopting; nil
	// until a replay adopts, and again once EndReplay says it is over:
	// a live gate never adopts, and under a flood of new tracks keeping
	// it cost a map entry and a slice each); the
	// pending crossings in the order they came and, per direction, by
	// start; devices by when they were
	// last heard (for silence), with the LastSeen each device is queued
	// at; devices whose LastSeen lies past the gate clock (a seeded state
	// or a playback stamp), to pull back; devices changed since
	// ChangedSensors.
	byEnd, byLow *trackHeap
	slots        *trackSlots
	byID         map[string][]*track
	pendingSeq   uint64
	lines        [len(directions)]line
	quiet        silenceHeap
	queuedAt     map[string]time.Time
	ahead        map[string]struct{}
	changed      map[string]struct{}
}

// NewCorrelator returns a correlator for one gate.
func NewCorrelator(cfg CorrelatorConfig) *Correlator {
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
	c := &Correlator{cfg: cfg, log: log.With("gate", cfg.Gate), open: map[int]beamBreak{},
		hash: newTrackHash(), sensors: map[string]*SensorState{}, preUsed: map[string]preUse{},
		slots: newTrackSlots(), queuedAt: map[string]time.Time{}, ahead: map[string]struct{}{}, changed: map[string]struct{}{}}
	c.byEnd, c.byLow = newTrackIndexes(c)
	return c
}

type preUse struct {
	crossingID string
	from       uint64 // the crossing's first beam seq
	at         time.Time
}

// Observe is ObserveAt with the event's own time as when the gate heard it,
// as when a recording is played back.
func (c *Correlator) Observe(seq uint64, ev SensorEvent, book ClearanceBook) []Outcome {
	return c.ObserveAt(seq, ev, book, ev.Time)
}

// ObserveAt feeds one event (in seq order) that the gate took at heard on its
// own clock, and returns what it decided at once: an authorized crossing
// whose identity is already known, or sensor alarms. Crossings that need the
// window to pass are decided by Advance.
func (c *Correlator) ObserveAt(seq uint64, ev SensorEvent, book ClearanceBook, heard time.Time) []Outcome {
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
		// The track is offered to its nearest undecided crossings, each
		// tried in pending order; a decision moves the offers (the track's
		// too, when the crossing took it or another was decided), so the
		// next is taken from them as they then stand.
		var after uint64
		for t.usedBy == "" {
			var p *pendingCrossing
			for _, q := range t.offeredTo {
				if q.order >= after {
					p = q
					break
				}
			}
			if p == nil {
				break
			}
			after = p.order + 1
			if o, ok := c.tryAuthorize(p, book, ev.Time); ok {
				outs = append(outs, o)
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
				c.offerNew(p)
			}
		}
	}
	return outs
}

// Advance moves the gate clock to now (never back) and decides what the
// window has passed: crossings nobody could authorize, beams with no
// partner (noise), silent devices. It also drops state no crossing can use.
func (c *Correlator) Advance(now time.Time, book ClearanceBook) []Outcome {
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
		c.dropOldestTrack()
	}
	for c.cfg.MaxTracks > 0 && len(c.tracks) > c.cfg.MaxTracks {
		c.dropOldestTrack()
		c.shed++
	}
	for k, u := range c.preUsed {
		if horizon.After(u.at.Add(3 * w)) {
			delete(c.preUsed, k)
		}
	}
	return outs
}

// dropOldestTrack forgets the track heard least recently.
func (c *Correlator) dropOldestTrack() {
	t := c.byEnd.pop()
	c.byLow.remove(t)
	c.slots.remove(t)
	c.unindexID(t)
	c.unoffer(t)
	c.releaseTrack(t)
}

// TracksShed is how many tracks Advance dropped early to keep within
// MaxTracks.
func (c *Correlator) TracksShed() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shed
}

// LowWater is the lowest seq of an event still held undecided (0 = none);
// the service replays from here after a restart.
func (c *Correlator) LowWater() uint64 {
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
func (c *Correlator) Sensors() []SensorState {
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
func (c *Correlator) SeedSensor(s SensorState) {
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
func (c *Correlator) queue(id string, at time.Time) {
	c.queuedAt[id] = at
	heap.Push(&c.quiet, silence{at: at, id: id})
}

// ChangedSensors returns the states of the devices that changed since the
// last call, sorted by device ID, and starts counting anew: the decider
// writes only these at a step, so a step's cost follows the devices it
// heard from, not how many the gate knows.
func (c *Correlator) ChangedSensors() []SensorState {
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
func (c *Correlator) health(seq uint64, ev SensorEvent, heard time.Time) (zone.Alarm, bool) {
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

func faultCode(ev SensorEvent) string {
	if ev.Code != "" {
		return ev.Code
	}
	return "fault"
}

// problem says in words why a device is not OK.
func problem(s *SensorState) string {
	switch {
	case s.Fault == TamperCode:
		return "tamper (code 137)"
	case s.Fault == "fault":
		return "fault"
	case s.Fault != "":
		return "fault (code " + s.Fault + ")"
	case s.Silent:
		return "silent"
	}
	return ""
}

// detect folds a detection into its track.
func (c *Correlator) detect(seq uint64, ev SensorEvent) *track {
	// The key is looked up from a reused buffer: most detections find
	// their track, and a new one allocates its key once.
	c.keyBuf = append(append(append(c.keyBuf[:0], ev.DeviceID...), '/'), ev.TrackID...)
	t, h := c.track(c.keyBuf)
	ok := t != nil
	// What a track keeps of an event is copied out of it: an event's text
	// is one string (ParseEvents), so keeping a piece of it would keep the
	// whole event alive for as long as the track lives.
	var kept keptText
	if !ok {
		c.arrived++
		kept = c.keepFirst(c.keyBuf, ev)
		// The ID is the tail of the key's copy.
		key := kept.rest[:len(c.keyBuf)]
		kept.rest = kept.rest[len(key):]
		t = &track{key: key, id: key[len(ev.DeviceID)+1:], firstSeq: seq, from: ev.Time, to: ev.Time, firstSeen: c.arrived, hash: h}
		t.reads, t.confident, t.keys, t.eventIDs = t.readIn[:0], t.confidentIn[:0], t.keyIn[:0], t.eventIDIn[:0]
		c.holdTrack(t)
		if u, ok := c.preUsed[ev.TrackID]; ok {
			t.usedBy, t.usedFrom = u.crossingID, u.from
			delete(c.preUsed, ev.TrackID)
		}
		c.byEnd.add(t)
		c.byLow.add(t)
		c.slots.add(t)
		c.indexID(t)
	}
	moved := false
	if ev.Time.Before(t.from) {
		t.from, moved = ev.Time, true
	}
	if ev.Time.After(t.to) {
		t.to, moved = ev.Time, true
		c.byEnd.fix(t)
		c.slots.moved(t)
	}
	// An analytics engine often says "unknown" before it is sure; a later
	// definite class wins, a later "unknown" does not undo it.
	reclassed := false
	if ev.ObjectClass != ClassUnknown || t.class == "" {
		reclassed = t.class != ev.ObjectClass
		t.class = ev.ObjectClass
	}
	if ev.Direction != "" && ev.Direction != t.dir {
		t.dir, moved = ev.Direction, true
	}
	if moved || !ok {
		c.refresh(t)
	}
	if ev.Snapshot != "" && ev.Snapshot != t.snapshot {
		t.snapshot = kept.take(ev.Snapshot)
	}
	if len(t.eventIDs) < maxTrackEvents {
		t.eventIDs = append(t.eventIDs, kept.take(ev.EventID))
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
			r.Value = kept.take(r.Value)
			t.reads = append(t.reads, r)
		}
	}
	if len(ev.Reads) > 0 {
		c.confide(t, &kept)
	}
	if reclassed || len(ev.Reads) > 0 {
		for _, p := range t.offeredTo {
			p.fresh = append(p.fresh, t)
		}
	}
	return t
}

// beam applies a break and returns the crossing it completes, if any.
func (c *Correlator) beam(seq uint64, ev SensorEvent, heard time.Time) *pendingCrossing {
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
	p := &pendingCrossing{first: prev, last: b, segment: ev.Segment}
	// Order by each break's own time: the beam broken first is the side the
	// object came from. The seq of the completing event still names it.
	if b.at.Before(prev.at) {
		p.first, p.last = b, prev
	}
	p.dir = zone.In
	if p.first.beam == "B" {
		p.dir = zone.Out
	}
	p.mid = p.start().Add(p.end().Sub(p.start()) / 2)
	return p
}

// adopt takes a crossing's stored decision as given when the service
// already recorded it (a replay), marking its tracks used.
func (c *Correlator) adopt(p *pendingCrossing) bool {
	if c.cfg.Recorded == nil {
		return false
	}
	x, ok := c.cfg.Recorded(c.crossingID(p))
	if !ok {
		return false
	}
	from := min(p.first.seq, p.last.seq)
	c.keepTrackIDs()
	for _, id := range x.TrackIDs {
		found := false
		for _, t := range c.byID[id] {
			if t.usedBy == "" {
				t.usedBy, t.usedFrom, found = x.ID, from, true
				c.byLow.fix(t)
				c.unoffer(t)
			}
		}
		if !found {
			c.preUsed[id] = preUse{crossingID: x.ID, from: from, at: p.end()}
		}
	}
	return true
}

func (c *Correlator) crossingID(p *pendingCrossing) string {
	return "X-" + c.cfg.Gate + "-" + strconv.FormatUint(max(p.first.seq, p.last.seq), 10)
}

// candidate reports whether a track may describe a crossing: present within
// the window either side, moving the same way (or not saying), and free.
func (c *Correlator) candidate(t *track, p *pendingCrossing) bool {
	w := c.cfg.Window
	if t.usedBy != "" || t.to.Before(p.start().Add(-w)) || t.from.After(p.end().Add(w)) {
		return false
	}
	return t.dir == "" || t.dir == p.dir
}

// candidates lists the tracks offered to p, in arrival order: those that
// may describe it and lie no nearer to another undecided crossing (a track
// is offered to its nearest crossing; index_offers.go keeps the offers).
func (c *Correlator) candidates(p *pendingCrossing) []*track {
	return c.offeredTracks(p)
}

// nearness is how far t lies from p in time: the gap between the track's
// presence and the crossing (0 if they overlap), then the distance between
// their middles to tell overlapping ones apart.
func nearness(t *track, p *pendingCrossing) (gap, mid time.Duration) {
	switch {
	case t.to.Before(p.start()):
		gap = p.start().Sub(t.to)
	case t.from.After(p.end()):
		gap = t.from.Sub(p.end())
	}
	mid = t.middle().Sub(p.mid)
	if mid < 0 {
		mid = -mid
	}
	return gap, mid
}

// nearer says whether track a, at nearness (ga, ma), comes before track b
// at (gb, mb) nearest first, arrival breaking ties: the order in which a
// crossing looks at its tracks. The nearest of a pile is found in one
// pass rather than by sorting it: a crossing that takes one of thousands
// of tracks must not cost their sort.
func nearer(ga, ma time.Duration, a *track, gb, mb time.Duration, b *track) bool {
	return cmp.Or(cmp.Compare(ga, gb), cmp.Compare(ma, mb), a.firstSeen-b.firstSeen) < 0
}

// assign picks, of the tracks offered to p (any order), those that
// belong to it, in arrival order. Per object class the anchor is the
// identity track, or else the nearest track with a confident read
// (nearest, as nearestConfident finds them; nil: assign finds them); a
// track of that class reading none of the anchor's identities is another
// object crossing beside this one (two engines at once on two segments)
// and stays free for its own crossing: one track describes one crossing.
// Tracks with no confident read cannot identify anything and go along.
func (c *Correlator) assign(p *pendingCrossing, ts []*track, ident *track, nearest map[string]anchor) []*track {
	anchors := nearest
	if anchors == nil {
		anchors, _ = nearestConfident(p, ts)
	}
	if ident != nil {
		anchors[ident.class] = anchor{t: ident}
	}
	var out []*track
	for _, t := range ts {
		if a := anchors[t.class].t; a == nil || a == t || c.sameObject(a, t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *track) int { return a.firstSeen - b.firstSeen })
	return out
}

// anchor is a track with its nearness to a crossing.
type anchor struct {
	t        *track
	gap, mid time.Duration
}

// nearestConfident finds, in one pass over ts, per object class the track
// nearest to p with a confident read, and of all but persons the track
// with the best read (the nearest among equals).
func nearestConfident(p *pendingCrossing, ts []*track) (map[string]anchor, *track) {
	nearest := map[string]anchor{}
	var best anchor
	for _, t := range ts {
		if len(t.confident) == 0 {
			continue
		}
		g, m := nearness(t, p)
		if a, ok := nearest[t.class]; !ok || nearer(g, m, t, a.gap, a.mid, a.t) {
			nearest[t.class] = anchor{t: t, gap: g, mid: m}
		}
		if t.class == ClassPerson {
			continue
		}
		if b := best.t; b == nil || t.confident[0].Confidence > b.confident[0].Confidence ||
			(t.confident[0].Confidence == b.confident[0].Confidence && nearer(g, m, t, best.gap, best.mid, b)) {
			best = anchor{t: t, gap: g, mid: m}
		}
	}
	return nearest, best.t
}

// sameObject reports whether t reads as the anchor a does: some confident
// read of each names the same identity, or t has no confident read at all.
func (c *Correlator) sameObject(a, t *track) bool {
	rs := t.confident
	if len(rs) == 0 {
		return true
	}
	for i, r := range rs {
		for j, ar := range a.confident {
			if t.keys[i] == a.keys[j] && zone.IdentitiesMatch(r.Identity(), ar.Identity()) {
				return true
			}
		}
	}
	return false
}

// tryAuthorize decides p as authorized if a confident read on one of its
// candidate tracks claims a clearance. A person is never the conveyance, so
// reads on person tracks do not count.
func (c *Correlator) tryAuthorize(p *pendingCrossing, book ClearanceBook, now time.Time) (Outcome, bool) {
	if book == nil {
		return Outcome{}, false
	}
	// The declared object (engine, aircraft) is asked before its conveyance
	// (the tow vehicle), so the crossing names what was cleared; within a
	// class the track nearest in time is asked first. The gate's claim set
	// lives one decision step, and within it a refusal stands (a
	// clearance stored meanwhile is seen at the next step, as if it had
	// come just after this one): a retry in the same step asks only the
	// tracks offered or read anew since, in the same order. Any other book
	// is asked everything again.
	//
	// A later step's set asks only the fresh tracks too while nothing
	// that can turn a refusal into a claim happened (the book's
	// generation) and no refusal may have been a claim of the earlier
	// set's. Of the gate's book only tracks with a read some clearance
	// is filed under are asked: the others are refused whatever the
	// order.
	set, _ := book.(*ClaimSet)
	var ask []claimant
	if set == nil {
		ask = c.claimants(p, false, nil)
	} else {
		gen, clean := set.generation(), !set.claimedAny()
		retry := p.triedWith == set || (p.triedWith != nil && p.triedWith.book == set.book && p.triedClean && p.triedGen == gen)
		if retry {
			ask = c.claimants(p, true, set)
		} else {
			ask = c.claimants(p, false, set)
		}
		defer func() {
			if p.decided {
				return
			}
			if retry {
				p.triedClean = p.triedClean && clean && p.triedGen == gen
			} else {
				p.triedGen, p.triedClean = gen, clean
			}
			p.triedWith = set
			clear(p.fresh)
			p.fresh = p.fresh[:0]
		}()
	}
	for _, cl := range ask {
		t := cl.t
		for _, r := range t.confident {
			id, ok := book.Claim(r.Identity(), p.dir, p.claimAt())
			if !ok {
				continue
			}
			x := c.crossing(p, c.assign(p, c.offeredUnordered(p), t, nil), now)
			x.Decision = zone.DecisionAuthorized
			x.ClearanceID = id
			ident := r.Identity()
			x.Identity = &ident
			x.ObjectClass = t.class
			if t.snapshot != "" {
				x.Snapshot = t.snapshot
			}
			c.settle(p)
			return Outcome{Crossing: x}, true
		}
	}
	return Outcome{}, false
}

func classRank(class string) int {
	switch class {
	case ClassEngine, ClassAircraft:
		return 0
	case ClassVehicle:
		return 1
	}
	return 2
}

// confide keeps a track's reads at or above MinConfidence, best first, in
// t.confident (from its last read), and their identityKeys in t.keys,
// taken from kept where they come next there; the keys stay as they were
// while the confident identities do, as on every detection of a track
// that keeps reading the same plate.
func (c *Correlator) confide(t *track, kept *keptText) {
	conf := c.confident(c.confBuf[:0], t.reads)
	c.confBuf = conf
	same := len(conf) == len(t.confident)
	for i := 0; same && i < len(conf); i++ {
		same = conf[i].Kind == t.confident[i].Kind && conf[i].Value == t.confident[i].Value
	}
	t.confident = append(t.confident[:0], conf...)
	if same {
		return
	}
	t.keys = t.keys[:0]
	for _, r := range t.confident {
		c.idKeyBuf = appendIdentityKey(c.idKeyBuf[:0], r.Identity())
		t.keys = append(t.keys, kept.takeBytes(c.idKeyBuf))
	}
}

// confident appends to dst the reads at or above MinConfidence, best first.
func (c *Correlator) confident(dst, reads []Read) []Read {
	out := dst
	for _, r := range reads {
		if r.Confidence >= c.cfg.MinConfidence {
			out = append(out, r)
		}
	}
	if len(out) > 1 {
		slices.SortStableFunc(out, func(a, b Read) int { return cmp.Compare(b.Confidence, a.Confidence) })
	}
	return out
}

// keptText is what a new track keeps of its first detection, copied out
// in one piece: its key, snapshot, event ID and read values are slices of
// one string (keepFirst), a single object for the collector to mark
// while the track lives rather than one each. take hands them out.
type keptText struct{ rest string }

// keepFirst copies out the key and what detect keeps of ev, in the order
// detect takes them: snapshot, event ID, read values, then the identity
// keys of the confident reads (in ev's order: a track's first detection
// mostly holds one).
func (c *Correlator) keepFirst(key []byte, ev SensorEvent) keptText {
	b := append(c.idKeyBuf[:0], key...)
	b = append(b, ev.Snapshot...)
	b = append(b, ev.EventID...)
	for _, r := range ev.Reads {
		b = append(b, r.Value...)
	}
	for _, r := range ev.Reads {
		if r.Confidence >= c.cfg.MinConfidence {
			b = appendIdentityKey(b, r.Identity())
		}
	}
	c.idKeyBuf = b
	return keptText{rest: string(b)}
}

// take returns s, from the kept text if it comes next there, else copied
// (a later detection's, or a read folded into an earlier one).
func (k *keptText) take(s string) string {
	if !strings.HasPrefix(k.rest, s) {
		return strings.Clone(s)
	}
	out := k.rest[:len(s)]
	k.rest = k.rest[len(s):]
	return out
}

// takeBytes is take for the text in b.
func (k *keptText) takeBytes(b []byte) string {
	if len(k.rest) < len(b) || k.rest[:len(b)] != string(b) {
		return string(b)
	}
	out := k.rest[:len(b)]
	k.rest = k.rest[len(b):]
	return out
}

// decide gives p its final, non-authorized decision once the window passed.
// Precedence: an identified conveyance (unauthorized) over a person over
// nobody (unidentified). A person beside an identified conveyance is its
// crew; a person alone on the line is the alarm.
func (c *Correlator) decide(p *pendingCrossing, now time.Time) Outcome {
	ts := c.offeredUnordered(p)
	// The best read of all, the nearest track (then the first to arrive)
	// among equals.
	nearest, bestTrack := nearestConfident(p, ts)
	var best *Read
	if bestTrack != nil {
		best = &bestTrack.confident[0]
	}
	ts = c.assign(p, ts, bestTrack, nearest)
	x := c.crossing(p, ts, now)
	c.settle(p) // so a crossing decided later in this pass offers no track to it
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
func (c *Correlator) crossing(p *pendingCrossing, ts []*track, now time.Time) *zone.Crossing {
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
		c.unoffer(t)
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

// settle marks p decided; the tracks offered to it that it did not take
// go to their next nearest crossing.
func (c *Correlator) settle(p *pendingCrossing) {
	p.decided = true
	c.withdraw(p)
}

// dropDecided removes crossings tryAuthorize decided from the pending list.
func (c *Correlator) dropDecided() {
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
func (c *Correlator) alarm(seq uint64, kind zone.AlarmKind, severity zone.Severity, msg, crossingID, device string, at time.Time) zone.Alarm {
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

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
