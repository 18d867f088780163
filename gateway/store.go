package gateway

import (
	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// Store is the gate's durable state: the event log ingest appends to, the
// decisions the decider commits a step at a time (with their outbox
// messages, in the same transaction), the clearance copy the link keeps,
// and the cursors a restart resumes from. internal/bolt implements it
// (bolt.GateStore); its errors are domain errors (a full store is
// EUNAVAILABLE).
type Store interface {
	// StoreID names this database file; see ClearanceGroup.
	StoreID() string

	// AppendEvents logs events durably, all or none; an event whose key is
	// logged already is a duplicate. Refused whole when the store is full.
	AppendEvents(events []record.NewEvent) ([]record.Appended, error)
	// EventsAfter reads up to max logged events after seq after.
	EventsAfter(after uint64, max int) ([]record.Event, error)
	AsideCount() (int, error)
	// Progress is the last event logged and the last one decided.
	Progress() (lastEvent, lastDecided uint64, err error)

	// CommitStep writes one decision step in one transaction.
	CommitStep(step record.Step) (record.Written, error)
	// Crossing finds a stored crossing by the correlator's ID.
	Crossing(key string) (zone.Crossing, bool, error)
	CrossingsAfter(after uint64, max int) ([]zone.Crossing, error)
	// Emitted lists the keys of the stored crossings and alarms.
	Emitted() ([]string, error)
	Cursors() (record.Cursors, error)
	// Sensors are the stored sensor states, JSON by device ID.
	Sensors() (map[string][]byte, error)

	Clearances() (map[string]record.Clearance, error)
	// ApplyClearance upserts a clearance from the zone once per event ID;
	// it returns what it wrote, nil when nothing.
	ApplyClearance(eventID string, cl zone.Clearance) (*record.Clearance, error)
}

// seenKey is an event's key in the seen set: device ID 0x00 event ID.
func seenKey(device, eventID string) []byte {
	k := make([]byte, 0, len(device)+1+len(eventID))
	k = append(k, device...)
	k = append(k, 0)
	return append(k, eventID...)
}
