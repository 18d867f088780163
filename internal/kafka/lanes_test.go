package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

// hangTopic makes the broker hold every produce request that carries topic
// until release is closed, as a broker slow on one topic's partitions would;
// it counts the requests it held.
func hangTopic(b *Broker, topic string, release <-chan struct{}) *atomic.Int32 {
	var held atomic.Int32
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic == topic {
				held.Add(1)
				c.SleepControl(func() { <-release })
				break
			}
		}
		return nil, nil, false
	})
	return &held
}

// TestClearanceOvertakesRecordBacklog queues 500 bulky record events ahead
// of a clearance while the records topic hangs: the clearance still reaches
// its topic, before the record backlog has gone, and the backlog then drains
// with each key in order.
func TestClearanceOvertakesRecordBacklog(t *testing.T) {
	ctx := context.Background()
	b := startBroker(t, BrokerConfig{})
	db := bolttest.MustOpenDB(t)
	ob := db.Outbox()
	release := make(chan struct{})
	held := hangTopic(b, zone.TopicRecords, release)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	want := map[string][]string{}
	pad := strings.Repeat("n", 20<<10)
	backlog := make([]*zone.OutboxMessage, 0, 500)
	for i := 0; i < 500; i++ {
		key := fmt.Sprintf("LOT-%d", i%9)
		id := fmt.Sprintf("rec-%03d", i)
		want[key] = append(want[key], id)
		backlog = append(backlog, &zone.OutboxMessage{Topic: zone.TopicRecords, Key: key, Value: []byte(fmt.Sprintf(`{"id":%q,"pad":%q}`, id, pad))})
	}
	require.NoError(t, bolttest.AppendOutbox(db, backlog...))
	p := NewPublisher(PublisherConfig{Name: "lanes", Brokers: b.Addrs(), WriteTimeout: time.Second,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}, ob, testLog())
	runPublisher(t, p)
	eventually(t, 30*time.Second, func() bool { return held.Load() > 0 }, "the records topic was never written")

	clr := &zone.OutboxMessage{Topic: zone.TopicClearances, Key: "PD-1", Value: []byte(`{"id":"clr-1"}`)}
	require.NoError(t, bolttest.AppendOutbox(db, clr))
	p.Notify()
	eventually(t, 30*time.Second, func() bool {
		left, err := ob.PendingIn(ctx, zone.TopicClearances, 1)
		return err == nil && len(left) == 0
	}, "the clearance waits behind the record backlog")
	recs, err := ob.PendingIn(ctx, zone.TopicRecords, 1000)
	require.NoError(t, err)
	assert.NotEmpty(t, recs, "the clearance went before the record backlog finished")
	got := readByKey(t, b.Addrs(), zone.TopicClearances)
	assert.Equal(t, []string{"clr-1"}, got["PD-1"])

	close(release)
	eventually(t, 60*time.Second, func() bool {
		n, err := ob.Depth(ctx)
		return err == nil && n == 0
	}, "the record backlog did not drain")
	r := check(want, readByKey(t, b.Addrs(), zone.TopicRecords))
	assert.Zero(t, r.lost, "lost")
	assert.Zero(t, r.reordered, "reordered within a key")
}
