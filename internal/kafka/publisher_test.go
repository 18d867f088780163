package kafka

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/zone"
)

// crossing builds an outbox message whose value names its own ID, so a
// reader can check delivery without the outbox.
func crossing(gate string, i int, pad int) zone.OutboxMessage {
	id := fmt.Sprintf("%s-%05d", gate, i)
	val := fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", pad))
	return zone.OutboxMessage{Topic: zone.TopicCrossings, Key: gate, Value: []byte(val), Created: time.Now()}
}

// idOf pulls the ID back out of a value written by crossing.
func idOf(v []byte) string {
	s := string(v)
	i := strings.Index(s, `"id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+6:]
	return s[:strings.IndexByte(s, '"')]
}

// appendAll puts msgs in the outbox and returns, per key, the IDs in
// outbox order: what the checker expects to see.
func appendAll(t *testing.T, o *boltOutbox, msgs []zone.OutboxMessage) map[string][]string {
	t.Helper()
	_, err := o.Append(msgs...)
	require.NoError(t, err)
	want := map[string][]string{}
	for _, m := range msgs {
		want[m.Key] = append(want[m.Key], idOf(m.Value))
	}
	return want
}

// readByKey reads the topic back and groups IDs per key in partition order.
func readByKey(t *testing.T, brokers []string, topic string) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, m := range readAll(t, brokers, topic) {
		got[string(m.Key)] = append(got[string(m.Key)], idOf(m.Value))
	}
	return got
}

type deliveryReport struct{ lost, dupes, reordered int }

func check(want, got map[string][]string) deliveryReport {
	var r deliveryReport
	for key, ids := range want {
		l, d, o := CheckDelivery(ids, got[key])
		r.lost += l
		r.dupes += d
		r.reordered += o
	}
	return r
}

// runPublisher runs p until the test ends, or until the returned stop is
// called; stop returns Run's result.
func runPublisher(t *testing.T, p *Publisher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("publisher Run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		// Messages a test left undeliverable stay in the outbox; only a
		// Run that does not stop, or fails otherwise, is wrong here.
		if err := stop(); err != nil && zone.ErrorCode(err) != zone.EUNAVAILABLE {
			t.Error(err)
		}
	})
	return stop
}

func manyGates(n int, gates ...string) []zone.OutboxMessage {
	var msgs []zone.OutboxMessage
	for i := 0; i < n; i++ {
		g := gates[i%len(gates)]
		msgs = append(msgs, crossing(g, i, 40))
	}
	return msgs
}

func TestPublisherDeliversInOrder(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	o := newBoltOutbox(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := NewPublisher(PublisherConfig{Name: "t", Brokers: b.Addrs(), Metrics: m}, o, testLog())

	// Half before Run, half while running, woken by Notify.
	msgs := manyGates(1000, "G-MRO-1", "G-MAIN", "G-3", "G-4", "G-5")
	want := appendAll(t, o, msgs[:500])
	runPublisher(t, p)
	for k, v := range appendAll(t, o, msgs[500:]) {
		want[k] = append(want[k], v...)
	}
	p.Notify()
	eventually(t, 60*time.Second, func() bool { return o.depth(t) == 0 }, "outbox not drained: %d left", o.depth(t))

	got := readByKey(t, b.Addrs(), zone.TopicCrossings)
	r := check(want, got)
	assert.Equal(t, deliveryReport{}, r, "lost/dupes/reordered")
	assert.Equal(t, uint64(1000), p.LastDelivered())
	up, _, _ := p.Link()
	assert.True(t, up)
	assert.Equal(t, 1000.0, testutil.ToFloat64(m.Delivered.WithLabelValues("t")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.LinkUp.WithLabelValues("t")))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestPublisherBrokerDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	o := newBoltOutbox(t)
	p := NewPublisher(PublisherConfig{Name: "down", Brokers: []string{addr}, WriteTimeout: 2 * time.Second,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, ProbeInterval: 200 * time.Millisecond}, o, testLog())
	want := appendAll(t, o, manyGates(300, "G-MRO-1", "G-MAIN"))
	runPublisher(t, p)

	eventually(t, 30*time.Second, func() bool {
		up, err, _ := p.Link()
		return !up && err != nil
	}, "link should report down with an error")
	// Nothing lost while down.
	assert.Equal(t, 300, o.depth(t))
	assert.Zero(t, p.LastDelivered())

	b := startBroker(t, BrokerConfig{Addr: addr})
	eventually(t, 60*time.Second, func() bool { return o.depth(t) == 0 }, "outbox not drained: %d left", o.depth(t))
	up, _, _ := p.Link()
	assert.True(t, up)

	got := readByKey(t, b.Addrs(), zone.TopicCrossings)
	assert.Equal(t, deliveryReport{}, check(want, got), "in order, exactly once")
}

// TestPublisherBrokerHangs freezes produce requests at the broker (the slept
// requests are answered later, as a frozen broker would) so WriteTimeout trips
// and the publisher backs off and retries. Duplicates may appear in the topic;
// nothing may be lost or reordered.
func TestPublisherBrokerHangs(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	o := newBoltOutbox(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := NewPublisher(PublisherConfig{Name: "hang", Brokers: b.Addrs(), WriteTimeout: 300 * time.Millisecond,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond, Metrics: m}, o, testLog())

	var hanging atomic.Bool
	release := make(chan struct{})
	var slept atomic.Int32
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if hanging.Load() {
			slept.Add(1)
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})

	want := appendAll(t, o, manyGates(50, "G-MRO-1", "G-MAIN"))
	runPublisher(t, p)
	eventually(t, 30*time.Second, func() bool { return o.depth(t) == 0 }, "first 50 not delivered")

	hanging.Store(true)
	for k, v := range appendAll(t, o, manyGates(200, "G-MRO-1", "G-MAIN")[0:0]) {
		want[k] = append(want[k], v...)
	}
	more := make([]zone.OutboxMessage, 0, 200)
	for i := 50; i < 250; i++ {
		more = append(more, crossing([]string{"G-MRO-1", "G-MAIN"}[i%2], i, 40))
	}
	for k, v := range appendAll(t, o, more) {
		want[k] = append(want[k], v...)
	}
	p.Notify()
	eventually(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(m.Failures.WithLabelValues("hang")) >= 3
	}, "writes should time out and be retried")
	up, lastErr, _ := p.Link()
	assert.False(t, up, "link down while the broker hangs")
	assert.Error(t, lastErr)
	assert.Positive(t, o.depth(t), "nothing may leave the outbox unacknowledged")

	hanging.Store(false)
	close(release)
	eventually(t, 60*time.Second, func() bool { return o.depth(t) == 0 }, "outbox not drained: %d left", o.depth(t))

	got := readByKey(t, b.Addrs(), zone.TopicCrossings)
	r := check(want, got)
	assert.Zero(t, r.lost, "lost")
	assert.Zero(t, r.reordered, "reordered")
	t.Logf("hang: %d produce requests slept, %d duplicates in the topic, %v failed writes",
		slept.Load(), r.dupes, testutil.ToFloat64(m.Failures.WithLabelValues("hang")))
}

func TestPublisherQuarantinesWhatKafkaRefuses(t *testing.T) {
	cases := []struct {
		name    string
		broker  map[string]string
		bigSize int
	}{
		// The broker refuses the record batch (MESSAGE_TOO_LARGE).
		{"broker refuses", map[string]string{"message.max.bytes": "8192"}, 20 << 10},
		// kafka-go refuses before sending (MessageTooLargeError).
		{"client refuses", nil, 2 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, BrokerConfig{BrokerConfigs: tc.broker})
			o := newBoltOutbox(t)
			var (
				mu   sync.Mutex
				seen []zone.OutboxMessage
			)
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			p := NewPublisher(PublisherConfig{Name: "q", Brokers: b.Addrs(), BackoffMin: 20 * time.Millisecond,
				MaxAttempts: 3, Metrics: m,
				OnQuarantine: func(m zone.OutboxMessage, reason string) {
					mu.Lock()
					seen = append(seen, m)
					mu.Unlock()
				}}, o, testLog())

			var msgs []zone.OutboxMessage
			for i := 0; i < 41; i++ {
				pad := 20
				if i == 20 {
					pad = tc.bigSize
				}
				msgs = append(msgs, crossing("G-MRO-1", i, pad))
			}
			want := appendAll(t, o, msgs)
			runPublisher(t, p)
			eventually(t, 60*time.Second, func() bool { return o.depth(t) == 0 }, "outbox not drained: %d left", o.depth(t))

			mu.Lock()
			require.Len(t, seen, 1, "OnQuarantine once")
			assert.Equal(t, "G-MRO-1-00020", idOf(seen[0].Value))
			mu.Unlock()
			q := o.quarantineEntries(t)
			require.Len(t, q, 1)
			assert.Equal(t, uint64(21), q[0].Msg.Seq)
			assert.Equal(t, 3, q[0].Msg.Attempts, "every refusal recorded")
			assert.NotEmpty(t, q[0].Reason)
			assert.Equal(t, 1.0, testutil.ToFloat64(m.Quarantined.WithLabelValues("q")))

			// Everything else arrived, in order, the refused one excepted.
			wantKept := map[string][]string{}
			for _, id := range want["G-MRO-1"] {
				if id != "G-MRO-1-00020" {
					wantKept["G-MRO-1"] = append(wantKept["G-MRO-1"], id)
				}
			}
			got := readByKey(t, b.Addrs(), zone.TopicCrossings)
			assert.Equal(t, deliveryReport{}, check(wantKept, got))
			assert.NotContains(t, got["G-MRO-1"], "G-MRO-1-00020")
		})
	}
}

func TestPublisherDrainFlushesAndIsBounded(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	o := newBoltOutbox(t)
	p := NewPublisher(PublisherConfig{Name: "sd", Brokers: b.Addrs(), WriteTimeout: 500 * time.Millisecond,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond, PollInterval: time.Hour,
		DrainTimeout: 20 * time.Second}, o, testLog())
	stop := runPublisher(t, p)
	// Appended without Notify and with a long poll: only the drain after
	// cancel sends them.
	time.Sleep(100 * time.Millisecond)
	appendAll(t, o, manyGates(20, "G-MAIN"))
	require.NoError(t, stop())
	assert.Equal(t, 0, o.depth(t))

	// A broker that never answers: Run still returns by its drain bound and
	// says what is left.
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { time.Sleep(30 * time.Second) })
		return nil, nil, false
	})
	o2 := newBoltOutbox(t)
	p2 := NewPublisher(PublisherConfig{Name: "sd2", Brokers: b.Addrs(), WriteTimeout: 10 * time.Second, PollInterval: time.Hour,
		DrainTimeout: time.Second}, o2, testLog())
	stop2 := runPublisher(t, p2)
	time.Sleep(100 * time.Millisecond)
	appendAll(t, o2, manyGates(5, "G-MAIN"))
	p2.Notify()
	time.Sleep(200 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- stop2() }()
	select {
	case err := <-done:
		assert.Equal(t, zone.EUNAVAILABLE, zone.ErrorCode(err), "%v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run's drain not bounded by DrainTimeout")
	}
	assert.Equal(t, 5, o2.depth(t), "unsent messages stay in the outbox")
	_ = kafkago.Message{}
}

func TestPublisherBrokerRestartsMidStream(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, BrokerConfig{DataDir: dir})
	addr := b.Addrs()[0]
	o := newBoltOutbox(t)
	p := NewPublisher(PublisherConfig{Name: "restart", Brokers: []string{addr}, WriteTimeout: time.Second,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 300 * time.Millisecond, ProbeInterval: 100 * time.Millisecond}, o, testLog())
	msgs := manyGates(400, "G-MRO-1", "G-MAIN")
	want := appendAll(t, o, msgs[:200])
	runPublisher(t, p)
	eventually(t, 30*time.Second, func() bool { return o.depth(t) == 0 }, "first half not delivered")

	b.Close()
	for k, v := range appendAll(t, o, msgs[200:]) {
		want[k] = append(want[k], v...)
	}
	p.Notify()
	eventually(t, 30*time.Second, func() bool { up, _, _ := p.Link(); return !up }, "link down while the broker is away")
	assert.Equal(t, 200, o.depth(t))

	b2 := startBroker(t, BrokerConfig{Addr: addr, DataDir: dir})
	eventually(t, 60*time.Second, func() bool { return o.depth(t) == 0 }, "backlog not drained: %d left", o.depth(t))
	r := check(want, readByKey(t, b2.Addrs(), zone.TopicCrossings))
	assert.Equal(t, deliveryReport{}, r, "in order, once, across the restart")
}
