package zone_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// maintenanceBook is 10,000 visits (one task card and one removed part
// each) and 1,000 lots of 1,000 movements (1,000,000 in all), half of them
// consumes citing the visits' task cards.
func maintenanceBook() ([]*zone.Visit, []*zone.PartsLot) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	visits := make([]*zone.Visit, 10000)
	for i := range visits {
		at := base.Add(time.Duration(i) * 50 * time.Minute)
		in, out := at.Add(time.Hour), at.Add(30*24*time.Hour)
		tc := fmt.Sprintf("TC-%d", i)
		visits[i] = &zone.Visit{ID: fmt.Sprintf("V%05d", i), Firm: "F", Status: zone.VisitDeparted, CreatedAt: at, EnteredAt: &in,
			OutcomeAt: &out, DepartedAt: &out, TaskCards: []zone.VisitTaskCard{{Number: tc}},
			RemovedParts: []zone.RemovedPart{{ID: "R", PartNumber: fmt.Sprintf("P%d", i%50), Serial: "S", TaskCard: tc, RemovedAt: in,
				Disposition: &zone.Disposition{Kind: zone.DisposeScrap, Status: zone.DispositionFinal, At: out}}}}
	}
	lots := make([]*zone.PartsLot, 1000)
	for i := range lots {
		l := &zone.PartsLot{ID: fmt.Sprintf("L%04d", i), Firm: "F", PartNumber: fmt.Sprintf("P%d", i%50), Unit: "EA",
			Quantity: 1000000, DutyExempted: zone.Money{Amount: "1000000.00", Currency: "CNY"}, CreatedAt: base,
			Movements: make([]zone.Movement, 1000)}
		for j := range l.Movements {
			at := base.Add(time.Duration(i*1000+j) * 30 * time.Second)
			m := zone.Movement{ID: "M", Kind: zone.MoveConsume, Quantity: 1, Status: zone.MovementDone, At: at, EffectiveAt: &at}
			if j%2 == 0 {
				m.TaskCard = &zone.TaskCard{Number: fmt.Sprintf("TC-%d", (i*1000+j)%10000)}
			}
			l.Movements[j] = m
		}
		lots[i] = l
	}
	return visits, lots
}

func BenchmarkWriteOffSummary(b *testing.B) {
	visits, lots := maintenanceBook()
	s, e, _ := zone.ParsePeriod("2025-01-01", "2025-12-31")
	b.ResetTimer()
	for b.Loop() {
		zone.Summarize(lots, visits, s, e)
	}
}

func BenchmarkMaintenanceLedger(b *testing.B) {
	visits, lots := maintenanceBook()
	to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		zone.BuildMaintenanceLedger(visits, lots, time.Time{}, to)
	}
}

// BenchmarkMovementsIterate is the floor beside the ledger: one pass over the
// same 1,000,000 movements, selecting those that cite a task card.
func BenchmarkMovementsIterate(b *testing.B) {
	_, lots := maintenanceBook()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, l := range lots {
			for i := range l.Movements {
				if m := &l.Movements[i]; m.TaskCard != nil && m.Kind == zone.MoveConsume && m.Status == zone.MovementDone {
					n += m.Quantity
				}
			}
		}
		if n == 0 {
			b.Fatal("no movements")
		}
	}
}

// BenchmarkLotsDecode is what the store pays before any ledger: decoding
// 1,000 lots of 1,000 movements from their JSON (one lot's encoding decoded
// 1,000 times, so the benchmark does not hold the whole book encoded).
func BenchmarkLotsDecode(b *testing.B) {
	_, lots := maintenanceBook()
	raw, err := json.Marshal(lots[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		for range len(lots) {
			var l zone.PartsLot
			if err := json.Unmarshal(raw, &l); err != nil {
				b.Fatal(err)
			}
		}
	}
}
