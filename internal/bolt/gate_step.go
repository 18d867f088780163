package bolt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// asideRecord is the value of the aside bucket: why an event was set aside.
type asideRecord struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// CommitStep writes one decision step in one transaction: each new crossing
// under its own crossing seq with its key in the emitted index, the
// clearance it used marked used by it, the alarms not stored before, an
// outbox message for every crossing and alarm written, the events set
// aside, the sensor states and the cursors. An outcome whose crossing key
// is stored already (a replay) is dropped whole: the stored decision
// stands, and the alarms belong to it.
func (g *GateStore) CommitStep(step record.Step) (record.Written, error) {
	var w record.Written
	err := g.update(func(tx *bbolt.Tx) error {
		w = record.Written{}
		emitted, crossings := tx.Bucket(gateEmitted), tx.Bucket(gateCrossings)
		ids := map[string]string{} // crossing key → stored ID, for this step's alarms
		for _, o := range step.Outcomes {
			if o.Crossing != nil && emitted.Get([]byte(o.Key)) != nil {
				continue
			}
			if o.Crossing != nil {
				c := *o.Crossing
				seq, err := crossings.NextSequence()
				if err != nil {
					return err
				}
				c.Seq = seq
				ids[o.Key] = c.ID
				raw, err := json.Marshal(c)
				if err != nil {
					return &record.EncodeError{Err: fmt.Errorf("crossing %s: %w", c.ID, err)}
				}
				if err := crossings.Put(u64(seq), raw); err != nil {
					return err
				}
				// The crossing seq, so a replay can find the record by key.
				if err := emitted.Put([]byte(o.Key), u64(seq)); err != nil {
					return err
				}
				if c.ClearanceID != "" {
					if err := markUsed(tx, c.ClearanceID, c.ID); err != nil {
						return err
					}
				}
				if err := announce(tx, step, c.ID, zone.TypeCrossing, zone.TopicCrossings, c.Time, c); err != nil {
					return err
				}
				w.Crossings = append(w.Crossings, c)
			}
			for _, a := range o.Alarms {
				if a.CrossingKey != "" {
					if id, ok := ids[a.CrossingKey]; ok {
						a.Alarm.CrossingID = id
					} else if id, ok := storedCrossingID(tx, a.CrossingKey); ok {
						a.Alarm.CrossingID = id
					}
				}
				if err := putStepAlarm(tx, step, &w, a); err != nil {
					return err
				}
			}
		}
		ab := tx.Bucket(gateAside)
		for _, e := range step.Aside {
			rec, _ := json.Marshal(asideRecord{Reason: e.Reason, At: e.At})
			if err := ab.Put(u64(e.Seq), rec); err != nil {
				return err
			}
		}
		sb := tx.Bucket(gateSensors)
		for id, raw := range step.Sensors {
			if err := sb.Put([]byte(id), raw); err != nil {
				return err
			}
		}
		if step.Cursors == nil {
			return nil
		}
		meta := tx.Bucket(gateMeta)
		// Only ever raised: a replay after a restart feeds events from the
		// low-water mark again, and a crash in the middle of it must not
		// make a later restart think fewer events were decided (the replay
		// would then decide stored crossings anew).
		if step.Cursors.Processed > getU64(meta, metaProcessed) {
			if err := meta.Put(metaProcessed, u64(step.Cursors.Processed)); err != nil {
				return err
			}
		}
		if err := meta.Put(metaLowWater, u64(step.Cursors.LowWater)); err != nil {
			return err
		}
		return meta.Put(metaClockHW, u64(uint64(step.Cursors.Clock.UnixNano())))
	})
	if err != nil {
		return record.Written{}, err
	}
	return w, nil
}

// putStepAlarm stores and announces one alarm unless its key is stored already.
func putStepAlarm(tx *bbolt.Tx, step record.Step, w *record.Written, a record.Alarm) error {
	emitted := tx.Bucket(gateEmitted)
	if a.Key == "" || emitted.Get([]byte(a.Key)) != nil {
		return nil
	}
	if err := emitted.Put([]byte(a.Key), []byte{1}); err != nil {
		return err
	}
	if err := announce(tx, step, a.Alarm.ID, zone.TypeAlarm, zone.TopicAlarms, a.Alarm.Time, a.Alarm); err != nil {
		return err
	}
	w.Alarms = append(w.Alarms, a.Alarm)
	return nil
}

func announce(tx *bbolt.Tx, step record.Step, id, typ, topic string, at time.Time, data any) error {
	m, err := step.Announce(id, typ, topic, at, data)
	if err != nil {
		return err
	}
	return appendOutbox(tx, &m)
}

// storedCrossingID is the stored ID of the crossing with key, if the file
// holds its record.
func storedCrossingID(tx *bbolt.Tx, key string) (string, bool) {
	v := tx.Bucket(gateEmitted).Get([]byte(key))
	if len(v) != 8 {
		return "", false
	}
	var x struct {
		ID string `json:"id"`
	}
	if raw := tx.Bucket(gateCrossings).Get(v); raw != nil && json.Unmarshal(raw, &x) == nil && x.ID != "" {
		return x.ID, true
	}
	return "", false
}

// Crossing looks a decided crossing up by its key (the correlator's ID). A
// crossing stored before the emitted index held seqs is reported with its
// key alone as ID.
func (g *GateStore) Crossing(key string) (zone.Crossing, bool, error) {
	var x zone.Crossing
	found := false
	err := g.db.view(func(tx *bbolt.Tx) error {
		v := tx.Bucket(gateEmitted).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = true
		if len(v) != 8 {
			x.ID = key
			return nil
		}
		raw := tx.Bucket(gateCrossings).Get(v)
		if raw == nil {
			return fmt.Errorf("crossing %s: record %d missing", key, binary.BigEndian.Uint64(v))
		}
		return json.Unmarshal(raw, &x)
	})
	return x, found, err
}

// CrossingsAfter returns up to max stored crossings with crossing seq > after.
func (g *GateStore) CrossingsAfter(after uint64, max int) ([]zone.Crossing, error) {
	out := []zone.Crossing{}
	if after == math.MaxUint64 {
		return out, nil // nothing lies after the top; after+1 would wrap to the start
	}
	err := g.db.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(gateCrossings).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var x zone.Crossing
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			out = append(out, x)
		}
		return nil
	})
	return out, err
}

// Emitted lists the keys of the crossings and alarms stored, in key order.
func (g *GateStore) Emitted() ([]string, error) {
	var out []string
	err := g.db.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(gateEmitted).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// Cursors returns the decider's marks as the last step wrote them.
func (g *GateStore) Cursors() (record.Cursors, error) {
	var c record.Cursors
	err := g.db.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(gateMeta)
		c.Processed, c.LowWater = getU64(b, metaProcessed), getU64(b, metaLowWater)
		if n := getU64(b, metaClockHW); n > 0 {
			c.Clock = time.Unix(0, int64(n)).UTC()
		}
		return nil
	})
	return c, err
}

// Sensors returns the stored sensor states, JSON by device ID.
func (g *GateStore) Sensors() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := g.db.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(gateSensors).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}
