package kafka

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of publishers and consumers, labelled by
// their Name. One Metrics serves every publisher and consumer of a process.
type Metrics struct {
	Delivered    *prometheus.CounterVec // messages Kafka acknowledged
	Failures     *prometheus.CounterVec // failed write attempts
	Quarantined  *prometheus.CounterVec // messages moved aside as undeliverable
	LinkUp       *prometheus.GaugeVec   // 1 when the last contact with Kafka worked
	LastDelivery *prometheus.GaugeVec   // unix time of the last acknowledged write
	Applied      *prometheus.CounterVec // consumed messages applied and committed
	ApplyErrors  *prometheus.CounterVec // apply attempts that failed and were retried
	Poison       *prometheus.CounterVec // consumed messages skipped as never applicable
}

// NewMetrics creates the series and registers them on reg (nil: not
// registered). Registering twice on one registry reuses the first series, so
// tests and several services in one process (`bondgate dev`) can share it.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "delivered_total", Help: "Outbox messages acknowledged by Kafka."}, []string{"name"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "write_failures_total", Help: "Failed Kafka write attempts."}, []string{"name"}),
		Quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "quarantined_total", Help: "Outbox messages Kafka refused for good, moved to quarantine."}, []string{"name"}),
		LinkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "link_up", Help: "1 when the last contact with Kafka succeeded."}, []string{"name"}),
		LastDelivery: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "last_delivery_timestamp_seconds", Help: "Unix time of the last acknowledged write."}, []string{"name"}),
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "applied_total", Help: "Consumed messages applied and committed."}, []string{"name"}),
		ApplyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "apply_errors_total", Help: "Failed attempts to apply a consumed message (retried)."}, []string{"name"}),
		Poison: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "bondgate", Subsystem: "kafka",
			Name: "poison_total", Help: "Consumed messages that can never be applied, committed past."}, []string{"name"}),
	}
	if reg == nil {
		return m
	}
	m.Delivered = register(reg, m.Delivered)
	m.Failures = register(reg, m.Failures)
	m.Quarantined = register(reg, m.Quarantined)
	m.LinkUp = register(reg, m.LinkUp)
	m.LastDelivery = register(reg, m.LastDelivery)
	m.Applied = register(reg, m.Applied)
	m.ApplyErrors = register(reg, m.ApplyErrors)
	m.Poison = register(reg, m.Poison)
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A different collector under our name is a programming error.
		panic(err)
	}
	return c
}

// The helpers below let a nil *Metrics mean "no metrics".

// add counts n on the counter sel picks, if there are metrics at all.
func (m *Metrics) add(sel func(*Metrics) *prometheus.CounterVec, name string, n int) {
	if m != nil && n > 0 {
		sel(m).WithLabelValues(name).Add(float64(n))
	}
}

func failures(m *Metrics) *prometheus.CounterVec    { return m.Failures }
func quarantined(m *Metrics) *prometheus.CounterVec { return m.Quarantined }
func applied(m *Metrics) *prometheus.CounterVec     { return m.Applied }
func applyErrors(m *Metrics) *prometheus.CounterVec { return m.ApplyErrors }
func poison(m *Metrics) *prometheus.CounterVec      { return m.Poison }

func (m *Metrics) link(name string, up bool) {
	if m == nil {
		return
	}
	if up {
		m.LinkUp.WithLabelValues(name).Set(1)
	} else {
		m.LinkUp.WithLabelValues(name).Set(0)
	}
}

func (m *Metrics) delivered(name string, n int) {
	if m == nil {
		return
	}
	m.Delivered.WithLabelValues(name).Add(float64(n))
	m.LastDelivery.WithLabelValues(name).SetToCurrentTime()
}
