package kafka

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestPublisherSurvivesLeaderMoves runs the production path against a
// three-broker cluster: while the publisher drains an outbox of a few
// thousand crossings from eight gates, partition leaders are moved every few
// produce requests (a leader election, a rolling restart). Writes that reach
// the old leader fail and are retried against the new one; nothing may be
// lost and each gate's crossings must keep their order.
func TestPublisherSurvivesLeaderMoves(t *testing.T) {
	b := startBroker(t, BrokerConfig{NumBrokers: 3})
	require.Len(t, b.Addrs(), 3)
	c := b.Cluster()

	// Every 16th produce request triggers a leader shuffle, at most 25 in
	// all (each one makes the publisher retry a whole batch, so more only
	// slows the test). The shuffle runs outside the control function: kfake
	// runs both on one goroutine.
	var produced, shuffles atomic.Int64
	shuffle := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if produced.Add(1)%16 == 0 && shuffles.Load() < 25 {
			select {
			case shuffle <- struct{}{}:
			default:
			}
		}
		return nil, nil, false
	})
	var (
		moved atomic.Int64 // shuffles that happened with messages still pending
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	o := newBoltOutbox(t)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-shuffle:
				pending := o.depth(t) > 0
				c.ShufflePartitionLeaders()
				shuffles.Add(1)
				if pending {
					moved.Add(1)
				}
			}
		}
	})
	// One explicit move of a known partition too, before the drain starts.
	leader := c.LeaderFor(zone.TopicCrossings, 0)
	require.NoError(t, c.MoveTopicPartition(zone.TopicCrossings, 0, (leader+1)%3))
	assert.Equal(t, (leader+1)%3, c.LeaderFor(zone.TopicCrossings, 0))

	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := NewPublisher(PublisherConfig{Name: "multi", Brokers: b.Addrs(), BatchSize: 50, WriteTimeout: 2 * time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Metrics: m}, o, testLog())

	gates := make([]string, 8)
	for i := range gates {
		gates[i] = fmt.Sprintf("G-%d", i+1)
	}
	const total = 3000
	msgs := manyGates(total, gates...)
	want := appendAll(t, o, msgs[:total/2])
	runPublisher(t, p)
	// The second half arrives while the first drains, as a busy gate's would.
	for i := total / 2; i < total; i += 100 {
		for k, v := range appendAll(t, o, msgs[i:i+100]) {
			want[k] = append(want[k], v...)
		}
		p.Notify()
	}
	eventually(t, 120*time.Second, func() bool { return o.depth(t) == 0 }, "outbox not drained: %d left", o.depth(t))
	close(stop)
	wg.Wait()

	got := readByKey(t, b.Addrs(), zone.TopicCrossings)
	r := check(want, got)
	assert.Zero(t, r.lost, "lost")
	assert.Zero(t, r.reordered, "reordered within a gate")
	assert.Equal(t, uint64(total), p.LastDelivered())
	failures := testutil.ToFloat64(m.Failures.WithLabelValues("multi"))
	t.Logf("%d messages, %d produce requests, %d leader shuffles (%d with messages pending), %.0f failed writes retried, %d duplicates in the topic",
		total, produced.Load(), shuffles.Load(), moved.Load(), failures, r.dupes)
	assert.Positive(t, moved.Load(), "leaders must move while messages are pending")
	assert.Positive(t, failures, "some writes must have hit a moved leader, or the test proves nothing")
}
