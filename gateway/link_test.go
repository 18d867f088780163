package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// freeAddr returns a loopback address nobody listens on (yet).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func startBroker(t testing.TB, addr string) *kafka.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: addr}, quietLog())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// readTopic reads every message of topic, partition by partition, to the
// end the broker reports now.
func readTopic(t testing.TB, addr, topic string) []kafkatest.Record {
	t.Helper()
	return kafkatest.ReadToEnd(t, addr, topic)
}

// eventIDs decodes the CloudEvents IDs of messages, in order.
func eventIDs(t testing.TB, msgs []kafkatest.Record) []string {
	t.Helper()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		var e zone.Event
		require.NoError(t, json.Unmarshal(m.Value, &e))
		ids[i] = e.ID
	}
	return ids
}

// crossAt posts an inbound beam pair on segment seg at t (A then B).
func crossPair(prefix string, seg int, at time.Time) []any {
	return []any{
		ev(fmt.Sprintf("%s-A", prefix), "IR-1", "infrared.break", at, map[string]any{"beam": "A", "segment": seg}),
		ev(fmt.Sprintf("%s-B", prefix), "IR-1", "infrared.break", at.Add(300*time.Millisecond), map[string]any{"beam": "B", "segment": seg}),
	}
}

func TestLinkDownDecidesLocallyThenDrainsInOrder(t *testing.T) {
	addr := freeAddr(t)
	g := startGate(t, t.TempDir(), func(c *Config) {
		c.Brokers = []string{addr}
		c.Window = 500 * time.Millisecond
	})
	now := time.Now()
	// Five crossings nobody identified: each becomes an unidentified
	// crossing with an alarm once the window passed on the gate clock.
	const n = 5
	for i := 0; i < n; i++ {
		st, _, raw := g.post(tokGate, crossPair(fmt.Sprintf("IR-1-%03d", i), 1, now.Add(-5*time.Second+time.Duration(i)*700*time.Millisecond)))
		require.Equal(t, http.StatusAccepted, st, string(raw))
	}
	eventually(t, "all crossings decided locally", func() bool { return len(g.crossings(0)) == n })
	xs := g.crossings(0)
	for i, x := range xs {
		assert.Equal(t, uint64(i+1), x.Seq)
		assert.Equal(t, zone.DecisionUnidentified, x.Decision)
		assert.Equal(t, zone.In, x.Direction)
		assert.Nil(t, x.Identity)
	}
	st := g.status()
	assert.Equal(t, "down", st.Link)
	assert.Equal(t, 2*n, st.OutboxDepth, "a crossing and an alarm each, waiting")
	code, body := g.do(http.MethodGet, "/readyz", "", nil)
	assert.Equal(t, http.StatusOK, code, "a gate with no link still serves")
	assert.Contains(t, string(body), `"link":"down"`)

	// Still accepting while down.
	st2, _, _ := g.post(tokGate, heartbeat("IR-1-hb-1", now))
	assert.Equal(t, http.StatusAccepted, st2)

	// The broker comes up on the address the gate was given: the backlog drains.
	startBroker(t, addr)
	eventually(t, "outbox drained", func() bool { s := g.status(); return s.OutboxDepth == 0 && s.Link == "up" })
	assert.NotZero(t, g.status().LastForwardedSeq)

	msgs := readTopic(t, addr, zone.TopicCrossings)
	var acked []string
	for _, x := range xs {
		acked = append(acked, x.ID)
	}
	for _, m := range msgs {
		assert.Equal(t, testGate, string(m.Key), "keyed by gate")
	}
	lost, dupes, reordered := kafka.CheckDelivery(acked, eventIDs(t, msgs))
	assert.Zero(t, lost, "lost")
	assert.Zero(t, reordered, "reordered")
	t.Logf("crossings topic: %d messages, %d duplicates", len(msgs), dupes)

	// The records on the topic are the crossings served locally.
	var first zone.Event
	require.NoError(t, json.Unmarshal(msgs[0].Value, &first))
	assert.Equal(t, zone.TypeCrossing, first.Type)
	var x zone.Crossing
	require.NoError(t, json.Unmarshal(first.Data, &x))
	assert.Equal(t, xs[0].ID, x.ID)
	assert.Equal(t, xs[0].Seq, x.Seq)

	alarms := readTopic(t, addr, zone.TopicAlarms)
	alarmIDs := eventIDs(t, alarms)
	sort.Strings(alarmIDs)
	assert.Len(t, alarmIDs, n)
	for _, m := range alarms {
		var e zone.Event
		require.NoError(t, json.Unmarshal(m.Value, &e))
		var a zone.Alarm
		require.NoError(t, json.Unmarshal(e.Data, &a))
		assert.Equal(t, zone.AlarmUnidentified, a.Kind)
		assert.NotEmpty(t, a.CrossingID)
	}
}

// publishClearance writes a clearance event to the clearances topic as the
// zone API would.
func publishClearance(t testing.TB, addr, evID string, cl zone.Clearance) {
	t.Helper()
	e, err := zone.NewEvent(evID, "bondgate/api", zone.TypeClearance, cl.ID, time.Now(), cl)
	require.NoError(t, err)
	raw, err := json.Marshal(e)
	require.NoError(t, err)
	kafkatest.Produce(t, addr, zone.TopicClearances, kafkatest.Record{Key: []byte(cl.ID), Value: raw})
}

func engineClearance(id, tag string, version int, state zone.ClearanceState, now time.Time) zone.Clearance {
	return zone.Clearance{ID: id, Firm: "HNA-TECHNIC", Gate: testGate, Direction: zone.In,
		Window: zone.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, ObjectKind: zone.KindEngine,
		Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: tag}}, State: state, Version: version, At: now}
}

// engineCrossing is a camera track reading tag, then an inbound beam pair.
func engineCrossing(n int, tag string, at time.Time) []any {
	cam := ev(fmt.Sprintf("CAM-1-%06d", n), "CAM-1", "camera.detection", at, map[string]any{"object_class": "engine",
		"track_id": fmt.Sprintf("t-%d", n), "direction": "in", "snapshot": fmt.Sprintf("nvr://cam-1/t-%d.jpg", n),
		"reads": []map[string]any{{"kind": "stand_tag", "value": tag, "confidence": 0.97}}})
	return append([]any{cam}, crossPair(fmt.Sprintf("IR-1-%06d", n), 1, at.Add(200*time.Millisecond))...)
}

func TestClearanceFromKafkaAuthorizesACrossingOnce(t *testing.T) {
	addr := freeAddr(t)
	startBroker(t, addr)
	dir := t.TempDir()
	mod := func(c *Config) { c.Brokers = []string{addr}; c.Window = 500 * time.Millisecond }
	g := startGate(t, dir, mod)
	now := time.Now().UTC()

	// Another gate's clearance is ignored; ours is cached.
	other := engineClearance("D-OTHER", "STAND-0099", 2, zone.ClearanceActive, now)
	other.Gate = "G-MAIN"
	publishClearance(t, addr, "ce-0", other)
	publishClearance(t, addr, "ce-1", engineClearance("D-GENX", "STAND-0042", 2, zone.ClearanceActive, now))
	eventually(t, "the clearance reached the cache", func() bool { return g.status().Clearances == 1 })

	st, _, raw := g.post(tokGate, engineCrossing(1, "STAND-0042", now.Add(-3*time.Second)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "crossing decided", func() bool { return len(g.crossings(0)) == 1 })
	x := g.crossings(0)[0]
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, "D-GENX", x.ClearanceID)
	require.NotNil(t, x.Identity)
	assert.Equal(t, zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-0042"}, *x.Identity)
	assert.Equal(t, zone.In, x.Direction)
	assert.Equal(t, 0, g.status().Clearances, "one move, one crossing: the clearance is used")

	// The same stand crossing again is not cleared any more.
	st, _, _ = g.post(tokGate, engineCrossing(2, "STAND-0042", now.Add(-1*time.Second)))
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "second crossing decided", func() bool { return len(g.crossings(0)) == 2 })
	assert.Equal(t, zone.DecisionUnauthorized, g.crossings(1)[0].Decision)

	// Both crossings and the alarm of the second reach Kafka, the first
	// carrying its clearance.
	eventually(t, "outbox drained", func() bool { return g.status().OutboxDepth == 0 })
	msgs := readTopic(t, addr, zone.TopicCrossings)
	require.Len(t, msgs, 2)
	var e zone.Event
	require.NoError(t, json.Unmarshal(msgs[0].Value, &e))
	var pub zone.Crossing
	require.NoError(t, json.Unmarshal(e.Data, &pub))
	assert.Equal(t, x.ID, pub.ID)
	assert.Equal(t, "D-GENX", pub.ClearanceID)
	assert.Equal(t, zone.DecisionAuthorized, pub.Decision)
	alarms := readTopic(t, addr, zone.TopicAlarms)
	require.Len(t, alarms, 1)

	// A revocation (newer version) empties the usable set; a stale event
	// (older version) arriving later does not bring the clearance back.
	publishClearance(t, addr, "ce-2", engineClearance("D-LEAP", "STAND-0007", 3, zone.ClearanceActive, now))
	eventually(t, "second clearance cached", func() bool { return g.status().Clearances == 1 })
	publishClearance(t, addr, "ce-3", engineClearance("D-LEAP", "STAND-0007", 4, zone.ClearanceRevoked, now))
	publishClearance(t, addr, "ce-4", engineClearance("D-LEAP", "STAND-0007", 3, zone.ClearanceActive, now))
	publishClearance(t, addr, "ce-5", engineClearance("D-MARK", "STAND-0008", 2, zone.ClearanceActive, now))
	eventually(t, "marker clearance cached", func() bool {
		_, _, ok := g.svc.book.Get("D-MARK")
		return ok
	})
	leap, _, _ := g.svc.book.Get("D-LEAP")
	assert.Equal(t, zone.ClearanceRevoked, leap.State)
	assert.Equal(t, 4, leap.Version)
	assert.Equal(t, 1, g.status().Clearances, "only D-MARK is usable")

	// The cache is on disk: a restart with no link still holds it.
	g.stop()
	g2 := startGate(t, dir, func(c *Config) { c.Window = 500 * time.Millisecond })
	assert.Equal(t, 1, g2.status().Clearances)
	assert.Len(t, g2.crossings(0), 2, "decisions survive the restart, none repeated")
	st, _, _ = g2.post(tokGate, engineCrossing(3, "STAND-0008", now))
	require.Equal(t, http.StatusAccepted, st)
	eventually(t, "offline crossing decided", func() bool { return len(g2.crossings(2)) == 1 })
	assert.Equal(t, zone.DecisionAuthorized, g2.crossings(2)[0].Decision)
	assert.Equal(t, "D-MARK", g2.crossings(2)[0].ClearanceID)
	assert.Equal(t, "down", g2.status().Link)
}

func TestMessageKafkaRefusesIsQuarantinedWithAnAlarm(t *testing.T) {
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: addr, BrokerConfigs: map[string]string{"message.max.bytes": "1100"}}, quietLog())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	g := startGate(t, t.TempDir(), func(c *Config) { c.Brokers = []string{addr} })
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-1", engineClearance("D-BIG", "STAND-0042", 2, zone.ClearanceActive, now))

	// An authorized crossing whose record (long IDs, long snapshot
	// reference) is larger than the broker takes.
	long := func(s string) string { return s + "-" + strings.Repeat("x", 100) }
	cam := ev(long("CAM-1"), "CAM-1", "camera.detection", now, map[string]any{"object_class": "engine", "track_id": "t-1",
		"direction": "in", "snapshot": "nvr://" + strings.Repeat("s", 480),
		"reads": []map[string]any{{"kind": "stand_tag", "value": "STAND-0042", "confidence": 0.97}}})
	a := ev(long("IR-1-A"), "IR-1", "infrared.break", now, map[string]any{"beam": "A", "segment": 1})
	bb := ev(long("IR-1-B"), "IR-1", "infrared.break", now.Add(300*time.Millisecond), map[string]any{"beam": "B", "segment": 1})
	st, _, raw := g.post(tokGate, []any{cam, a, bb})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "crossing decided", func() bool { return len(g.crossings(0)) == 1 })
	assert.Equal(t, zone.DecisionAuthorized, g.crossings(0)[0].Decision)

	// The crossing cannot be delivered: it goes to quarantine, nothing is
	// stuck behind it, and the alarm about it reaches Kafka.
	eventually(t, "outbox drained past the refused message", func() bool { return g.status().OutboxDepth == 0 })
	q, err := g.svc.outbox.Quarantined(context.Background())
	require.NoError(t, err)
	require.Len(t, q, 1)
	assert.Equal(t, zone.TopicCrossings, q[0].Message.Topic)
	eventually(t, "quarantine alarm on the alarms topic", func() bool { return len(readTopic(t, addr, zone.TopicAlarms)) > 0 })
	var e zone.Event
	require.NoError(t, json.Unmarshal(readTopic(t, addr, zone.TopicAlarms)[0].Value, &e))
	var al zone.Alarm
	require.NoError(t, json.Unmarshal(e.Data, &al))
	assert.Equal(t, zone.AlarmQuarantine, al.Kind)
	assert.Equal(t, testGate, al.Gate)
	assert.Equal(t, zone.TopicCrossings, al.Params["topic"])
	assert.Equal(t, strconv.FormatUint(q[0].Message.Seq, 10), al.Params["seq"])
}
