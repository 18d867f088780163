package gateway

import (
	"encoding/json"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// loadClearances reads the clearance book from the store, so it is usable
// the moment the service starts, with no link.
func loadClearances(store Store, gate string, clock *decide.Clock) (*decide.Clearances, error) {
	held, err := store.Clearances()
	return decide.NewClearances(gate, clock, held), err
}

// reloadClearances replaces the book's memory copy with what is on disk.
func reloadClearances(book *decide.Clearances, store Store) error {
	held, err := store.Clearances()
	if err != nil {
		return err
	}
	book.Replace(held)
	return nil
}

// applyClearanceEvent applies one clearance event from the zone to the
// store: the event ID goes into the consumed set (so a redelivery changes
// nothing), and the clearance is upserted unless the gate holds a newer
// version. Clearances for other gates are ignored. The book is updated by
// the returned function, which the caller runs only after the store
// answered.
func applyClearanceEvent(book *decide.Clearances, store Store, gate string, ev zone.Event) (after func(), err error) {
	var cl zone.Clearance
	if err := json.Unmarshal(ev.Data, &cl); err != nil {
		return nil, zone.Errorf(zone.EINVALID, "clearance event %s: %v", ev.ID, err)
	}
	if cl.Gate != gate || cl.ID == "" {
		return nil, nil
	}
	if len(cl.ID) > zone.MaxKeyLen {
		return nil, zone.Errorf(zone.EINVALID, "clearance event %s: clearance id longer than %d bytes", ev.ID, zone.MaxKeyLen)
	}
	next, err := store.ApplyClearance(ev.ID, cl)
	if err != nil || next == nil {
		return nil, err
	}
	return func() { book.Put(next) }, nil
}
