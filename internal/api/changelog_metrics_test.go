package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
)

// TestChangelogMetricsOfPrimaryAndStandby: the primary shows the lease
// held, its epoch and the records it appended; the standby shows the lease
// not held, the same epoch, the primary's transactions applied and no lag
// once it has caught up; a node without a changelog shows the lease held.
func TestChangelogMetricsOfPrimaryAndStandby(t *testing.T) {
	b := kafkatest.StartBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, b.Addrs(), 1))

	start := func(rc ReplicaConfig, samples bool) string {
		addr := proctest.FreeAddr(t)
		rc.AdvertiseURL, rc.Lease = "http://"+addr, time.Second
		s, err := New(Config{Addr: addr, DataDir: t.TempDir(), Brokers: b.Addrs(), Replica: rc, Samples: samples,
			Log: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		proctest.WaitHTTP(t, "http://"+addr+"/healthz", 30*time.Second)
		return "http://" + addr + "/metrics"
	}
	primary := start(ReplicaConfig{Changelog: true}, true)
	waitMetric(t, primary, `bondgate_api_changelog_lease_held`, func(v float64) bool { return v == 1 })
	standby := start(ReplicaConfig{Standby: true}, false)

	// The samples are the primary's transactions; the standby applies them.
	waitMetric(t, primary, `bondgate_api_changelog_appended_records_total{kind="transaction"}`, func(v float64) bool { return v > 0 })
	waitMetric(t, standby, `bondgate_api_changelog_applied_records_total`, func(v float64) bool { return v > 0 })
	waitMetric(t, standby, `bondgate_api_changelog_lag_records`, func(v float64) bool { return v == 0 })
	assert.Equal(t, 0.0, metric(t, standby, `bondgate_api_changelog_lease_held`), "a standby takes no writes")
	assert.Equal(t, 1.0, metric(t, standby, `bondgate_api_changelog_epoch`))
	assert.Equal(t, 1.0, metric(t, primary, `bondgate_api_changelog_epoch`))
	assert.Greater(t, metric(t, primary, `bondgate_api_changelog_appended_records_total{kind="lease"}`), 0.0)

	single := start(ReplicaConfig{}, false)
	assert.Equal(t, 1.0, metric(t, single, `bondgate_api_changelog_lease_held`), "a single node takes writes")
	assert.Equal(t, 0.0, metric(t, single, `bondgate_api_changelog_lag_records`))
}

// metric reads one sample (name with its labels, as exposed) from a
// /metrics page; -1 when absent.
func metric(t *testing.T, url, series string) float64 {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

func waitMetric(t *testing.T, url, series string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v := metric(t, url, series); !ok(v); v = metric(t, url, series) {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v", series, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
