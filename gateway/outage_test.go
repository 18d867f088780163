package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkaraw"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outageGate is a gate on the broker at addr with a short correlation
// window (unidentified crossings are decided soon after they are posted)
// and a short Kafka write timeout (a hanging broker is noticed soon).
func outageGate(t *testing.T, addr string) *testGateSvc {
	return startGate(t, t.TempDir(), func(c *Config) {
		c.Brokers = []string{addr}
		c.Window = 500 * time.Millisecond
		c.KafkaWriteTimeout = time.Second
	})
}

// postCrossings posts n unidentified inbound crossings, one POST each,
// numbered from first and spaced 700 ms apart from base, and returns the
// slowest answer (logged, not asserted: the machine is shared).
func postCrossings(t *testing.T, g *testGateSvc, first, n int, base time.Time) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i := first; i < first+n; i++ {
		start := time.Now()
		st, _, raw := g.post(tokGate, crossPair(fmt.Sprintf("IR-1-%04d", i), 1, base.Add(time.Duration(i)*700*time.Millisecond)))
		slowest = max(slowest, time.Since(start))
		require.Equal(t, http.StatusAccepted, st, string(raw))
	}
	return slowest
}

// checkCrossingsTopic reads the crossings topic and checks it against the
// crossings the gate decided, in the gate's order: none lost, none out of
// order; copies are allowed (at-least-once) but de-duplicated by ID the
// topic holds exactly the decided set.
func checkCrossingsTopic(t *testing.T, addr string, decided []zone.Crossing) (read, dupes int) {
	t.Helper()
	acked := make([]string, len(decided))
	for i, x := range decided {
		acked[i] = x.ID
	}
	got := eventIDs(t, readTopic(t, addr, zone.TopicCrossings))
	lost, dupes, reordered := kafka.CheckDelivery(acked, got)
	assert.Zero(t, lost, "crossings lost")
	assert.Zero(t, reordered, "crossings reordered")
	unique := map[string]bool{}
	for _, id := range got {
		unique[id] = true
	}
	ids := make([]string, 0, len(unique))
	for id := range unique {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	want := append([]string(nil), acked...)
	sort.Strings(want)
	assert.Equal(t, want, ids, "the topic, de-duplicated by ID, is the set the gate decided")
	return len(got), dupes
}

// A broker that hangs (produce requests are held, not refused, as a frozen
// process would) must not slow the gate: it answers 202 and decides
// locally, says the link is down, and once the broker answers again the
// backlog reaches Kafka in order with nothing lost.
func TestBrokerHangingGateDecidesLocallyThenDrainsInOrder(t *testing.T) {
	addr := freeAddr(t)
	b := startBroker(t, addr)
	var (
		hanging     atomic.Bool
		slept       atomic.Int32
		release     = make(chan struct{})
		releaseOnce sync.Once
	)
	letGo := func() { hanging.Store(false); releaseOnce.Do(func() { close(release) }) }
	// Registered after the broker's Close, so it runs first: a held request
	// must not keep the broker from closing when the test fails early.
	t.Cleanup(letGo)
	kafkaraw.HoldProduceWhile(b, func() bool {
		if !hanging.Load() {
			return false
		}
		slept.Add(1)
		return true
	}, release)

	g := outageGate(t, addr)
	base := time.Now().Add(-time.Minute)
	postCrossings(t, g, 0, 5, base)
	eventually(t, "first crossings forwarded", func() bool {
		s := g.status()
		return len(g.crossings(0)) == 5 && s.OutboxDepth == 0 && s.Link == "up"
	})

	hanging.Store(true)
	slowest := postCrossings(t, g, 5, 20, base)
	eventually(t, "crossings decided locally while the broker hangs", func() bool { return len(g.crossings(0)) == 25 })
	eventually(t, "status says the link is down", func() bool { return g.status().Link == "down" })
	st := g.status()
	assert.Positive(t, st.OutboxDepth, "the backlog waits in the outbox")
	assert.Positive(t, slept.Load(), "produce requests were held")
	depthWhileHung := st.OutboxDepth

	letGo()
	eventually(t, "backlog drained", func() bool { s := g.status(); return s.OutboxDepth == 0 && s.Link == "up" })
	decided := g.crossings(0)
	read, dupes := checkCrossingsTopic(t, addr, decided)
	t.Logf("hanging broker: acked %d crossings, read %d messages, %d duplicates; %d produce requests held, outbox depth %d while hung, slowest POST while hung %v",
		len(decided), read, dupes, slept.Load(), depthWhileHung, slowest)
}

// A broker closed for a while and restarted from its data dir: the gate
// keeps accepting and deciding, says the link is down, and after the
// restart the topic holds every crossing from before and after, in order.
func TestBrokerRestartedFromDataDirGetsTheWholeBacklog(t *testing.T) {
	addr := freeAddr(t)
	bdir := t.TempDir()
	start := func() *kafka.Broker {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		b, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: addr, DataDir: bdir}, quietLog())
		require.NoError(t, err)
		t.Cleanup(b.Close)
		return b
	}
	b := start()
	g := outageGate(t, addr)
	base := time.Now().Add(-time.Minute)
	postCrossings(t, g, 0, 5, base)
	eventually(t, "first crossings forwarded", func() bool {
		return len(g.crossings(0)) == 5 && g.status().OutboxDepth == 0
	})
	before := len(readTopic(t, addr, zone.TopicCrossings))

	b.Close()
	slowest := postCrossings(t, g, 5, 10, base)
	eventually(t, "crossings decided locally while the broker is away", func() bool { return len(g.crossings(0)) == 15 })
	eventually(t, "status says the link is down", func() bool { return g.status().Link == "down" })
	depthWhileDown := g.status().OutboxDepth
	assert.Positive(t, depthWhileDown, "the backlog waits in the outbox")

	start()
	eventually(t, "backlog drained", func() bool { s := g.status(); return s.OutboxDepth == 0 && s.Link == "up" })
	decided := g.crossings(0)
	read, dupes := checkCrossingsTopic(t, addr, decided)
	t.Logf("broker restart: %d crossings on the topic before the outage, acked %d, read %d messages, %d duplicates; outbox depth %d while down, slowest POST while down %v",
		before, len(decided), read, dupes, depthWhileDown, slowest)
}
