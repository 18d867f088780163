package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
	"go.etcd.io/bbolt"
)

// decideChunk bounds how many logged events one decision step reads, so a
// million-event backlog replays in bounded memory.
const decideChunk = 1000

// Decider is the single goroutine that turns the committed event log into
// decisions: it feeds events in seq order to the Correlator and writes each
// step's outcomes (crossing records, consumed clearances, outbox messages,
// its replay point) in one transaction.
type Decider struct {
	db     *bbolt.DB
	gate   string
	source string
	cfg    CorrelatorConfig
	book   *Clearances
	clock  *gateClock
	log    *slog.Logger
	tick   time.Duration

	wake      chan struct{}
	onOutbox  func()              // a message was queued: tell the publisher
	onDecided func(zone.Crossing) // a crossing was recorded (metrics, tests)
	onAlarm   func(zone.Alarm)    // an alarm was recorded (metrics)

	// Owned by the decider goroutine.
	corr       *Correlator
	processed  uint64
	lowWater   uint64
	persistedW time.Time // clock high-water mark last written
	// replayUntil is the last event seq decided before the latest restore;
	// only a crossing completed at or below it can be on disk already.
	replayUntil uint64
	observing   uint64 // seq of the event being fed to the correlator

	mu      sync.Mutex
	sensors map[string]SensorState // last known, for /v1/status
}

// Poke tells the decider that new events are committed.
func (d *Decider) Poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Sensors returns the last known state of every device, sorted by ID.
func (d *Decider) Sensors() []SensorState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]SensorState, 0, len(d.sensors))
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
	processed, lowWater, hw, err := readMeta(d.db)
	if err != nil {
		return err
	}
	d.clock.raise(hw)
	d.persistedW = hw
	sensors, err := readSensors(d.db)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.sensors = sensors
	d.mu.Unlock()
	if err := d.book.reload(d.db); err != nil {
		return err
	}
	cfg := d.cfg
	cfg.Recorded = d.recorded
	d.corr = NewCorrelator(cfg)
	d.replayUntil = processed
	for _, st := range sensors {
		d.corr.SeedSensor(st)
	}
	d.lowWater = lowWater
	d.processed = processed
	if lowWater > 0 && lowWater <= processed {
		d.processed = lowWater - 1
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
	backoff := 100 * time.Millisecond
	for {
		more, err := d.step(ctx)
		if err != nil {
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
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-ticker.C:
		}
	}
}

// step feeds the next chunk of events (if any) and lets the gate clock
// advance, then writes the outcomes. more says a full chunk was read.
func (d *Decider) step(ctx context.Context) (more bool, err error) {
	batch, err := eventsAfter(d.db, d.processed, decideChunk)
	if err != nil {
		return false, err
	}
	var outs []Outcome
	last := d.processed
	// What this step reads was taken by now: silence and a clearance's start
	// are judged on this clock, not on the devices' stamps.
	heard := d.clock.Now()
	for _, se := range batch {
		last = se.Seq
		evs, err := ParseEvents(se.Raw)
		if err != nil || len(evs) != 1 {
			// Validated at ingest, so this is a bug or a changed parser; a
			// stuck decider would be worse than one skipped event.
			d.log.Error("stored event does not parse; skipped", "seq", se.Seq, "err", err)
			continue
		}
		d.observing = se.Seq
		outs = append(outs, d.corr.ObserveAt(se.Seq, evs[0], d.book, heard)...)
	}
	now := d.clock.Now()
	outs = append(outs, d.corr.Advance(now, d.book)...)
	low := d.corr.LowWater()
	sensors := d.corr.Sensors()
	if len(outs) == 0 && last == d.processed && low == d.lowWater && now.Sub(d.persistedW) < 5*time.Second && !d.sensorsChanged(sensors) {
		d.book.settle()
		return false, nil
	}
	written, err := d.write(ctx, outs, last, low, now, sensors)
	d.book.settle()
	if err != nil {
		return false, err
	}
	d.processed, d.lowWater, d.persistedW = last, low, now
	d.mu.Lock()
	for _, s := range sensors {
		d.sensors[s.DeviceID] = s
	}
	d.mu.Unlock()
	for _, x := range written.crossings {
		if d.onDecided != nil {
			d.onDecided(x)
		}
	}
	for _, a := range written.alarms {
		if d.onAlarm != nil {
			d.onAlarm(a)
		}
	}
	if len(written.crossings)+len(written.alarms) > 0 && d.onOutbox != nil {
		d.onOutbox()
	}
	return len(batch) == decideChunk, nil
}

// recorded is the correlator's Recorded: the stored crossing with this ID,
// found through the emitted index. Past the replay no crossing can be
// stored yet, so the live path does not read the store.
func (d *Decider) recorded(id string) (zone.Crossing, bool) {
	if d.observing > d.replayUntil {
		return zone.Crossing{}, false
	}
	x, ok, err := storedCrossing(d.db, id)
	if err != nil {
		// Deciding again is the lesser harm: write drops a crossing whose ID
		// is stored, only its tracks may go to another crossing.
		d.log.Error("reading a stored crossing for the replay", "crossing_id", id, "err", err)
		return zone.Crossing{}, false
	}
	return x, ok
}

func (d *Decider) sensorsChanged(now []SensorState) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range now {
		old, ok := d.sensors[s.DeviceID]
		if !ok || old.OK != s.OK || old.Problem != s.Problem || !old.LastSeen.Equal(s.LastSeen) {
			return true
		}
	}
	return false
}

type writtenOutcomes struct {
	crossings []zone.Crossing
	alarms    []zone.Alarm
}

// write stores one step in one transaction: every new crossing with its own
// crossing seq, the clearance it consumed, the outbox messages announcing
// crossings and alarms, the sensor states and the replay point. Crossings
// and alarms whose ID is already stored (a replay) are skipped.
func (d *Decider) write(ctx context.Context, outs []Outcome, processed, low uint64, now time.Time, sensors []SensorState) (writtenOutcomes, error) {
	var w writtenOutcomes
	type claim struct{ clearance, crossing string }
	var claims []claim
	err := d.db.Update(func(tx *bbolt.Tx) error {
		w = writtenOutcomes{}
		claims = claims[:0]
		emitted, crossings := tx.Bucket(bucketEmitted), tx.Bucket(bucketCrossings)
		for _, o := range outs {
			// A replay may decide a stored crossing differently (its
			// clearance is used by now): the stored decision stands, and the
			// alarms of the outcome belong to it, so the whole outcome goes.
			if o.Crossing != nil && emitted.Get([]byte(o.Crossing.ID)) != nil {
				continue
			}
			if x := o.Crossing; x != nil {
				c := *x
				seq, err := crossings.NextSequence()
				if err != nil {
					return err
				}
				c.Seq, c.Gate = seq, d.gate
				if c.DecidedAt.IsZero() {
					c.DecidedAt = now
				}
				c.Time, c.DecidedAt = c.Time.UTC(), c.DecidedAt.UTC()
				raw, err := json.Marshal(c)
				if err != nil {
					return err
				}
				if err := crossings.Put(u64(seq), raw); err != nil {
					return err
				}
				// The crossing seq, so a replay can find the record by ID.
				if err := emitted.Put([]byte(c.ID), u64(seq)); err != nil {
					return err
				}
				if c.ClearanceID != "" {
					if err := d.book.writeUsed(tx, c.ClearanceID, c.ID); err != nil {
						return err
					}
					claims = append(claims, claim{c.ClearanceID, c.ID})
				}
				if err := d.queue(tx, c.ID, zone.TypeCrossing, zone.TopicCrossings, c.Time, c); err != nil {
					return err
				}
				w.crossings = append(w.crossings, c)
			}
			for _, a := range o.Alarms {
				if a.ID == "" || emitted.Get([]byte(a.ID)) != nil {
					continue
				}
				if a.Gate == "" {
					a.Gate = d.gate
				}
				if a.State == "" {
					a.State = "open"
				}
				a.Time = a.Time.UTC()
				if err := emitted.Put([]byte(a.ID), []byte{1}); err != nil {
					return err
				}
				if err := d.queue(tx, a.ID, zone.TypeAlarm, zone.TopicAlarms, a.Time, a); err != nil {
					return err
				}
				w.alarms = append(w.alarms, a)
			}
		}
		sb := tx.Bucket(bucketSensors)
		for _, s := range sensors {
			raw, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := sb.Put([]byte(s.DeviceID), raw); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		// Only ever raised: a replay after a restart feeds events from the
		// low-water mark again, and a crash in the middle of it must not
		// make a later restart think fewer events were decided (the replay
		// would then decide stored crossings anew).
		if processed > getU64(meta, metaProcessed) {
			if err := meta.Put(metaProcessed, u64(processed)); err != nil {
				return err
			}
		}
		if err := meta.Put(metaLowWater, u64(low)); err != nil {
			return err
		}
		return meta.Put(metaClockHW, u64(uint64(now.UnixNano())))
	})
	if err != nil {
		return writtenOutcomes{}, storeError(err)
	}
	for _, c := range claims {
		d.book.confirm(c.clearance, c.crossing)
	}
	return w, nil
}

// queue appends a CloudEvent for data to the outbox, keyed by the gate so
// Kafka keeps the gate's order within one partition. The event ID is the
// crossing's or alarm's own, so a consumer applies it once however often
// it is delivered.
func (d *Decider) queue(tx *bbolt.Tx, id, typ, topic string, at time.Time, data any) error {
	ev, err := zone.NewEvent(id, d.source, typ, id, at, data)
	if err != nil {
		return err
	}
	m, err := ev.Message(topic, d.gate)
	if err != nil {
		return err
	}
	return bolt.AppendOutbox(tx, &m)
}
