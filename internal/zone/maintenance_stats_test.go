package zone_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bondgate/bondgate/internal/zone"
)

// A period counts the visits opened in it, those in repair at some time in
// it (entered before its end, no outcome before its start) and those that
// left in it.
func TestStatsCountVisitsPerPeriod(t *testing.T) {
	d := func(m, day int) *time.Time {
		x := time.Date(2026, time.Month(m), day, 0, 0, 0, 0, time.UTC)
		return &x
	}
	visits := []*zone.Visit{
		// opened and entered in March, repaired in April, departed in May
		{ID: "a", CreatedAt: *d(3, 1), EnteredAt: d(3, 2), OutcomeAt: d(4, 10), DepartedAt: d(5, 5), Status: zone.VisitDeparted},
		// opened in February, in repair through the summer
		{ID: "b", CreatedAt: *d(2, 1), EnteredAt: d(2, 3), Status: zone.VisitInRepair},
		// opened in April, never entered
		{ID: "c", CreatedAt: *d(4, 2), Status: zone.VisitAwaitingEntry},
		// finished in January: not in repair in April
		{ID: "d", CreatedAt: *d(1, 1), EnteredAt: d(1, 2), OutcomeAt: d(1, 20), Status: zone.VisitRepaired},
	}
	april := zone.CountVisits(visits, *d(4, 1), *d(5, 1))
	assert.Equal(t, zone.MaintenanceStats{VisitsOpened: 1, VisitsInRepair: 2, VisitsDeparted: 0}, april)
	may := zone.CountVisits(visits, *d(5, 1), *d(6, 1))
	assert.Equal(t, zone.MaintenanceStats{VisitsOpened: 0, VisitsInRepair: 1, VisitsDeparted: 1}, may)
	year := zone.CountVisits(visits, *d(1, 1), *d(12, 31))
	assert.Equal(t, zone.MaintenanceStats{VisitsOpened: 4, VisitsInRepair: 3, VisitsDeparted: 1}, year)
}
