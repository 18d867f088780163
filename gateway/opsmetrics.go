package gateway

import (
	"context"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/prometheus/client_golang/prometheus"
)

// sensorCollector exports each device's health from the decider's last
// known state, so an alert can say which sensor of which gate is silent or
// faulty (ops/prometheus/alerts.yml). Only listed devices (or, without a
// list, the first maxDeviceSeries) get their own series.
type sensorCollector struct {
	s                        *Service
	ok, silent, fault, lastS *prometheus.Desc
}

func newSensorCollector(s *Service) *sensorCollector {
	cl := prometheus.Labels{"gate": s.cfg.GateID}
	dev := []string{"device"}
	return &sensorCollector{
		s: s,
		ok: prometheus.NewDesc("bondgate_gate_sensor_ok",
			"1 when the device is healthy (heard from in time, no open fault or tamper).", dev, cl),
		silent: prometheus.NewDesc("bondgate_gate_sensor_silent",
			"1 when the device missed its heartbeats and a silence alarm is open.", dev, cl),
		fault: prometheus.NewDesc("bondgate_gate_sensor_fault",
			"1 when the device reported a fault or tamper that has not cleared.", dev, cl),
		lastS: prometheus.NewDesc("bondgate_gate_sensor_last_seen_timestamp_seconds",
			"Unix time of the device's latest event (by the event's own time).", dev, cl),
	}
}

func (c *sensorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ok
	ch <- c.silent
	ch <- c.fault
	ch <- c.lastS
}

// maxDeviceSeries bounds the per-device series of a gate without a device
// list: past it, devices (by ID order) are folded into device="other", so
// invented device IDs cannot grow the metrics without end.
const maxDeviceSeries = 64

// otherDevices is the label the devices without their own series share.
const otherDevices = "other"

func (c *sensorCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.decider == nil {
		return
	}
	var other *decide.SensorState
	own := 0
	for _, st := range c.s.decider.Sensors() { // sorted by ID
		_, listed := c.s.devices[st.DeviceID]
		if (c.s.devices != nil && !listed) || (c.s.devices == nil && own >= maxDeviceSeries) || st.DeviceID == otherDevices {
			// Folded: healthy only if all are, silent or faulty if any is.
			if other == nil {
				other = &decide.SensorState{DeviceID: otherDevices, OK: true}
			}
			other.OK = other.OK && st.OK
			other.Silent = other.Silent || st.Silent
			if st.Fault != "" {
				other.Fault = st.Fault
			}
			if st.LastSeen.After(other.LastSeen) {
				other.LastSeen = st.LastSeen
			}
			continue
		}
		own++
		c.emit(ch, st)
	}
	if other != nil {
		c.emit(ch, *other)
	}
}

func (c *sensorCollector) emit(ch chan<- prometheus.Metric, st decide.SensorState) {
	ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, gauge01(st.OK), st.DeviceID)
	ch <- prometheus.MustNewConstMetric(c.silent, prometheus.GaugeValue, gauge01(st.Silent), st.DeviceID)
	ch <- prometheus.MustNewConstMetric(c.fault, prometheus.GaugeValue, gauge01(st.Fault != ""), st.DeviceID)
	if !st.LastSeen.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastS, prometheus.GaugeValue,
			float64(st.LastSeen.UnixNano())/1e9, st.DeviceID)
	}
}

func gauge01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// registerOpsMetrics adds the series the operator's alerts need beyond the
// ingest and forwarding ones: per-sensor health and the quarantine size.
func (s *Service) registerOpsMetrics() {
	s.metrics.reg.MustRegister(
		newSensorCollector(s),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_gate_quarantine_messages",
			Help:        "Crossings and alarms Kafka refused for good, held in the quarantine bucket for an operator.",
			ConstLabels: prometheus.Labels{"gate": s.cfg.GateID}}, func() float64 {
			q, err := s.outbox.Quarantined(context.Background())
			if err != nil {
				return 0
			}
			return float64(len(q))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bondgate_gate_events_set_aside",
			Help:        "Stored sensor events the decider could not process and set aside (each raised an event_set_aside alarm).",
			ConstLabels: prometheus.Labels{"gate": s.cfg.GateID}}, func() float64 {
			n, err := s.store.AsideCount()
			if err != nil {
				return 0
			}
			return float64(n)
		}),
	)
}
