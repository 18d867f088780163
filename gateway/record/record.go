// Package record holds the values the gate keeps in its store: what goes
// into the store and what comes back. The gate's Store interface (package
// gateway) is written in them, and internal/bolt implements it, so neither
// package names the other's types.
package record

import (
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// NewEvent is one sensor event for the event log. Key identifies it for
// the seen set (device ID 0x00 event ID): an event whose key is stored
// already is not stored again.
type NewEvent struct {
	Key []byte
	Raw []byte
}

// Appended says where an event of AppendEvents went.
type Appended struct {
	Seq       uint64
	Duplicate bool // the key was stored before, under Seq
}

// Event is one entry of the event log.
type Event struct {
	Seq   uint64
	Raw   []byte
	Aside bool // the decider set it aside: it passes over it
}

// Cursors are the decider's marks, written with every step.
type Cursors struct {
	Processed uint64    // highest event seq a committed step took in (only ever raised)
	LowWater  uint64    // the correlator's replay point after a restart
	Clock     time.Time // high-water mark of the gate's wall clock
}

// Clearance is a clearance as the gate holds it. UsedBy names the crossing
// of this gate that consumed it, so a later event from the zone (which may
// not have heard of the crossing yet) cannot make it usable again.
type Clearance struct {
	zone.Clearance
	UsedBy string `json:"used_by,omitempty"`
}

// Step is what one decision step writes, all in one transaction.
type Step struct {
	// Outcomes in the correlator's order. An outcome whose crossing key is
	// stored already (a replay) is dropped whole.
	Outcomes []Outcome
	// Aside are events the decider leaves out from now on.
	Aside []Aside
	// Sensors are device states, JSON by device ID.
	Sensors map[string][]byte
	// Cursors, when set, are written after the rest.
	Cursors *Cursors
	// Announce makes the outbox message for a stored crossing or alarm
	// (data is the zone.Crossing, with its seq, or the zone.Alarm). Its
	// error fails the step unchanged.
	Announce func(id, typ, topic string, at time.Time, data any) (zone.OutboxMessage, error)
}

// Outcome is a crossing with the alarms it raised, or alarms alone.
type Outcome struct {
	// Key is the correlator's ID of the crossing: the key a replay finds it
	// by. Crossing.ID is the ID stored and sent; the store sets its Seq, and
	// a ClearanceID marks that clearance used by it in the same transaction.
	Key      string
	Crossing *zone.Crossing
	Alarms   []Alarm
}

// Alarm is an alarm to store and announce once.
type Alarm struct {
	Key   string // the ID a replay knows it by; "" is never stored
	Alarm zone.Alarm
	// CrossingKey, when set, is the correlator's ID of the crossing the
	// alarm names: Alarm.CrossingID becomes the stored ID of that crossing
	// (decided in this step or before), else stays as given.
	CrossingKey string
}

// Aside is an event set aside: the decider passes over it from now on.
type Aside struct {
	Seq    uint64
	Reason string
	At     time.Time
}

// Written is what a step stored: the crossings (with their seqs) and the
// alarms that were not stored before.
type Written struct {
	Crossings []zone.Crossing
	Alarms    []zone.Alarm
}

// EncodeError is a value the store could not encode. The step cannot be
// retried as it is.
type EncodeError struct{ Err error }

func (e *EncodeError) Error() string { return "encode: " + e.Err.Error() }
func (e *EncodeError) Unwrap() error { return e.Err }
