package bolt

import (
	"encoding/json"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// Clearances returns every clearance the gate holds, by ID.
func (g *GateStore) Clearances() (map[string]record.Clearance, error) {
	out := map[string]record.Clearance{}
	err := g.db.view(func(tx *bbolt.Tx) error {
		return tx.Bucket(gateClearances).ForEach(func(k, v []byte) error {
			var c record.Clearance
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			out[string(k)] = c
			return nil
		})
	})
	return out, err
}

// ApplyClearance applies one clearance event from the zone in one
// transaction: its event ID goes into the consumed set (so a redelivery
// changes nothing) and the clearance is upserted unless the gate holds a
// newer version. A clearance this gate marked used stays used. It returns
// what was written, nil when nothing was.
func (g *GateStore) ApplyClearance(eventID string, cl zone.Clearance) (*record.Clearance, error) {
	var next *record.Clearance
	err := g.update(func(tx *bbolt.Tx) error {
		next = nil
		consumed := tx.Bucket(gateConsumed)
		if consumed.Get([]byte(eventID)) != nil {
			return nil
		}
		if err := consumed.Put([]byte(eventID), []byte{1}); err != nil {
			return err
		}
		b := tx.Bucket(gateClearances)
		var held *record.Clearance
		if v := b.Get([]byte(cl.ID)); v != nil {
			held = &record.Clearance{}
			if err := json.Unmarshal(v, held); err != nil {
				return err
			}
			if held.Version > cl.Version {
				return nil
			}
		}
		n := &record.Clearance{Clearance: cl}
		if held != nil && held.UsedBy != "" {
			// This gate already let the move through; only the zone's own
			// verdict that it is used or revoked replaces that.
			n.UsedBy = held.UsedBy
		}
		raw, err := json.Marshal(n)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(cl.ID), raw); err != nil {
			return err
		}
		next = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return next, nil
}

// markUsed stores the clearance as used by crossing. It marks the version
// on disk, which may be newer than the one the decider claimed.
func markUsed(tx *bbolt.Tx, clearanceID, crossingID string) error {
	b := tx.Bucket(gateClearances)
	v := b.Get([]byte(clearanceID))
	if v == nil {
		return nil
	}
	var c record.Clearance
	if err := json.Unmarshal(v, &c); err != nil {
		return err
	}
	c.UsedBy = crossingID
	raw, err := json.Marshal(&c)
	if err != nil {
		return err
	}
	return b.Put([]byte(clearanceID), raw)
}
