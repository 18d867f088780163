package faults

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// seedOf returns the seed of a randomized test (BONDGATE_SEED to replay
// one) and logs it.
func seedOf(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BONDGATE_SEED"); s != "" {
		_, err := fmt.Sscan(s, &seed)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with BONDGATE_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with BONDGATE_SEED=%d", seed, seed)
		}
	})
	return seed
}

// Scenario 1: the same device event posted twice (in one batch, in two
// POSTs, and after a kill -9) is stored once and answered with one seq.
func TestFault01SameEventTwice(t *testing.T) {
	skipShort(t)
	g := startGateProc(t, proctest.FreeAddr(t))
	l := newLoader(g)
	_, evs := pairEvents("IR-F", 1, 0, l.base)
	twice := append(slices.Clone(evs), evs...)
	acks, code, err := g.post(twice)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, code)
	require.Len(t, acks, 4)
	assert.False(t, acks[0].Duplicate)
	assert.True(t, acks[2].Duplicate, "the copy in the same batch is a duplicate")
	assert.Equal(t, acks[0].Seq, acks[2].Seq)
	dup := 0
	check := func(when string) {
		again, code, err := g.post(evs)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code, when)
		for i, a := range again {
			if !assert.True(t, a.Duplicate, "%s: %s", when, a.EventID) || !assert.Equal(t, acks[i].Seq, a.Seq, when) {
				dup++
			}
		}
	}
	check("second POST")
	g.restart(t)
	check("after kill -9")
	assert.Len(t, g.storedEvents(t), 2, "two events stored, not four")
	proctest.Eventually(t, 30*time.Second, "the pair decided", func() bool { return len(g.crossings(t)) == 1 })
	report(t, faultRow{Scenario: "1 same event twice", Trials: 3, Acked: 2, DupInEffect: dup + len(g.crossings(t)) - 1,
		Note: "in one batch, in two POSTs, after kill -9"})
}

// Scenario 2: kill -9 at random moments under load, many seeded trials.
// Every acked event is present after the restart (re-posted: duplicate, same
// seq), every acked pair is decided once, and the crossings topic holds
// every decision in order.
func TestFault02Kill9UnderLoad(t *testing.T) {
	skipShort(t)
	rng := rand.New(rand.NewPCG(seedOf(t), 2))
	b := startBrokerProc(t)
	g := startGateProc(t, b.addr, "--kafka-write-timeout", "2s")
	l := newLoader(g)
	trials := scale(3, 30)
	lostAcks, moved := 0, 0
	for trial := range trials {
		stop := make(chan struct{})
		wg := l.run(4, 10*trial+1, stop)
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		g.p.Kill(t)
		close(stop)
		wg.Wait()
		g.start(t)
		lost, mv := l.repost(t)
		lostAcks += lost
		moved += mv
	}
	pairs := l.pairs()
	require.NotEmpty(t, pairs)
	waitCovered(t, g, pairs, 120*time.Second)
	d := checkDelivery(t, g, b.addr, pairs)
	report(t, faultRow{Scenario: "2 kill -9 under load", Trials: trials, Acked: 2 * len(pairs),
		Lost: lostAcks + d.Lost, DupInEffect: d.DupInEffect + moved + l.moved, Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("%d crossings decided and read back from Kafka", len(d.Decided))})
}

// latencies times n single-pair POSTs.
func latencies(t *testing.T, l *loader, seg, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		require.Equal(t, http.StatusAccepted, l.postPairs(seg, 1))
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

func quantile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// Scenario 3: the broker stopped for a while, then frozen with SIGSTOP
// (connections hang, nothing is refused). The gate answers at its normal
// latency (far below the Kafka write timeout it would wait on if ingest
// touched Kafka), decides locally, says the link is down, and drains the
// backlog in order once the broker is back.
func TestFault03BrokerDownAndFrozen(t *testing.T) {
	skipShort(t)
	const writeTimeout = 3 * time.Second
	b := startBrokerProc(t)
	g := startGateProc(t, b.addr, "--kafka-write-timeout", writeTimeout.String())
	l := newLoader(g)
	n := scale(20, 200)
	before := latencies(t, l, 1, n)
	waitCovered(t, g, l.pairs(), 60*time.Second)

	// Down: the broker process is gone.
	require.Equal(t, 0, b.p.Stop(t))
	down := latencies(t, l, 2, n)
	proctest.Eventually(t, 60*time.Second, "status says link down", func() bool { return g.status(t).Link == "down" })
	down = append(down, latencies(t, l, 2, n)...)
	proctest.Eventually(t, 30*time.Second, "decided locally while down", func() bool { return len(g.crossings(t)) == len(l.pairs()) })
	depthDown := g.status(t).OutboxDepth
	assert.Positive(t, depthDown, "the backlog waits in the outbox")
	b.start(t)
	waitCovered(t, g, l.pairs(), 90*time.Second)

	// Frozen: SIGSTOP, so connections hang.
	b.p.Signal(t, syscall.SIGSTOP)
	frozen := latencies(t, l, 3, n)
	proctest.Eventually(t, 90*time.Second, "status says link down while frozen", func() bool { return g.status(t).Link == "down" })
	frozen = append(frozen, latencies(t, l, 3, n)...)
	proctest.Eventually(t, 30*time.Second, "decided locally while frozen", func() bool { return len(g.crossings(t)) == len(l.pairs()) })
	depthFrozen := g.status(t).OutboxDepth
	assert.Positive(t, depthFrozen)
	b.p.Signal(t, syscall.SIGCONT)
	waitCovered(t, g, l.pairs(), 120*time.Second)

	for name, ds := range map[string][]time.Duration{"down": down, "frozen": frozen} {
		assert.Less(t, quantile(ds, 1), writeTimeout, "a POST while the broker is %s waited as if on Kafka", name)
	}
	d := checkDelivery(t, g, b.addr, l.pairs())
	report(t, faultRow{Scenario: "3 broker down / frozen", Trials: 2, Acked: 2 * d.Acked, Lost: d.Lost, DupInEffect: d.DupInEffect,
		Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("POST p50/max: normal %v/%v, down %v/%v, frozen %v/%v; backlog %d down, %d frozen",
			quantile(before, .5).Round(time.Millisecond), quantile(before, 1).Round(time.Millisecond),
			quantile(down, .5).Round(time.Millisecond), quantile(down, 1).Round(time.Millisecond),
			quantile(frozen, .5).Round(time.Millisecond), quantile(frozen, 1).Round(time.Millisecond), depthDown, depthFrozen)})
}

// Scenario 7: a gate whose store reaches its MaxSize answers 503, stores
// nothing of a refused batch, and still drains its outbox to Kafka.
func TestFault07StoreFull(t *testing.T) {
	skipShort(t)
	brokerAddr := proctest.FreeAddr(t) // the broker comes later: the outbox fills too
	g := startGateProc(t, brokerAddr, "--max-size", fmt.Sprint(4<<20))
	l := newLoader(g)
	var refused []string
	for i := 0; i < 100000 && refused == nil; i++ {
		l.mu.Lock()
		next := l.n[1]
		l.mu.Unlock()
		if code := l.postPairs(1, 20); code == http.StatusServiceUnavailable {
			for k := range 20 {
				p, _ := pairEvents("IR-F", 1, next+k, l.base)
				refused = append(refused, p.a, p.b)
			}
		} else {
			require.Equal(t, http.StatusAccepted, code)
		}
	}
	require.NotEmpty(t, refused, "the store never filled")
	ackedAtFull := len(l.pairs())
	// Nothing of the refused batch is stored: a re-post of one of its events
	// is answered as new... but only once room exists, so read the log instead.
	stored := map[string]bool{}
	for _, id := range g.storedEvents(t) {
		stored[id] = true
	}
	half := 0
	for _, id := range refused {
		if stored[id] {
			half++
		}
	}
	assert.Zero(t, half, "events of a refused batch were stored")
	lost, moved := 0, 0
	for _, p := range l.pairs() {
		if !stored[p.a] || !stored[p.b] {
			lost++
		}
	}
	// The drain still works on a full store.
	b := &brokerProc{addr: brokerAddr, data: t.TempDir()}
	b.start(t)
	waitCovered(t, g, l.pairs(), 120*time.Second)
	d := checkDelivery(t, g, b.addr, l.pairs())
	code := l.postPairs(1, 1)
	report(t, faultRow{Scenario: "7 store full (MaxSize 4 MiB)", Trials: 1, Acked: 2 * len(l.pairs()), Lost: lost + d.Lost,
		DupInEffect: d.DupInEffect + half + moved, Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("503 after %d pairs; refused batch: %d of %d events stored; drained %d crossings; POST after drain: %d",
			ackedAtFull, half, len(refused), len(d.Decided), code)})
}

// Scenario 8: a corrupt or truncated database file is detected, moved
// aside, alarmed, and the service starts anyway: gate and API.
func TestFault08CorruptFile(t *testing.T) {
	skipShort(t)
	b := startBrokerProc(t)
	cases := 0
	for _, damage := range []string{"garbage", "truncated"} {
		g := startGateProc(t, b.addr)
		path := filepath.Join(g.data, "gate-"+faultGate+".db")
		l := newLoader(g)
		for range 50 {
			require.Equal(t, http.StatusAccepted, l.postPairs(1, 20))
		}
		require.Equal(t, 0, g.p.Stop(t))
		switch damage {
		case "garbage":
			require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600))
		case "truncated":
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/3))
		}
		out, err := proctest.Run(t, binary, "check", "--data", g.data)
		assert.Error(t, err, "bondgate check must fail on a %s file", damage)
		assert.Contains(t, out, path, "check names the damaged file")
		assert.Contains(t, out, "CORRUPT")

		g.start(t)
		moved, _ := filepath.Glob(path + ".corrupt-*")
		assert.Len(t, moved, 1, "%s: the damaged file is moved aside", damage)
		assert.Equal(t, http.StatusAccepted, l.postPairs(2, 1), "the gate serves on a fresh file")
		proctest.Eventually(t, 60*time.Second, "store_corrupt alarm on Kafka", func() bool {
			return slices.ContainsFunc(topicIDs(t, b.addr, zone.TopicAlarms, faultGate), func(id string) bool {
				return strings.Contains(id, "store-corrupt-"+filepath.Base(moved[0]))
			})
		})
		cases++
	}

	apiAddr, data := proctest.FreeAddr(t), t.TempDir()
	path := filepath.Join(data, "api.db")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("garbage ", 8192)), 0o600))
	api := proctest.Start(t, binary, nil, "api", "--addr", apiAddr, "--data", data, "--brokers", b.addr, "--tokens", proctest.WriteTokens(t))
	proctest.WaitHTTP(t, "http://"+apiAddr+"/healthz", 30*time.Second)
	moved, _ := filepath.Glob(path + ".corrupt-*")
	assert.Len(t, moved, 1, "the API's damaged file is moved aside")
	code, d := proctest.Call(t, "POST", "http://"+apiAddr+"/v1/predeclarations", "mro-hna", proctest.EngineBody())
	assert.Equal(t, http.StatusCreated, code, "the API serves on a fresh file: %v", d)
	assert.Contains(t, api.Output(), "corrupt", "the API says so in its log")
	code, alarms := proctest.Call(t, "GET", "http://"+apiAddr+"/v1/alarms?state=open", "officer-1", "")
	require.Equal(t, http.StatusOK, code)
	found := false
	for _, it := range alarms["items"].([]any) {
		a := it.(map[string]any)
		found = found || (a["kind"] == string(zone.AlarmStoreCorrupt) && strings.Contains(a["message"].(string), filepath.Base(moved[0])))
	}
	assert.True(t, found, "an open store_corrupt alarm names the moved file: %v", alarms)
	cases++
	report(t, faultRow{Scenario: "8 corrupt / truncated file", Trials: cases, Note: "gate garbage + truncated (alarm on Kafka), API garbage (open alarm); check exits 1 naming the file"})
}

// Scenario 11: a gate restarted (after kill -9) on a large backlog: events
// not yet decided and an outbox of undelivered crossings and alarms. It
// starts fast, with bounded memory, resumes at the head of its log, and
// the backlog reaches Kafka complete and in order.
func TestFault11LargeBacklog(t *testing.T) {
	skipShort(t)
	total := scale(60_000, 1_000_000)
	brokerAddr := proctest.FreeAddr(t)
	g := startGateProc(t, brokerAddr)
	l := newLoader(g)
	// Each POST: 900 heartbeats from 9 devices and 50 beam pairs.
	const perBatch = 1000
	batches := total / perBatch
	sem := make(chan struct{}, 4)
	errs := make(chan error, batches)
	postStart := time.Now()
	for i := range batches {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			seg := 1 + i%4
			var batch []map[string]any
			l.mu.Lock()
			first := l.n[seg]
			l.n[seg] = first + 50
			l.mu.Unlock()
			var ps []pair
			for k := range 50 {
				p, evs := pairEvents("IR-F", seg, first+k, l.base.Add(time.Duration(first+k)*time.Second))
				ps = append(ps, p)
				batch = append(batch, evs...)
			}
			for k := range perBatch - 100 {
				dev := fmt.Sprintf("HB-%d", k%9)
				batch = append(batch, heartbeat(dev, i*perBatch+k, l.base.Add(time.Duration(i)*time.Second)))
			}
			for k := range batch {
				batch[k]["gate"] = faultGate
			}
			_, code, err := g.post(batch)
			if err == nil && code != http.StatusAccepted {
				err = fmt.Errorf("batch %d: status %d", i, code)
			}
			if err == nil {
				l.mu.Lock()
				l.acked = append(l.acked, ps...)
				l.mu.Unlock()
			}
			errs <- err
		}()
	}
	for range batches {
		require.NoError(t, <-errs)
	}
	ingest := time.Since(postStart)
	peakBefore, anonBefore := memory(g.p)
	stBefore := g.status(t)
	decidedBefore := len(g.crossings(t))
	g.p.Kill(t)

	restart := time.Now()
	g.start(t) // waits for /healthz
	startup := time.Since(restart)
	stopSampling := anonSampler(g.p)
	acks, code, err := g.post([]map[string]any{heartbeat("HB-NEW", 0, time.Now())})
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, uint64(total)+1, acks[0].Seq, "a new event goes right after the head")

	b := &brokerProc{addr: brokerAddr, data: t.TempDir()}
	drain := time.Now()
	b.start(t)
	waitCovered(t, g, l.pairs(), 15*time.Minute)
	drained := time.Since(drain)
	peakAnon := stopSampling()
	peak, _ := memory(g.p)
	fi, err := os.Stat(filepath.Join(g.data, "gate-"+faultGate+".db"))
	require.NoError(t, err)
	d := checkDelivery(t, g, b.addr, l.pairs())
	assert.Less(t, peakAnon, int64(256<<20), "heap after restart on the backlog must not grow with it")
	report(t, faultRow{Scenario: fmt.Sprintf("11 restart on %d-event backlog", total), Trials: 1, Acked: total, Lost: d.Lost,
		DupInEffect: d.DupInEffect, Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("ingest %v (%.0f ev/s); backlog at kill: outbox %d, %d of %d crossings decided; restart to /healthz %v; drain %v; before kill: VmHWM %d MiB, RssAnon %d MiB; after restart through the drain: peak RssAnon %d MiB, VmHWM %d MiB (mmapped %d MiB db file included)",
			ingest.Round(time.Millisecond), float64(total)/ingest.Seconds(), stBefore.OutboxDepth, decidedBefore, len(l.pairs()),
			startup.Round(time.Millisecond), drained.Round(time.Second), peakBefore>>20, anonBefore>>20, peakAnon>>20, peak>>20, fi.Size()>>20)})
}

// Scenario 12: SIGTERM while the broker is frozen: the gate exits 0 within
// its shutdown bound, and nothing is lost: the backlog drains after the
// broker thaws and the gate restarts.
func TestFault12SigtermSlowBroker(t *testing.T) {
	skipShort(t)
	b := startBrokerProc(t)
	g := startGateProc(t, b.addr)
	l := newLoader(g)
	trials := scale(1, 3)
	var exits []time.Duration
	for trial := range trials {
		for range 5 {
			require.Equal(t, http.StatusAccepted, l.postPairs(1+trial, 2))
		}
		waitCovered(t, g, l.pairs(), 60*time.Second)
		b.p.Signal(t, syscall.SIGSTOP)
		stop := make(chan struct{})
		wg := l.run(2, 10+trial*2, stop)
		time.Sleep(500 * time.Millisecond)
		close(stop)
		wg.Wait()
		proctest.Eventually(t, 30*time.Second, "decided locally", func() bool { return len(g.crossings(t)) == len(l.pairs()) })
		began := time.Now()
		assert.Equal(t, 0, g.p.Stop(t), "exit code after SIGTERM with a frozen broker")
		exits = append(exits, time.Since(began))
		b.p.Signal(t, syscall.SIGCONT)
		g.start(t)
	}
	waitCovered(t, g, l.pairs(), 120*time.Second)
	d := checkDelivery(t, g, b.addr, l.pairs())
	slices.Sort(exits)
	assert.Less(t, exits[len(exits)-1], 20*time.Second, "shutdown is bounded")
	report(t, faultRow{Scenario: "12 SIGTERM, frozen broker", Trials: trials, Acked: 2 * d.Acked, Lost: d.Lost,
		DupInEffect: d.DupInEffect, Reordered: d.Reordered, KafkaDupes: d.KafkaDupes,
		Note: fmt.Sprintf("exit 0 after SIGTERM in %v (slowest), gate bound: one 5 s drain (outbox flush and writer close, beside the consumer's close)", exits[len(exits)-1].Round(time.Millisecond))})
}
