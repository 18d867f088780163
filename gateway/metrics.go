package gateway

import (
	"context"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/prometheus/client_golang/prometheus"
)

// gateMetrics are the gate's Prometheus series. Each Service has its own
// registry, so several gates (and tests) can run in one process. The
// forward rate is bondgate_kafka_delivered_total{name="gate:<id>"}, kept by
// the publisher on the same registry.
type gateMetrics struct {
	reg            *prometheus.Registry
	ingestEvents   prometheus.Counter
	ingestRequests prometheus.Counter
	ingestBatch    prometheus.Histogram
	decisions      *prometheus.CounterVec
	alarms         *prometheus.CounterVec
	rateLimited    prometheus.Counter
	unknownDevice  prometheus.Counter
	tracksShed     prometheus.Counter
}

func newGateMetrics(gate string, outbox *bolt.Outbox, link func() bool, commits func() float64) *gateMetrics {
	reg := prometheus.NewRegistry()
	cl := prometheus.Labels{"gate": gate}
	m := &gateMetrics{
		reg: reg,
		ingestEvents: prometheus.NewCounter(prometheus.CounterOpts{Name: "bondgate_gate_ingest_events_total",
			Help: "Sensor events accepted (new, not duplicates) and fsynced.", ConstLabels: cl}),
		ingestRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "bondgate_gate_ingest_requests_total",
			Help: "POST /v1/events requests answered 202.", ConstLabels: cl}),
		ingestBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bondgate_gate_ingest_batch_events",
			Help: "Events per POST /v1/events request.", ConstLabels: cl,
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bondgate_gate_decisions_total",
			Help: "Crossings decided, by decision.", ConstLabels: cl}, []string{"decision"}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bondgate_gate_alarms_total",
			Help: "Alarms raised, by kind.", ConstLabels: cl}, []string{"kind"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{Name: "bondgate_gate_rate_limited_requests_total",
			Help: "POST /v1/events requests refused with 429 because a device in the batch was over its event rate.", ConstLabels: cl}),
		unknownDevice: prometheus.NewCounter(prometheus.CounterOpts{Name: "bondgate_gate_unknown_device_requests_total",
			Help: "POST /v1/events requests refused with 403 because an event came from a device not in the gate's device list.", ConstLabels: cl}),
		tracksShed: prometheus.NewCounter(prometheus.CounterOpts{Name: "bondgate_gate_tracks_shed_total",
			Help: "Camera tracks the correlator dropped before their time to stay within its bound (a flood of new tracks).", ConstLabels: cl}),
	}
	reg.MustRegister(m.ingestEvents, m.ingestRequests, m.ingestBatch, m.decisions, m.alarms, m.rateLimited, m.unknownDevice, m.tracksShed)
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bondgate_gate_ingest_commits_total",
			Help: "Event-log writes (one fdatasync each) that carried ingest requests; compare with requests for the group-commit ratio.", ConstLabels: cl}, commits),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_gate_outbox_depth",
			Help: "Crossings and alarms not yet acknowledged by Kafka.", ConstLabels: cl}, func() float64 {
			n, _ := outbox.Depth(context.Background())
			return float64(n)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_gate_outbox_oldest_age_seconds",
			Help: "Age of the oldest undelivered outbox message; 0 when empty.", ConstLabels: cl}, func() float64 {
			at, ok := outbox.Oldest(context.Background())
			if !ok {
				return 0
			}
			return time.Since(at).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_gate_link_up",
			Help: "1 when the last Kafka write succeeded.", ConstLabels: cl}, func() float64 {
			if link() {
				return 1
			}
			return 0
		}),
	)
	return m
}

// countLagWaits exports how often ingest waited for the decider.
func (m *gateMetrics) countLagWaits(gate string, l *decisionLag) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "bondgate_gate_ingest_decider_waits_total",
		Help:        "Ingest commits held back (up to 100 ms each) because the decider was more than 20,000 events behind: a flood the decider cannot take as fast as it is logged.",
		ConstLabels: prometheus.Labels{"gate": gate}}, func() float64 { return float64(l.waits.Load()) }))
}
