package faults

// Fault scenarios that need the broker to misbehave on cue: the broker is
// kfake in the test process (real Kafka protocol over TCP) with a control
// function on Produce; the gate is still the real process, except for the
// clock scenario, which runs the gate in-process to own its clock.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// dedupeConsumer is a consumer of the crossings topic that applies each
// event ID once, in one bbolt transaction with a seen-set, before it
// commits: the "none in effect" side of at-least-once delivery.
type dedupeConsumer struct {
	mu      sync.Mutex
	effects []string
	copies  int
}

func runDedupeConsumer(t *testing.T, broker string) *dedupeConsumer {
	t.Helper()
	seen := bolttest.NewSeenSet(t)
	dc := &dedupeConsumer{}
	kafkatest.Consume(t, broker, "fault-dedupe", zone.TopicCrossings, func(_ context.Context, ev zone.Event) error {
		applied, err := seen.Mark(ev.ID)
		if err != nil {
			return err
		}
		dc.mu.Lock()
		defer dc.mu.Unlock()
		if applied {
			dc.effects = append(dc.effects, ev.ID)
		} else {
			dc.copies++
		}
		return nil
	})
	return dc
}

func (dc *dedupeConsumer) snapshot() ([]string, int) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return slices.Clone(dc.effects), dc.copies
}

// Scenario 4: acks slower than the gate's Kafka write timeout. The gate
// retries, the first attempt lands too, so Kafka holds copies; a consumer
// deduplicating by event ID applies each crossing once, in order.
func TestFault04SlowAcks(t *testing.T) {
	skipShort(t)
	b := kafkatest.StartBroker(t)
	broker := b.Addrs()[0]
	const writeTimeout = time.Second
	var slow, slept atomic.Int32
	slow.Store(int32(scale(3, 12)))
	kafkatest.OnProduce(b, func(kafkatest.ProduceRequest) kafkatest.Verdict {
		if slow.Add(-1) >= 0 {
			slept.Add(1)
			return kafkatest.Verdict{Delay: writeTimeout + 700*time.Millisecond} // then the broker appends it as usual
		}
		return kafkatest.Verdict{}
	})
	g := startGateProc(t, broker, "--kafka-write-timeout", writeTimeout.String())
	l := newLoader(g)
	for i := range scale(30, 150) {
		require.Equal(t, http.StatusAccepted, l.postPairs(1+i%3, 2))
	}
	waitCovered(t, g, l.pairs(), 120*time.Second)
	d := checkDelivery(t, g, broker, l.pairs())
	assert.Positive(t, d.KafkaDupes, "slow acks should have left copies in Kafka")

	dc := runDedupeConsumer(t, broker)
	proctest.Eventually(t, 60*time.Second, "the consumer applied every crossing", func() bool {
		eff, _ := dc.snapshot()
		return len(eff) >= len(d.Decided)
	})
	effects, copies := dc.snapshot()
	order := make([]string, len(d.Decided))
	for i, x := range d.Decided {
		order[i] = x.ID
	}
	lost, dupes, reordered := kafka.CheckDelivery(order, effects)
	report(t, faultRow{Scenario: "4 slow acks past write timeout", Trials: int(slept.Load()), Acked: 2 * d.Acked,
		Lost: d.Lost + lost, DupInEffect: d.DupInEffect + dupes + max(0, len(effects)-len(order)), Reordered: d.Reordered + reordered,
		KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("%d produce requests held %v past a %v timeout; %d copies in Kafka, absorbed by the consumer's seen-set (%d redeliveries skipped)",
			slept.Load(), writeTimeout+700*time.Millisecond, writeTimeout, d.KafkaDupes, copies)})
}

// Scenario 5: retriable refusals (NOT_LEADER_FOR_PARTITION) on many produce
// requests, several in a row, past the publisher's MaxAttempts (3): nothing
// is skipped or overtaken.
func TestFault05RetriablePastMaxAttempts(t *testing.T) {
	skipShort(t)
	rng := rand.New(rand.NewPCG(seedOf(t), 5))
	b := kafkatest.StartBroker(t)
	broker := b.Addrs()[0]
	var n, failed atomic.Int32
	var mu sync.Mutex
	// Requests 2 to 1+inARow are refused in a row (past MaxAttempts 3),
	// then about four in ten until the budget is spent.
	inARow, budget := int32(4), scale(8, 60)
	kafkatest.OnProduce(b, func(kafkatest.ProduceRequest) kafkatest.Verdict {
		i := n.Add(1)
		mu.Lock()
		fail := int(failed.Load()) < budget && (i >= 2 && i <= 1+inARow || i > 1+inARow && rng.IntN(10) < 4)
		mu.Unlock()
		if fail {
			failed.Add(1)
			return kafkatest.Verdict{Code: kafkatest.NotLeaderForPartition}
		}
		return kafkatest.Verdict{}
	})
	g := startGateProc(t, broker, "--kafka-write-timeout", "2s")
	l := newLoader(g)
	posts := scale(60, 600)
	var wg sync.WaitGroup
	for cl := range 3 {
		wg.Go(func() {
			for i := range posts / 3 {
				if l.postPairs(1+cl, 1+i%4) != http.StatusAccepted {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	require.Len(t, l.pairs(), func() int {
		k := 0
		for i := range posts / 3 {
			k += 1 + i%4
		}
		return 3 * k
	}())
	waitCovered(t, g, l.pairs(), 120*time.Second)
	d := checkDelivery(t, g, broker, l.pairs())
	assert.GreaterOrEqual(t, int(failed.Load()), int(inARow), "the refusals in a row happened")
	report(t, faultRow{Scenario: "5 retriable errors past MaxAttempts", Trials: int(failed.Load()), Acked: 2 * d.Acked,
		Lost: d.Lost, DupInEffect: d.DupInEffect, Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("%d of %d produce requests refused (%d in a row at the start, MaxAttempts 3); %d crossings delivered",
			failed.Load(), n.Load(), inARow, len(d.Decided))})
}

// Scenario 6: Kafka refuses one crossing for good (INVALID_RECORD). It is
// quarantined and alarmed; everything before and after it is delivered in
// order.
func TestFault06NonRetriableQuarantine(t *testing.T) {
	skipShort(t)
	b := kafkatest.StartBroker(t)
	broker := b.Addrs()[0]
	var refused atomic.Int32
	kafkatest.OnProduce(b, func(req kafkatest.ProduceRequest) kafkatest.Verdict {
		if req.Contains([]byte("POISON")) {
			refused.Add(1)
			return kafkatest.Verdict{Code: kafkatest.InvalidRecord}
		}
		return kafkatest.Verdict{}
	})
	g := startGateProc(t, broker)
	l := newLoader(g)
	for i := range 10 {
		require.Equal(t, http.StatusAccepted, l.postPairs(1, 2), "%d", i)
	}
	_, poison := pairEvents("IR-POISON", 9, 0, l.base)
	acks, code, err := g.post(poison)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, code)
	for i := range 10 {
		require.Equal(t, http.StatusAccepted, l.postPairs(1, 2), "%d", i)
	}
	proctest.Eventually(t, 60*time.Second, "all decided", func() bool { return len(g.crossings(t)) == len(l.pairs())+1 })
	proctest.Eventually(t, 60*time.Second, "outbox drained", func() bool { return g.status(t).OutboxDepth == 0 })
	var poisonX string
	for _, x := range g.crossings(t) {
		if slices.Contains(x.EventIDs, acks[1].EventID) {
			poisonX = x.ID
		}
	}
	require.NotEmpty(t, poisonX)
	d := checkDelivery(t, g, broker, l.pairs())
	// The refused crossing is the only one not on the topic; the checker
	// counted it lost, so take it out.
	onTopic := topicIDs(t, broker, zone.TopicCrossings, faultGate)
	assert.NotContains(t, onTopic, poisonX, "the refused crossing is not on the topic")
	d.Lost--
	var alarm *zone.Alarm
	proctest.Eventually(t, 60*time.Second, "quarantine alarm on Kafka", func() bool {
		for _, m := range kafkatest.ReadToEnd(t, broker, zone.TopicAlarms) {
			var e zone.Event
			require.NoError(t, json.Unmarshal(m.Value, &e))
			var a zone.Alarm
			require.NoError(t, json.Unmarshal(e.Data, &a))
			if a.Kind == zone.AlarmQuarantine {
				alarm = &a
				return true
			}
		}
		return false
	})
	assert.Contains(t, alarm.Message, "quarantined")
	report(t, faultRow{Scenario: "6 non-retriable refusal", Trials: 1, Acked: 2*d.Acked + 2, Lost: d.Lost, DupInEffect: d.DupInEffect,
		Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("crossing %s refused %d times → quarantined, alarm %q; %d others delivered in order", poisonX, refused.Load(), alarm.ID, d.Acked)})
}

// publishClearance writes a clearance event as the zone API would.
func publishClearance(t *testing.T, broker, evID string, cl zone.Clearance) {
	t.Helper()
	e, err := zone.NewEvent(evID, "bondgate/api", zone.TypeClearance, cl.ID, time.Now(), cl)
	require.NoError(t, err)
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	kafkatest.Produce(t, broker, zone.TopicClearances, kafkatest.Record{Key: []byte(cl.ID), Value: raw})
}

// engineEvents is a camera track reading tag, then an inbound beam pair.
func engineEvents(n int, tag string, at time.Time) []map[string]any {
	cam := map[string]any{"event_id": fmt.Sprintf("CAM-1-%06d", n), "device_id": "CAM-1", "gate": faultGate,
		"time": at.UTC().Format(time.RFC3339Nano), "type": "camera.detection", "object_class": "engine",
		"track_id": fmt.Sprintf("t-%d", n), "direction": "in", "snapshot": fmt.Sprintf("nvr://cam-1/t-%d.jpg", n),
		"reads": []map[string]any{{"kind": "stand_tag", "value": tag, "confidence": 0.97}}}
	_, pair := pairEvents("IR-E", 7, n, at.Add(200*time.Millisecond))
	return append([]map[string]any{cam}, pair...)
}

// Scenario 9: the gate's wall clock steps back and forward. Crossings keep
// the gate's order, and a clearance window closed by a forward step does not
// reopen when the clock steps back.
func TestFault09ClockJumps(t *testing.T) {
	skipShort(t)
	b := kafkatest.StartBroker(t)
	broker := b.Addrs()[0]
	var offset atomic.Int64
	toks, err := zone.ParseTokens(bytes.NewReader(fixtures.Tokens()))
	require.NoError(t, err)
	addr := proctest.FreeAddr(t)
	svc, err := gateway.New(gateway.Config{GateID: faultGate, Addr: addr, DataDir: t.TempDir(), Brokers: []string{broker},
		Tokens: toks, Window: 500 * time.Millisecond, Log: quiet(),
		Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	g := &gateProc{addr: addr, url: "http://" + addr, client: &http.Client{Timeout: 30 * time.Second}}
	proctest.WaitHTTP(t, g.url+"/healthz", 30*time.Second)

	now := time.Now()
	for i, tag := range []string{"STAND-1", "STAND-2"} {
		publishClearance(t, broker, fmt.Sprintf("ev-clock-%d", i), zone.Clearance{ID: "DECL-" + tag, Firm: "HNA-TECHNIC", Gate: faultGate,
			Direction: zone.In, Window: zone.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, ObjectKind: zone.KindEngine,
			Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: tag}}, State: zone.ClearanceActive, Version: 1, At: now})
	}
	proctest.Eventually(t, 60*time.Second, "both clearances cached", func() bool { return g.status(t).Clearances == 2 })

	l := newLoader(g)
	post := func(evs []map[string]any) {
		t.Helper()
		_, code, err := g.post(evs)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code)
	}
	post(engineEvents(1, "STAND-1", time.Now())) // in window, clock right: authorized
	jumps := []time.Duration{-3 * time.Hour, 2 * time.Hour, -90 * time.Minute, 0}
	for i, j := range jumps {
		offset.Store(int64(j))
		for range 5 {
			require.Equal(t, http.StatusAccepted, l.postPairs(1, 1))
		}
		if j == 2*time.Hour {
			proctest.Eventually(t, 30*time.Second, "the window closed on the gate clock", func() bool { return g.status(t).Clearances == 0 })
		}
		if i >= 1 { // the window closed at the forward step and stays closed
			// Two seconds apart, so that each is its own crossing: engines
			// with one stand tag a few milliseconds apart on one segment
			// are one engine seen twice (posts came that close once acks
			// stopped waiting on a bbolt commit).
			post(engineEvents(10+i, "STAND-2", time.Now().Add(time.Duration(2*i)*time.Second)))
		}
	}
	proctest.Eventually(t, 60*time.Second, "all decided", func() bool { return len(g.crossings(t)) == len(l.pairs())+4 })
	waitDrained(t, g, len(l.pairs())+4, 60*time.Second)
	decisions := map[string][]zone.Decision{}
	xs := g.crossings(t)
	for i, x := range xs {
		if i > 0 {
			assert.Greater(t, x.Seq, xs[i-1].Seq, "crossings keep the gate's order")
		}
		if x.Identity != nil {
			decisions[x.Identity.Value] = append(decisions[x.Identity.Value], x.Decision)
		}
	}
	assert.Equal(t, []zone.Decision{zone.DecisionAuthorized}, decisions["STAND-1"])
	assert.Equal(t, []zone.Decision{zone.DecisionUnauthorized, zone.DecisionUnauthorized, zone.DecisionUnauthorized}, decisions["STAND-2"],
		"a clearance window the clock passed must not reopen when the clock steps back")
	d := checkDelivery(t, g, broker, l.pairs())
	report(t, faultRow{Scenario: "9 clock jumps", Trials: len(jumps), Acked: 2*d.Acked + 9, Lost: d.Lost, DupInEffect: d.DupInEffect,
		Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("steps %v; STAND-2 after the forward step: %v", jumps, strings.Trim(fmt.Sprint(decisions["STAND-2"]), "[]"))})
}

// Scenario 10: kill -9 while the gate applies a burst of clearance updates.
// Each update is one transaction, so after every crash each cached
// clearance is one whole published version (identity, window and reason
// agree), never a mix; after the last restart every clearance reaches its
// final version.
func TestFault10CrashDuringClearanceRefresh(t *testing.T) {
	skipShort(t)
	rng := rand.New(rand.NewPCG(seedOf(t), 10))
	bp := startBrokerProc(t)
	const ids, versions = 60, 8
	// Only the last version's window is still open, so the gate's count of
	// usable clearances reaches ids once every last version is applied.
	base := time.Now().Truncate(time.Second).Add(30 * time.Minute)
	version := func(i, v int) zone.Clearance {
		return zone.Clearance{ID: fmt.Sprintf("DECL-%03d", i), Firm: "HNA-TECHNIC", Gate: faultGate, Direction: zone.In,
			Window: zone.Window{From: base.Add(-4 * time.Hour), To: base.Add(time.Duration(v-versions) * time.Hour)}, ObjectKind: zone.KindEngine,
			Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: fmt.Sprintf("TAG-%03d-v%d", i, v)}},
			State:      zone.ClearanceActive, Version: v, Reason: fmt.Sprintf("v%d", v), At: base}
	}
	var recs []kafkatest.Record
	for v := 1; v <= versions; v++ {
		for i := range ids {
			cl := version(i, v)
			e, err := zone.NewEvent(fmt.Sprintf("ev-%03d-%d", i, v), "bondgate/api", zone.TypeClearance, cl.ID, base, cl)
			require.NoError(t, err)
			raw, err := json.Marshal(e)
			require.NoError(t, err)
			recs = append(recs, kafkatest.Record{Key: []byte(cl.ID), Value: raw})
		}
	}
	kafkatest.Produce(t, bp.addr, zone.TopicClearances, recs...)

	g := startGateProc(t, bp.addr)
	path := g.data + "/gate-" + faultGate + ".db"
	mixed, partial := 0, 0
	inspect := func() (atFinal int) {
		t.Helper()
		bolttest.ForEach(t, path, "clearances", func(_, v []byte) {
			var cl zone.Clearance
			if err := json.Unmarshal(v, &cl); err != nil {
				mixed++
				return
			}
			var i int
			fmt.Sscanf(cl.ID, "DECL-%03d", &i)
			want := version(i, cl.Version)
			if cl.Reason != want.Reason || !cl.Window.To.Equal(want.Window.To) || len(cl.Identities) != 1 || cl.Identities[0] != want.Identities[0] {
				mixed++
			}
			if cl.Version == versions {
				atFinal++
			} else {
				partial++
			}
		})
		return atFinal
	}
	trials := scale(1, 10)
	for range trials {
		time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		g.p.Kill(t)
		inspect()
		g.start(t)
	}
	proctest.Eventually(t, 120*time.Second, "every clearance at its last version (the only usable one)", func() bool { return g.status(t).Clearances == ids })
	require.Equal(t, 0, g.p.Stop(t))
	partialSeen := partial
	final := inspect()
	out, err := proctest.Run(t, binary, "check", "--data", g.data)
	assert.NoError(t, err, out)
	assert.Equal(t, ids, final, "every clearance at its final version")
	report(t, faultRow{Scenario: "10 crash during clearance refresh", Trials: trials, Acked: ids * versions, DupInEffect: mixed,
		Note: fmt.Sprintf("%d clearance events; after the kills %d cached versions were older (whole), %d mixed; all %d final at the end; check ok",
			ids*versions, partialSeen, mixed, final)})
}
