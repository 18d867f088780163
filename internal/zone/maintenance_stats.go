package zone

import (
	"context"
	"time"
)

// VisitLister reads every visit, for the statistics.
type VisitLister interface {
	// AllVisits returns every visit of firm (every firm's when empty).
	AllVisits(ctx context.Context, firm string) ([]*Visit, error)
}

// MaintenanceStats are a period's bonded-maintenance visits, counted from
// the visits recorded here, and the base's cumulative figures from the
// source when they were seeded.
type MaintenanceStats struct {
	// VisitsOpened were opened in the period.
	VisitsOpened int `json:"visits_opened"`
	// VisitsInRepair were in repair at some time in the period: entered
	// before its end, with no outcome before its start.
	VisitsInRepair int `json:"visits_in_repair"`
	// VisitsDeparted left the zone in the period.
	VisitsDeparted int `json:"visits_departed"`
	// Cumulative is the source's figures since 2022, seeded (--seed-history),
	// not counted from records; null when not seeded.
	Cumulative *MaintenanceHistory `json:"cumulative"`
}

// MaintenanceHistory is the base's cumulative bonded-maintenance figures as
// the source reports them ("more than" each).
type MaintenanceHistory struct {
	// Seeded is always true: these figures are the source's, loaded as
	// history, and no visit record stands behind them.
	Seeded           bool   `json:"seeded"`
	Source           string `json:"source"`
	Since            string `json:"since"` // calendar date
	AtLeast          bool   `json:"at_least"`
	AircraftVisits   int    `json:"aircraft_maintenance_visits"`
	Repaints         int    `json:"repaints"`
	ComponentRepairs int    `json:"component_repairs"`
}

// CountVisits counts the visits opened, in repair and departed in [from, to).
func CountVisits(visits []*Visit, from, to time.Time) MaintenanceStats {
	var st MaintenanceStats
	in := func(t *time.Time) bool { return t != nil && !t.Before(from) && t.Before(to) }
	for _, v := range visits {
		if in(&v.CreatedAt) {
			st.VisitsOpened++
		}
		if v.EnteredAt != nil && v.EnteredAt.Before(to) && (v.OutcomeAt == nil || !v.OutcomeAt.Before(from)) {
			st.VisitsInRepair++
		}
		if in(v.DepartedAt) {
			st.VisitsDeparted++
		}
	}
	return st
}

// maintenance adds the visits' figures to st, when the service has them.
func (s *StatsService) maintenance(ctx context.Context, st *Stats) error {
	if s.Visits == nil {
		return nil
	}
	visits, err := s.Visits.AllVisits(ctx, "")
	if err != nil {
		return err
	}
	m := CountVisits(visits, st.From, st.To)
	if h := s.MaintenanceHistory; h != nil {
		c := *h
		c.Seeded = true
		m.Cumulative = &c
	}
	st.Maintenance = &m
	return nil
}
