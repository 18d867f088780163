package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// changelogCollector exports the node's place in the changelog for the
// alerts on a lagging standby and on a zone where no node takes writes. A
// node without a changelog takes every write itself: it shows the lease as
// held, epoch 0 and no lag, so the lease alert stays quiet for it.
type changelogCollector struct {
	rep                                  *replica
	appended, applied, epoch, lease, lag *prometheus.Desc
}

func newChangelogCollector(rep *replica) *changelogCollector {
	return &changelogCollector{rep: rep,
		appended: prometheus.NewDesc("bondgate_api_changelog_appended_records_total",
			"Records this node appended to the changelog and the log took, by kind (transaction, lease).", []string{"kind"}, nil),
		applied: prometheus.NewDesc("bondgate_api_changelog_applied_records_total",
			"Other nodes' transactions this node applied from the changelog to its file.", nil, nil),
		epoch: prometheus.NewDesc("bondgate_api_changelog_epoch",
			"Highest valid lease epoch this node has read from the changelog; 0 without a changelog.", nil, nil),
		lease: prometheus.NewDesc("bondgate_api_changelog_lease_held",
			"1 when this node takes writes: it holds the changelog lease, or runs without a changelog.", nil, nil),
		lag: prometheus.NewDesc("bondgate_api_changelog_lag_records",
			"Changelog records between the log's end and this node's copy; absent while Kafka does not answer.", nil, nil),
	}
}

func (c *changelogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.appended, c.applied, c.epoch, c.lease, c.lag} {
		ch <- d
	}
}

func (c *changelogCollector) Collect(ch chan<- prometheus.Metric) {
	if c.rep == nil {
		for _, kind := range []string{"transaction", "lease"} {
			ch <- prometheus.MustNewConstMetric(c.appended, prometheus.CounterValue, 0, kind)
		}
		ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, 0)
		ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, 0)
		ch <- prometheus.MustNewConstMetric(c.lease, prometheus.GaugeValue, 1)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, 0)
		return
	}
	st := c.rep.stats()
	for _, kind := range []string{"transaction", "lease"} {
		ch <- prometheus.MustNewConstMetric(c.appended, prometheus.CounterValue, float64(st.appended[kind]), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, float64(st.applied))
	ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(st.epoch))
	held := 0.0
	if st.holdsLease {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(c.lease, prometheus.GaugeValue, held)
	// The log's end is asked at scrape time: a standby whose follower has
	// stalled must show its lag growing, not the last value it saw.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if end, err := c.rep.cl.EndOffset(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(max(end-st.processed, 0)))
	}
}
