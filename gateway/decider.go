package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// decideChunk bounds how many logged events one decision step reads, so a
// million-event backlog replays in bounded memory (a few MB a step). A
// step is one transaction, and it waits for bbolt's writer lock behind
// ingest's commits and then for its own fsync: under a flood that wait,
// not the deciding, set the pace at 1,000 a step, so a backlog is taken in
// larger steps. A step reads only what is logged, so a gate keeping up
// still commits every few events.
const decideChunk = 10_000

// quietStepsEvery is how long a gate's decider may hold quiet steps before
// writing them (Decider.quietEvery): well inside the second the status and
// figure 1 allow it to be behind.
const quietStepsEvery = 50 * time.Millisecond

// Decider is the single goroutine that turns the committed event log into
// decisions: it feeds events in seq order to the Correlator and writes each
// step's outcomes (crossing records, consumed clearances, outbox messages,
// its replay point) in one transaction.
type Decider struct {
	store  Store
	gate   string
	source string
	cfg    decide.CorrelatorConfig
	book   *decide.Clearances
	clock  *decide.Clock
	log    *slog.Logger
	tick   time.Duration

	wake      chan struct{}
	onOutbox  func()              // a message was queued: tell the publisher
	onDecided func(zone.Crossing) // a crossing was recorded (metrics, tests)
	onAlarm   func(zone.Alarm)    // an alarm was recorded (metrics)
	onShed    func(uint64)        // tracks dropped to stay within the bound (metrics)
	shedSaid  time.Time           // when the last shedding warning was logged

	// idTag goes into every crossing and alarm ID the decider makes. It is
	// made anew each time the gate opens its file, so IDs never repeat
	// even when the file is restored from a backup (even one copied over
	// the old file in place) and the event seqs count again from an old
	// point. The correlator's own IDs (X-<gate>-<seq>) stay the keys of the
	// emitted index: unique within one file, they let a replay find what
	// the file already holds whatever tag it was written under.
	idTag string
	// screen names why an event must not reach the correlator ("" when it
	// may); such an event is set aside. Nil screens nothing.
	screen func(decide.SensorEvent) string
	// parsed holds events as ingest parsed them (nil: parse from disk).
	parsed *parsedEvents
	// lag hears of every step taken (nil: nobody listens).
	lag *decisionLag
	// quietEvery is how long the decider may hold a quiet step (no
	// crossing, alarm, set-aside event or claim: heartbeats, detections on
	// open tracks) before writing it; 0 writes every step. Such a step
	// tells nobody anything, and its cursor and device states can wait for
	// the next write: a crash before it replays those events from the last
	// written mark, as it replays any undecided event. Under single-event
	// load every step was a bbolt commit with two fdatasyncs for what one
	// write a few steps later records as well.
	quietEvery time.Duration

	// Owned by the decider goroutine.
	corr       *decide.Correlator
	processed  uint64
	lowWater   uint64
	persistedW time.Time // clock high-water mark last written
	wroteAt    time.Time // when the last step was written (monotonic: the gate clock may stand still)
	// held are the device states of quiet steps not yet written; unsaved
	// says processed and lowWater run ahead of the file.
	held    map[string]decide.SensorState
	unsaved bool
	// replayUntil is the last event seq decided before the latest restore;
	// only a crossing completed at or below it can be on disk already.
	replayUntil uint64
	observing   uint64 // seq of the event being fed to the correlator
	// chunk is how many events a step reads (0: decideChunk); 1 while
	// looking for the event a failed step could not process, up to
	// carefulUntil. suspect is that event once found: the next step goes
	// on without it, and sets it aside for good if that step commits.
	chunk        int
	carefulUntil uint64
	suspect      uint64
	suspectWhy   string

	mu      sync.Mutex
	sensors map[string]decide.SensorState // last known, for /v1/status
}

// Poke tells the decider that new events are committed.
func (d *Decider) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Sensors returns the last known state of every device, sorted by ID.
func (d *Decider) Sensors() []decide.SensorState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]decide.SensorState, 0, len(d.sensors))
	for _, s := range d.sensors {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// restore rebuilds the correlator from disk: a fresh correlator is fed the
// events from the saved replay point on, and the crossings and alarms it
// re-produces are skipped by ID because they are already stored.
func (d *Decider) restore() error {
	cur, err := d.store.Cursors()
	if err != nil {
		return err
	}
	processed, lowWater, hw := cur.Processed, cur.LowWater, cur.Clock
	d.clock.Raise(hw)
	d.persistedW = hw
	stored, err := d.store.Sensors()
	if err != nil {
		return err
	}
	sensors := make(map[string]decide.SensorState, len(stored))
	for id, raw := range stored {
		var st decide.SensorState
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("sensor %s: %w", id, err)
		}
		sensors[id] = st
	}
	d.mu.Lock()
	d.sensors = sensors
	d.mu.Unlock()
	if err := reloadClearances(d.book, d.store); err != nil {
		return err
	}
	cfg := d.cfg
	cfg.Recorded = d.recorded
	d.corr = decide.NewCorrelator(cfg)
	d.replayUntil = processed
	for _, st := range sensors {
		d.corr.SeedSensor(st)
	}
	d.lowWater = lowWater
	d.processed = processed
	clear(d.held) // what was held is replayed from the written mark
	d.unsaved = false
	if lowWater > 0 && lowWater <= processed {
		d.processed = lowWater - 1
	}
	if d.lag != nil {
		d.lag.advanced(processed)
	}
	d.log.Info("decider restored", "processed", processed, "replay_from", d.processed+1)
	return nil
}

// run decides until ctx is done. A failed write (a full store, say) drops
// the in-memory state and restores it from disk after a pause, so nothing
// decided in memory but not on disk survives.
func (d *Decider) run(ctx context.Context) {
	ticker := time.NewTicker(d.tick)
	defer ticker.Stop()
	held := time.NewTimer(time.Hour)
	defer held.Stop()
	backoff := 100 * time.Millisecond
	for {
		more, err := d.step(ctx)
		if err != nil {
			if d.isolate(err) {
				if err := d.restore(); err != nil {
					d.log.Error("decider restore failed", "err", err)
				}
				continue
			}
			d.log.Error("decision step failed; restoring from disk", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			if err := d.restore(); err != nil {
				d.log.Error("decider restore failed", "err", err)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if d.chunk == 1 && d.processed >= d.carefulUntil {
			d.chunk = 0
		}
		if more {
			continue
		}
		// A held step is written within quietEvery even when nothing
		// more comes.
		var heldC <-chan time.Time
		if d.unsaved {
			held.Reset(d.quietEvery)
			heldC = held.C
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-ticker.C:
		case <-heldC:
		}
	}
}

// unprocessable is a step that failed on what it was fed (an outcome that
// cannot be encoded, a correlator panic), not on the store: retrying it
// as it is would fail forever. seq is the one event the step fed, if it
// fed exactly one; last the highest seq it read.
type unprocessable struct {
	err       error
	seq, last uint64
}

func (u *unprocessable) Error() string { return "cannot process: " + u.err.Error() }
func (u *unprocessable) Unwrap() error { return u.err }

// isolate narrows an unprocessable step down to its event, so that one
// stored event can never stop the decider: a failed chunk is re-run one
// event a step, and an event whose own step fails becomes the suspect,
// which the next step leaves out and sets aside if it then commits. It
// reports whether err was handled so (the caller restores at once);
// anything else is retried with backoff.
func (d *Decider) isolate(err error) bool {
	var u *unprocessable
	if !errors.As(err, &u) {
		return false
	}
	switch {
	case d.suspect != 0:
		// Going on without the suspect failed too: it was not the cause.
		d.log.Error("decision step failed without the suspected event as well; retrying", "seq", d.suspect, "err", err)
		d.suspect, d.suspectWhy = 0, ""
		return false
	case u.seq != 0:
		d.suspect, d.suspectWhy = u.seq, u.err.Error()
		d.log.Warn("decision step failed on one event; going on without it", "seq", u.seq, "err", u.err)
		return true
	case d.chunk != 1 && u.last > d.processed:
		d.chunk, d.carefulUntil = 1, u.last
		d.log.Warn("decision step failed; deciding one event a step to find the cause", "from", d.processed+1, "to", u.last, "err", u.err)
		return true
	}
	return false
}

// step feeds the next chunk of events (if any) and lets the gate clock
// advance, then writes the outcomes. more says a full chunk was read.
func (d *Decider) step(ctx context.Context) (more bool, err error) {
	chunk := d.chunk
	if chunk <= 0 {
		chunk = decideChunk
	}
	batch, err := d.store.EventsAfter(d.processed, chunk)
	if err != nil {
		return false, err
	}
	var (
		outs  []decide.Outcome
		aside []asideEvent
		fed   []uint64
	)
	last := d.processed
	// What this step reads was taken by now: silence and a clearance's start
	// are judged on this clock, not on the devices' stamps.
	heard := d.clock.Now()
	// The correlator claims clearances through this step's set; they reach
	// the book only once the step's transaction committed.
	claims := d.book.Begin()
	fail := func(err error) (bool, error) {
		single := uint64(0)
		if len(fed) == 1 {
			single = fed[0]
		}
		return false, &unprocessable{err: err, seq: single, last: last}
	}
	for _, se := range batch {
		last = se.Seq
		if se.Aside {
			continue // set aside before: never fed again
		}
		ev, parsed := d.parsedEvent(se)
		switch {
		case se.Seq == d.suspect:
			aside = append(aside, asideEvent{seq: se.Seq, why: d.suspectWhy, ev: pointerOr(ev, parsed)})
			continue
		case parsed != nil:
			// Validated at ingest, so a bug, a changed parser or a file
			// written by other means.
			aside = append(aside, asideEvent{seq: se.Seq, why: fmt.Sprintf("it does not parse: %v", parsed)})
			continue
		}
		if d.screen != nil {
			if why := d.screen(ev); why != "" {
				kept := ev // a copy, so ev itself stays off the heap
				aside = append(aside, asideEvent{seq: se.Seq, why: why, ev: &kept})
				continue
			}
		}
		d.observing = se.Seq
		fed = append(fed, se.Seq)
		o, err := d.observe(se.Seq, ev, claims, heard)
		if err != nil {
			return fail(err)
		}
		outs = append(outs, o...)
	}
	now := d.clock.Now()
	o, err := d.advance(now, claims)
	if err != nil {
		return fail(err)
	}
	outs = append(outs, o...)
	low := d.corr.LowWater()
	// Only the devices this step changed are written: a state written once
	// stays on disk, so the step costs what it heard, not every device.
	sensors := d.corr.ChangedSensors()
	quiet := len(outs) == 0 && len(aside) == 0 && claims.Empty()
	if quiet && last == d.processed && low == d.lowWater && len(sensors) == 0 && !d.unsaved && now.Sub(d.persistedW) < 5*time.Second {
		return false, nil
	}
	if quiet && d.quietEvery > 0 && d.processed >= d.replayUntil && time.Since(d.wroteAt) < d.quietEvery {
		d.hold(last, low, sensors)
		return len(batch) == chunk, nil
	}
	if len(d.held) > 0 {
		for _, s := range sensors {
			d.held[s.DeviceID] = s
		}
		sensors = sensors[:0]
		for _, s := range d.held {
			sensors = append(sensors, s)
		}
		sort.Slice(sensors, func(i, j int) bool { return sensors[i].DeviceID < sensors[j].DeviceID })
		clear(d.held)
	}
	written, err := d.write(ctx, outs, aside, last, low, now, sensors)
	if err != nil {
		var u *unprocessable
		if errors.As(err, &u) {
			return fail(u.err)
		}
		return false, err
	}
	claims.Commit(written.Crossings)
	d.processed, d.lowWater, d.persistedW = last, low, now
	d.wroteAt, d.unsaved = time.Now(), false
	if d.processed >= d.replayUntil {
		d.corr.EndReplay() // recorded finds nothing from here on
	}
	d.took(last, sensors)
	for _, a := range aside {
		if a.seq == d.suspect {
			d.suspect, d.suspectWhy = 0, ""
		}
		attrs := []any{"seq", a.seq, "reason", a.why}
		if a.ev != nil {
			attrs = append(attrs, "device", a.ev.DeviceID, "event_id", a.ev.EventID)
		}
		d.log.Error("stored event set aside: the decider cannot process it; deciding on without it", attrs...)
	}
	for _, x := range written.Crossings {
		if d.onDecided != nil {
			d.onDecided(x)
		}
	}
	for _, a := range written.Alarms {
		if d.onAlarm != nil {
			d.onAlarm(a)
		}
	}
	if len(written.Crossings)+len(written.Alarms) > 0 && d.onOutbox != nil {
		d.onOutbox()
	}
	return len(batch) == chunk, nil
}

// hold takes a quiet step without writing it (see quietEvery).
func (d *Decider) hold(last, low uint64, sensors []decide.SensorState) {
	if d.held == nil {
		d.held = map[string]decide.SensorState{}
	}
	for _, s := range sensors {
		d.held[s.DeviceID] = s
	}
	d.processed, d.lowWater, d.unsaved = last, low, true
	d.took(last, sensors)
}

// took tells the hand-over, ingest and the status that the decider has
// taken the events through last, written or held.
func (d *Decider) took(last uint64, sensors []decide.SensorState) {
	if d.parsed != nil {
		d.parsed.forget(last)
	}
	if d.lag != nil {
		d.lag.advanced(last)
	}
	d.mu.Lock()
	for _, s := range sensors {
		d.sensors[s.DeviceID] = s
	}
	d.mu.Unlock()
}

// parsedEvent is a logged event as the correlator takes it: as ingest
// parsed it when the hand-over holds it, else parsed from its stored
// bytes; or why the stored bytes are not one valid event. A value, not a
// pointer: the pointer cost an allocation an event.
func (d *Decider) parsedEvent(se record.Event) (decide.SensorEvent, error) {
	if d.parsed != nil {
		if ev, ok := d.parsed.take(se.Seq); ok {
			return ev, nil
		}
	}
	evs, err := decide.ParseEvents(se.Raw)
	if err == nil && len(evs) != 1 {
		err = fmt.Errorf("it holds %d events", len(evs))
	}
	if err != nil {
		return decide.SensorEvent{}, err
	}
	return evs[0], nil
}

// pointerOr is the event for an aside record: nil when it did not parse.
func pointerOr(ev decide.SensorEvent, err error) *decide.SensorEvent {
	if err != nil {
		return nil
	}
	return &ev
}

// observe feeds one event; a panic in the correlator is an unprocessable
// event, not a crashed gate (the restore that follows drops its state).
func (d *Decider) observe(seq uint64, ev decide.SensorEvent, claims *decide.ClaimSet, heard time.Time) (outs []decide.Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the correlator panicked: %v", r)
		}
	}()
	return d.corr.ObserveAt(seq, ev, claims, heard), nil
}

func (d *Decider) advance(now time.Time, claims *decide.ClaimSet) (outs []decide.Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the correlator panicked: %v", r)
		}
	}()
	before := d.corr.TracksShed()
	outs = d.corr.Advance(now, claims)
	if n := d.corr.TracksShed() - before; n > 0 {
		if d.onShed != nil {
			d.onShed(n)
		}
		// Once per 10 s at most: a flood sheds at every step.
		if time.Since(d.shedSaid) >= 10*time.Second {
			d.shedSaid = time.Now()
			d.log.Warn("correlator at its track bound: dropped the tracks heard least recently", "dropped", n, "max_tracks", d.cfg.MaxTracks)
		}
	}
	return outs, nil
}

// asideEvent is a stored event the decider leaves out, and why.
type asideEvent struct {
	seq uint64
	why string
	ev  *decide.SensorEvent // nil when it does not parse
}

// screenEvent is the decider's check of what ingest checks too: an event
// time outside the years the gate accepts cannot be decided on (past 9999
// it cannot even be written as JSON).
func screenEvent(ev decide.SensorEvent) string {
	if why := timeProblem(ev.Time); why != "" {
		return "its time " + why
	}
	return ""
}

// lifeID turns an ID the correlator made (X-<gate>-<seq>…, A-<gate>-<seq>…)
// into the one stored and sent: the decider's tag goes after the gate.
func (d *Decider) lifeID(id string) string {
	if d.idTag == "" {
		return id
	}
	for _, p := range []string{"X-" + d.gate + "-", "A-" + d.gate + "-"} {
		if rest, ok := strings.CutPrefix(id, p); ok {
			return p + d.idTag + "-" + rest
		}
	}
	return id + "-" + d.idTag
}

// recorded is the correlator's Recorded: the stored crossing with this ID,
// found through the emitted index. Past the replay no crossing can be
// stored yet, so the live path does not read the store.
func (d *Decider) recorded(id string) (zone.Crossing, bool) {
	if d.observing > d.replayUntil {
		return zone.Crossing{}, false
	}
	x, ok, err := d.store.Crossing(id)
	if err != nil {
		// Deciding again is the lesser harm: write drops a crossing whose ID
		// is stored, only its tracks may go to another crossing.
		d.log.Error("reading a stored crossing for the replay", "crossing_id", id, "err", err)
		return zone.Crossing{}, false
	}
	return x, ok
}

// write stores one step in one transaction (Store.CommitStep): every new
// crossing with its own crossing seq, the clearance it consumed, the
// outbox messages announcing crossings and alarms, the events set aside
// with their alarms, the sensor states this step changed and the replay point. Crossings and
// alarms whose ID is already stored (a replay) are skipped. An outcome that
// cannot be encoded fails the step as unprocessable.
func (d *Decider) write(_ context.Context, outs []decide.Outcome, aside []asideEvent, processed, low uint64, now time.Time, sensors []decide.SensorState) (record.Written, error) {
	step := record.Step{Announce: d.announce, Sensors: make(map[string][]byte, len(sensors)),
		Cursors: &record.Cursors{Processed: processed, LowWater: low, Clock: now}}
	for _, o := range outs {
		var ro record.Outcome
		if x := o.Crossing; x != nil {
			c := *x
			ro.Key = x.ID
			c.ID = d.lifeID(x.ID)
			c.Gate = d.gate
			if c.ClearanceID != "" && c.ReleaseNote == "" {
				c.ReleaseNote = d.book.ReleaseNote(c.ClearanceID) // the cached note: there offline too
			}
			if c.DecidedAt.IsZero() {
				c.DecidedAt = now
			}
			c.Time, c.DecidedAt = c.Time.UTC(), c.DecidedAt.UTC()
			ro.Crossing = &c
		}
		for _, a := range o.Alarms {
			ra := d.alarm(a)
			if a.CrossingID != "" {
				// The stored ID of the crossing, found by the store (decided in
				// this step or before); else the ID the decider would make now.
				ra.CrossingKey, ra.Alarm.CrossingID = a.CrossingID, d.lifeID(a.CrossingID)
			}
			ro.Alarms = append(ro.Alarms, ra)
		}
		step.Outcomes = append(step.Outcomes, ro)
	}
	var asideAlarms []record.Alarm
	for _, e := range aside {
		step.Aside = append(step.Aside, record.Aside{Seq: e.seq, Reason: e.why, At: now})
		a := zone.Alarm{ID: "A-" + d.gate + "-" + strconv.FormatUint(e.seq, 10) + "-" + string(zone.AlarmEventAside),
			Kind: zone.AlarmEventAside, Severity: zone.SeverityCritical, Time: now,
			Message: fmt.Sprintf("sensor event seq %d set aside: %s; the gate decides on without it", e.seq, e.why)}
		if e.ev != nil {
			a.DeviceID = e.ev.DeviceID
			a.Message = fmt.Sprintf("sensor event %s of %s (seq %d) set aside: %s; the gate decides on without it",
				e.ev.EventID, e.ev.DeviceID, e.seq, e.why)
		}
		asideAlarms = append(asideAlarms, d.alarm(a))
	}
	if len(asideAlarms) > 0 {
		step.Outcomes = append(step.Outcomes, record.Outcome{Alarms: asideAlarms})
	}
	for _, s := range sensors {
		raw, err := json.Marshal(s)
		if err != nil {
			return record.Written{}, &unprocessable{err: fmt.Errorf("sensor %s: %w", s.DeviceID, err)}
		}
		step.Sensors[s.DeviceID] = raw
	}
	w, err := d.store.CommitStep(step)
	if err != nil {
		var u *unprocessable
		if errors.As(err, &u) {
			return record.Written{}, u
		}
		var enc *record.EncodeError
		if errors.As(err, &enc) {
			return record.Written{}, &unprocessable{err: enc.Err}
		}
		return record.Written{}, err
	}
	return w, nil
}

// alarm makes an alarm the correlator (or the set-aside) raised into one to
// store: keyed by the correlator's ID, stored and sent under the life ID.
func (d *Decider) alarm(a zone.Alarm) record.Alarm {
	key := a.ID
	if key != "" {
		a.ID = d.lifeID(key)
	}
	if a.Gate == "" {
		a.Gate = d.gate
	}
	if a.State == "" {
		a.State = zone.AlarmOpen
	}
	a.Time = a.Time.UTC()
	return record.Alarm{Key: key, Alarm: a}
}

// announce makes the CloudEvent for a stored crossing or alarm into an
// outbox message, keyed by the gate so Kafka keeps the gate's order within
// one partition. The event ID is the crossing's or alarm's own, so a
// consumer applies it once however often it is delivered.
func (d *Decider) announce(id, typ, topic string, at time.Time, data any) (zone.OutboxMessage, error) {
	ev, err := zone.NewEvent(id, d.source, typ, id, at, data)
	if err != nil {
		return zone.OutboxMessage{}, &unprocessable{err: fmt.Errorf("%s: %w", id, err)}
	}
	m, err := ev.Message(topic, d.gate)
	if err != nil {
		return zone.OutboxMessage{}, &unprocessable{err: fmt.Errorf("%s: %w", id, err)}
	}
	return m, nil
}
