package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// registerAPIStoreMetrics exports the zone API's outbox and quarantine the
// way the gate exports its own, for the alerts in ops/prometheus/alerts.yml
// (oldest undelivered event, quarantine not empty).
func registerAPIStoreMetrics(reg prometheus.Registerer, ob *bolt.Outbox) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_api_outbox_depth",
			Help: "Declaration and clearance events not yet acknowledged by Kafka."}, func() float64 {
			n, _ := ob.Depth(context.Background())
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_api_outbox_oldest_age_seconds",
			Help: "Age of the oldest undelivered outbox event; 0 when empty."}, func() float64 {
			at, ok := ob.Oldest(context.Background())
			if !ok {
				return 0
			}
			return time.Since(at).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_api_quarantine_messages",
			Help: "Events Kafka refused for good, held in the quarantine bucket for an operator."}, func() float64 {
			q, err := ob.Quarantined(context.Background())
			if err != nil {
				return 0
			}
			return float64(len(q))
		}),
	)
}

// greenChannelCollector exports the declarations waiting for a customs
// decision (submitted, or held for inspection) and how long the oldest has
// waited since submission, so the 24-hour green channel can alert when a
// decision runs past its target at any hour.
type greenChannelCollector struct {
	store          zone.DeclarationStore
	waiting, since *prometheus.Desc
}

func newGreenChannelCollector(store zone.DeclarationStore) *greenChannelCollector {
	st := []string{"status"}
	return &greenChannelCollector{
		store: store,
		waiting: prometheus.NewDesc("bondgate_green_channel_waiting_declarations",
			"Pre-declarations waiting for a customs decision, by status (submitted, inspection).", st, nil),
		since: prometheus.NewDesc("bondgate_green_channel_oldest_waiting_seconds",
			"Seconds since the oldest waiting pre-declaration was submitted; 0 when none waits.", st, nil),
	}
}

func (c *greenChannelCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.since
}

func (c *greenChannelCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	for _, status := range []zone.Status{zone.StatusSubmitted, zone.StatusInspection} {
		n, oldest := 0, now
		f := zone.DeclarationFilter{Status: status, Limit: 500}
		for {
			page, err := c.store.Declarations(ctx, f)
			if err != nil {
				return // a failed scrape shows as missing series, not as zero
			}
			for _, d := range page.Items {
				n++
				if d.CreatedAt.Before(oldest) {
					oldest = d.CreatedAt
				}
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(n), string(status))
		ch <- prometheus.MustNewConstMetric(c.since, prometheus.GaugeValue, now.Sub(oldest).Seconds(), string(status))
	}
}

// alarmCollector exports the alarms no officer has acknowledged yet, by
// kind. The crossing kinds are always exported (0 when none is open) so the
// alert on them resolves and its series never goes missing.
type alarmCollector struct {
	store zone.AlarmStore
	open  *prometheus.Desc
}

func newAlarmCollector(store zone.AlarmStore) *alarmCollector {
	return &alarmCollector{store: store, open: prometheus.NewDesc("bondgate_alarms_open",
		"Alarms the zone holds that no officer has acknowledged yet, by kind.", []string{"kind"}, nil)}
}

func (c *alarmCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.open }

func (c *alarmCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := map[zone.AlarmKind]int{zone.AlarmUnauthorized: 0, zone.AlarmUnidentified: 0, zone.AlarmPerson: 0}
	f := zone.AlarmFilter{State: zone.AlarmOpen, Limit: 500}
	for {
		page, err := c.store.Alarms(ctx, f)
		if err != nil {
			return
		}
		for _, a := range page.Items {
			counts[a.Kind]++
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	for kind, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(n), string(kind))
	}
}

// temporaryEntryLister is the part of the temporary-entry store the
// overdue gauge reads.
type temporaryEntryLister interface {
	TemporaryEntries(ctx context.Context, f zone.TemporaryEntryFilter) (zone.TemporaryEntryPage, error)
}

// overdueCollector exports temporary-entry repairs past their re-export
// deadline: those the scheduler marked overdue and those whose deadline
// passed since its last sweep.
type overdueCollector struct {
	store   temporaryEntryLister
	overdue *prometheus.Desc
}

func newOverdueCollector(store temporaryEntryLister) *overdueCollector {
	return &overdueCollector{store: store, overdue: prometheus.NewDesc("bondgate_temporary_entries_overdue",
		"Temporary-entry repairs past their re-export deadline and not re-exported.", nil, nil)}
}

func (c *overdueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.overdue }

func (c *overdueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	n := 0
	for _, f := range []zone.TemporaryEntryFilter{
		{Status: zone.EntryOverdue, Limit: 500},
		{Status: zone.EntryEntered, DueBefore: &now, Limit: 500},
	} {
		for {
			page, err := c.store.TemporaryEntries(ctx, f)
			if err != nil {
				return
			}
			n += len(page.Items)
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
	}
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(n))
}
