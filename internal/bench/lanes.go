package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkaraw"
	"github.com/bondgate/bondgate/internal/zone"
)

// Figure 7's backlog: 500 record events of 64 KB each (a lot event before
// events stopped carrying the history was up to 1.2 MB).
const (
	laneBacklog      = 500
	laneBacklogBytes = 64 << 10
)

// benchLanes is figure 7: how long a clearance takes from its commit in the
// API's outbox to a gate's group reader while 500 bulky record events wait
// in the same outbox and the broker holds every produce to the records topic
// (the worst of a slow records flow). It runs in-process on the real bbolt
// outbox and publisher over a kfake broker on TCP. The baseline, measured in
// the same run on the same broker and reader, is a bare kafka-go produce →
// group consume round trip of one message: the ceiling of the machine.
func benchLanes(ctx context.Context, e *benchEnv, samples int) ([]benchRow, error) {
	br, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: "127.0.0.1:0"}, benchQuietLog())
	if err != nil {
		return nil, err
	}
	defer br.Close()
	db, err := bolt.Open(filepath.Join(e.dir, "lanes.db"), bolt.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()

	// The gate's side: a group reader on the clearances topic.
	r := kafkaraw.NewGroupReader(br.Addrs(), "bench-lanes-gate", zone.TopicClearances)
	defer r.Close()
	var (
		mu      sync.Mutex
		waiters = map[string]chan time.Time{}
	)
	expect := func(id string) chan time.Time {
		ch := make(chan time.Time, 1)
		mu.Lock()
		waiters[id] = ch
		mu.Unlock()
		return ch
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			m, err := r.Fetch(rctx)
			if err != nil {
				return
			}
			at := time.Now()
			_ = r.Commit(rctx, m)
			var v struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(m.Value, &v)
			mu.Lock()
			ch := waiters[v.ID]
			delete(waiters, v.ID)
			mu.Unlock()
			if ch != nil {
				ch <- at
			}
		}
	}()
	wait := func(ch chan time.Time, what string) (time.Time, error) {
		select {
		case at := <-ch:
			return at, nil
		case <-time.After(30 * time.Second):
			return time.Time{}, fmt.Errorf("%s: not at the gate's reader within 30 s", what)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}

	// Baseline: one message at a time through a bare writer; the first
	// sends also wait out the reader's group join.
	w := kafkaraw.NewWriter(kafkaraw.WriterConfig{Brokers: br.Addrs(), BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second})
	defer w.Close()
	var raw []time.Duration
	for i := -1; i < samples; i++ {
		id := fmt.Sprintf("raw-%d", i)
		ch := expect(id)
		start := time.Now()
		if err := w.Write(ctx, kafkaraw.Message{Topic: zone.TopicClearances, Key: []byte(id), Value: []byte(`{"id":"` + id + `"}`)}); err != nil {
			return nil, err
		}
		if i < 0 {
			// Joining takes seconds: resend until the reader is in.
			var got bool
			for try := 0; try < 60 && !got; try++ {
				select {
				case <-ch:
					got = true
				case <-time.After(time.Second):
					ch = expect(id)
					if err := w.Write(ctx, kafkaraw.Message{Topic: zone.TopicClearances, Key: []byte(id), Value: []byte(`{"id":"` + id + `"}`)}); err != nil {
						return nil, err
					}
				}
			}
			if !got {
				return nil, fmt.Errorf("the gate's reader got nothing within 60 s")
			}
			time.Sleep(500 * time.Millisecond) // let a warm-up copy in flight land
			continue
		}
		at, err := wait(ch, id)
		if err != nil {
			return nil, err
		}
		raw = append(raw, at.Sub(start))
	}

	// The backlog, and a broker that holds every records produce until the end.
	release := make(chan struct{})
	defer close(release)
	kafkaraw.HoldProduce(br, zone.TopicRecords, release)
	pad := strings.Repeat("n", laneBacklogBytes)
	backlog := make([]*zone.OutboxMessage, laneBacklog)
	for i := range backlog {
		backlog[i] = &zone.OutboxMessage{Topic: zone.TopicRecords, Key: fmt.Sprintf("LOT-%d", i%50),
			Value: []byte(fmt.Sprintf(`{"id":"rec-%d","note":%q}`, i, pad))}
	}
	if err := db.Outbox().Append(context.Background(), backlog...); err != nil {
		return nil, err
	}
	ob := db.Outbox()
	pub := kafka.NewPublisher(kafka.PublisherConfig{Name: "bench-lanes", Brokers: br.Addrs(), WriteTimeout: 2 * time.Second,
		BackoffMax: time.Second, DrainTimeout: 2 * time.Second}, ob, benchQuietLog())
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Run(pctx)
	}()
	defer func() {
		stop()
		<-done
	}()

	var lat []time.Duration
	for i := -1; i < samples; i++ { // i = -1 warms up the clearance lane's writer
		id := fmt.Sprintf("clr-%d", i)
		ch := expect(id)
		start := time.Now()
		m := &zone.OutboxMessage{Topic: zone.TopicClearances, Key: "PD-" + id, Value: []byte(`{"id":"` + id + `"}`)}
		if err := db.Outbox().Append(context.Background(), m); err != nil {
			return nil, err
		}
		pub.Notify()
		at, err := wait(ch, "clearance "+id)
		if err != nil {
			return nil, err
		}
		if i >= 0 {
			lat = append(lat, at.Sub(start))
		}
	}
	left, err := ob.PendingIn(ctx, zone.TopicRecords, laneBacklog+1)
	if err != nil {
		return nil, err
	}
	if len(left) < laneBacklog {
		return nil, fmt.Errorf("the record backlog was not held: %d of %d left", len(left), laneBacklog)
	}
	slices.Sort(lat)
	slices.Sort(raw)
	p99, rawP99 := pct(lat, 0.99), pct(raw, 0.99)
	return []benchRow{{
		Figure:   fmt.Sprintf("7 clearance → gate reader, %d × %d KB record events queued and held", laneBacklog, laneBacklogBytes>>10),
		Measured: fmt.Sprintf("p50 %s, p99 %s (%d samples)", ms(pct(lat, 0.5)), ms(p99), len(lat)),
		Baseline: fmt.Sprintf("bare kafka-go produce→group consume, one message: p50 %s, p99 %s", ms(pct(raw, 0.5)), ms(rawP99)),
		Ratio:    fmt.Sprintf("%.1f× bare p99", float64(p99)/float64(max(rawP99, time.Microsecond))),
		Target:   "p99 ≤ 1 s", Verdict: verdict(p99 <= time.Second),
	}}, nil
}
