package zone

import (
	"context"
	"sort"
	"strings"
	"time"
)

// The consumption report of consignment stock (OSS): what the firm consumed
// or installed from each supplier's stock in a period, with the task cards,
// which is what the supplier invoices from. Like the ledger it is derived
// from the movements on every read.

// ConsignmentLine is one consumption or installation from a supplier's stock.
type ConsignmentLine struct {
	Supplier             string       `json:"supplier"`
	Firm                 string       `json:"firm"`
	LotID                string       `json:"lot_id"`
	PartNumber           string       `json:"part_number"`
	Unit                 string       `json:"unit"`
	MovementID           string       `json:"movement_id"`
	Kind                 MovementKind `json:"kind"`
	Quantity             int          `json:"quantity"`
	Serials              []string     `json:"serials,omitempty"`
	AircraftRegistration string       `json:"aircraft_registration,omitempty"`
	TaskCard             *TaskCard    `json:"task_card"`
	At                   time.Time    `json:"at"`
}

// ConsignmentTotal is one supplier's quantity of one part number.
type ConsignmentTotal struct {
	Supplier   string `json:"supplier"`
	PartNumber string `json:"part_number"`
	Unit       string `json:"unit"`
	Consumed   int    `json:"consumed"`
	Installed  int    `json:"installed"`
}

// ConsignmentReport answers GET /v1/parts/consignment.
type ConsignmentReport struct {
	From       *time.Time         `json:"from,omitempty"`
	To         time.Time          `json:"to"`
	Items      []ConsignmentLine  `json:"items"`
	Totals     []ConsignmentTotal `json:"totals"`
	NextCursor string             `json:"next_cursor"`
}

// BuildConsignmentReport lists what left the suppliers' stock in [from,
// to), by supplier then time; supplier, when set, keeps only that one.
func BuildConsignmentReport(lots []*PartsLot, supplier string, from, to time.Time) ConsignmentReport {
	rep := ConsignmentReport{To: to.UTC(), Items: []ConsignmentLine{}, Totals: []ConsignmentTotal{}}
	if !from.IsZero() {
		f := from.UTC()
		rep.From = &f
	}
	type key struct{ supplier, part, unit string }
	totals := map[key]*ConsignmentTotal{}
	for _, l := range lots {
		o := l.owner()
		if !o.Consigned() || (supplier != "" && !strings.EqualFold(o.Supplier, supplier)) {
			continue
		}
		for i := range l.Movements {
			m := &l.Movements[i]
			at, ok := m.effective()
			if !ok || (m.Kind != MoveConsume && m.Kind != MoveInstall) ||
				(!from.IsZero() && at.Before(from)) || !at.Before(to) {
				continue
			}
			rep.Items = append(rep.Items, ConsignmentLine{Supplier: o.Supplier, Firm: l.Firm, LotID: l.ID,
				PartNumber: l.PartNumber, Unit: l.Unit, MovementID: m.ID, Kind: m.Kind, Quantity: m.Quantity,
				Serials: m.Serials, AircraftRegistration: m.AircraftRegistration, TaskCard: m.TaskCard, At: at})
			k := key{o.Supplier, l.PartNumber, l.Unit}
			t := totals[k]
			if t == nil {
				t = &ConsignmentTotal{Supplier: o.Supplier, PartNumber: l.PartNumber, Unit: l.Unit}
				totals[k] = t
			}
			if m.Kind == MoveConsume {
				t.Consumed += m.Quantity
			} else {
				t.Installed += m.Quantity
			}
		}
	}
	sort.SliceStable(rep.Items, func(i, j int) bool {
		a, b := rep.Items[i], rep.Items[j]
		if a.Supplier != b.Supplier {
			return a.Supplier < b.Supplier
		}
		return a.At.Before(b.At)
	})
	for _, t := range totals {
		rep.Totals = append(rep.Totals, *t)
	}
	sort.Slice(rep.Totals, func(i, j int) bool {
		a, b := rep.Totals[i], rep.Totals[j]
		return a.Supplier+"\x00"+a.PartNumber+"\x00"+a.Unit < b.Supplier+"\x00"+b.PartNumber+"\x00"+b.Unit
	})
	return rep
}

// ConsignmentReport is the consumption report the caller may see: a firm's
// own lots, or customs' view of every firm.
func (s *PartsService) ConsignmentReport(ctx context.Context, p Principal, supplier string, from, to time.Time) (ConsignmentReport, error) {
	if err := p.Require(RoleMRO, RoleCustoms); err != nil {
		return ConsignmentReport{}, err
	}
	firm := ""
	if p.Role == RoleMRO {
		firm = p.Firm
	}
	from, to, err := s.period(from, to)
	if err != nil {
		return ConsignmentReport{}, err
	}
	lots, err := s.Store.AllLots(ctx, firm)
	if err != nil {
		return ConsignmentReport{}, err
	}
	return BuildConsignmentReport(lots, strings.TrimSpace(supplier), from, to), nil
}
