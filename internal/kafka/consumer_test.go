package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// produceEvents writes n CloudEvents to topic over keys, synchronously.
func produceEvents(t *testing.T, brokers []string, topic string, from, n int, keys ...string) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), RequiredAcks: kafkago.RequireAll, Balancer: &kafkago.Hash{},
		BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	var msgs []kafkago.Message
	for i := from; i < from+n; i++ {
		key := keys[i%len(keys)]
		e, err := zone.NewEvent(fmt.Sprintf("ev-%05d", i), "test", zone.TypeClearance, key, time.Now(), map[string]int{"i": i})
		require.NoError(t, err)
		m, err := e.Message(topic, key)
		require.NoError(t, err)
		msgs = append(msgs, kafkago.Message{Topic: topic, Key: []byte(m.Key), Value: m.Value})
	}
	require.NoError(t, w.WriteMessages(context.Background(), msgs...))
}

// applied records what a consumer applied, per key (one key stays in one
// partition), in order.
type appliedLog struct {
	mu    sync.Mutex
	byKey map[string][]string // event IDs, which rise with the produce order
	ids   map[string]int
	total int
}

func newAppliedLog() *appliedLog {
	return &appliedLog{byKey: map[string][]string{}, ids: map[string]int{}}
}

func (a *appliedLog) add(e zone.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byKey[e.Subject] = append(a.byKey[e.Subject], e.ID)
	a.ids[e.ID]++
	a.total++
}

// handle is a Handler that records each event in a.
func (a *appliedLog) handle(_ context.Context, e zone.Event) error {
	a.add(e)
	return nil
}

func (a *appliedLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// runConsumer runs c until the test ends, or until the returned stop is
// called; stop returns Run's result, failing if Run does not return in 10 s.
func runConsumer(t *testing.T, c *Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = fmt.Errorf("consumer %s did not stop in time", c.cfg.Name)
			}
		})
		return runErr
	}
	t.Cleanup(func() { assert.NoError(t, stop()) })
	return stop
}

func committed(t *testing.T, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	parts := []int{0, 1, 2, 3, 4, 5}
	res, err := cl.OffsetFetch(context.Background(), &kafkago.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{topic: parts}})
	require.NoError(t, err)
	require.NoError(t, res.Error)
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

func TestConsumerAppliesOncePerMessageInOrder(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	produceEvents(t, b.Addrs(), zone.TopicClearances, 0, 300, "D-1", "D-2", "D-3", "D-4")
	// A value that is no CloudEvent, in the middle of D-1's partition.
	w := &kafkago.Writer{Addr: kafkago.TCP(b.Addrs()...), RequiredAcks: kafkago.RequireAll, Balancer: &kafkago.Hash{}}
	require.NoError(t, w.WriteMessages(context.Background(), kafkago.Message{Topic: zone.TopicClearances,
		Key: []byte("D-1"), Value: []byte("{not json")}))
	w.Close()
	produceEvents(t, b.Addrs(), zone.TopicClearances, 300, 100, "D-1", "D-2", "D-3", "D-4")

	log := newAppliedLog()
	m := NewMetrics(prometheus.NewRegistry())
	var poisoned atomic.Int32
	c := NewConsumer(ConsumerConfig{Name: "c", Brokers: b.Addrs(), GroupID: "g1",
		Metrics: m, OnPoison: func(string, error) { poisoned.Add(1) }},
		map[string]Handler{zone.TopicClearances: log.handle}, testLog())
	runConsumer(t, c)
	eventually(t, 60*time.Second, func() bool { return log.count() == 400 }, "applied %d of 400", log.count())

	log.mu.Lock()
	for id, n := range log.ids {
		assert.Equal(t, 1, n, "event %s applied %d times", id, n)
	}
	assert.Len(t, log.ids, 400)
	for key, ids := range log.byKey {
		for i := 1; i < len(ids); i++ {
			assert.Greater(t, ids[i], ids[i-1], "key %s out of order", key)
		}
	}
	log.mu.Unlock()
	assert.Equal(t, int32(1), poisoned.Load())
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Poison.WithLabelValues("c")))
	up, _, _ := c.Link()
	assert.True(t, up)

	// The poison message was committed past: the group is at the end of every partition.
	eventually(t, 30*time.Second, func() bool {
		var sum int64
		for _, off := range committed(t, b.Addrs(), "g1", zone.TopicClearances) {
			if off > 0 { // -1: an empty partition, nothing committed
				sum += off
			}
		}
		return sum == 401
	}, "all 401 messages committed")
}

func TestConsumerRetriesAndNeverCommitsPastAFailure(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	produceEvents(t, b.Addrs(), zone.TopicCrossings, 0, 20, "G-MRO-1")

	const stuck = "ev-00007"
	// One key: all 20 sit in one partition at offsets 0-19, the stuck one at 7.
	const stuckOff = 7
	var (
		allow    atomic.Bool
		failures atomic.Int32
	)
	log := newAppliedLog()
	c := NewConsumer(ConsumerConfig{Name: "r", Brokers: b.Addrs(), GroupID: "g2",
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		map[string]Handler{zone.TopicCrossings: func(ctx context.Context, e zone.Event) error {
			if e.ID == stuck && !allow.Load() {
				failures.Add(1)
				return errors.New("bbolt: database is busy")
			}
			return log.handle(ctx, e)
		}}, testLog())
	runConsumer(t, c)

	eventually(t, 30*time.Second, func() bool { return failures.Load() >= 5 }, "apply retried")
	assert.Equal(t, 7, log.count(), "nothing after the failing message is applied")
	for part, off := range committed(t, b.Addrs(), "g2", zone.TopicCrossings) {
		assert.LessOrEqual(t, off, int64(stuckOff), "partition %d committed past an unapplied message", part)
	}

	allow.Store(true)
	eventually(t, 30*time.Second, func() bool { return log.count() == 20 }, "applied %d of 20", log.count())
	log.mu.Lock()
	assert.Equal(t, 1, log.ids[stuck])
	log.mu.Unlock()
}

func TestConsumerRestartResumesAfterLastCommit(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, BrokerConfig{DataDir: dir})
	addr := b.Addrs()[0]
	produceEvents(t, b.Addrs(), zone.TopicAlarms, 0, 100, "G-MRO-1", "G-MAIN")

	first := newAppliedLog()
	apply := func(l *appliedLog) map[string]Handler { return map[string]Handler{zone.TopicAlarms: l.handle} }
	cfg := ConsumerConfig{Name: "api", Brokers: []string{addr}, GroupID: "api"}
	c1 := NewConsumer(cfg, apply(first), testLog())
	stop1 := runConsumer(t, c1)
	eventually(t, 60*time.Second, func() bool { return first.count() == 100 }, "first run applied %d", first.count())
	require.NoError(t, stop1())

	// The broker restarts too, from its data dir, and more arrives.
	b.Close()
	b2 := startBroker(t, BrokerConfig{Addr: addr, DataDir: dir})
	produceEvents(t, b2.Addrs(), zone.TopicAlarms, 100, 50, "G-MRO-1", "G-MAIN")

	second := newAppliedLog()
	c2 := NewConsumer(cfg, apply(second), testLog())
	runConsumer(t, c2)
	eventually(t, 60*time.Second, func() bool { return second.count() >= 50 }, "second run applied %d", second.count())
	time.Sleep(500 * time.Millisecond) // let any wrong re-delivery show up
	second.mu.Lock()
	defer second.mu.Unlock()
	assert.Equal(t, 50, second.total, "resumes after the last commit, nothing re-applied")
	for id := range second.ids {
		_, again := first.ids[id]
		assert.False(t, again, "%s applied in both runs", id)
	}
}

func TestConsumerWaitsForBrokerAndReconnects(t *testing.T) {
	addr := freeAddr(t)
	log := newAppliedLog()
	c := NewConsumer(ConsumerConfig{Name: "late", Brokers: []string{addr}, GroupID: "g3",
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond, ProbeInterval: 100 * time.Millisecond},
		map[string]Handler{zone.TopicClearances: log.handle}, testLog())
	runConsumer(t, c)
	eventually(t, 30*time.Second, func() bool {
		up, err, _ := c.Link()
		return !up && err != nil
	}, "link should report down")

	dir := t.TempDir()
	b := startBroker(t, BrokerConfig{Addr: addr, DataDir: dir})
	produceEvents(t, b.Addrs(), zone.TopicClearances, 0, 30, "D-1", "D-2")
	eventually(t, 60*time.Second, func() bool { return log.count() == 30 }, "applied %d of 30", log.count())
	up, _, _ := c.Link()
	assert.True(t, up)

	// The broker goes away and comes back with its log: the consumer carries on.
	b.Close()
	eventually(t, 30*time.Second, func() bool { up, _, _ := c.Link(); return !up }, "link down after broker stop")
	b2 := startBroker(t, BrokerConfig{Addr: addr, DataDir: dir})
	produceEvents(t, b2.Addrs(), zone.TopicClearances, 30, 30, "D-1", "D-2")
	distinct := func() int { log.mu.Lock(); defer log.mu.Unlock(); return len(log.ids) }
	// At least once: a commit lost in the restart may re-deliver a message,
	// which the caller's seen-set absorbs; none may be missing.
	eventually(t, 90*time.Second, func() bool { return distinct() == 60 }, "applied %d distinct of 60", distinct())
	t.Logf("reconnect: %d applies for 60 events", log.count())
}
