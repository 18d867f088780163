package faults

// Harness of the fault suite: real bondgate processes, load, and a
// Jepsen-style delivery checker whose rows TestMain sums up.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

const faultGate = "G-MRO-1"

// longFaults reports whether the long fault suite was asked for.
func longFaults() bool { return os.Getenv("BONDGATE_FAULTS") == "long" }

// scale picks the fast or the long figure.
func scale(fast, long int) int {
	if longFaults() {
		return long
	}
	return fast
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault suite: starts real processes")
	}
}

// faultRow is one line of the summary table.
type faultRow struct {
	Scenario                     string
	Trials, Acked                int
	Lost, DupInEffect, Reordered int
	KafkaDupes                   int
	Note                         string
}

var faultRows struct {
	sync.Mutex
	rows []faultRow
}

// report adds a row to the summary and fails the test if anything was lost,
// took effect twice or came out of order.
func report(t *testing.T, r faultRow) {
	t.Helper()
	t.Logf("%s: trials %d, acked %d, lost %d, duplicated in effect %d, reordered %d, copies in Kafka %d; %s",
		r.Scenario, r.Trials, r.Acked, r.Lost, r.DupInEffect, r.Reordered, r.KafkaDupes, r.Note)
	assert.Zero(t, r.Lost, "%s: lost", r.Scenario)
	assert.Zero(t, r.DupInEffect, "%s: duplicated in effect", r.Scenario)
	assert.Zero(t, r.Reordered, "%s: reordered", r.Scenario)
	faultRows.Lock()
	faultRows.rows = append(faultRows.rows, r)
	faultRows.Unlock()
}

// --- processes ---------------------------------------------------------------

// memory reads a live process's peak resident set (VmHWM, which counts
// the pages of the mmapped bbolt file it touched) and its anonymous
// resident memory now (RssAnon: heap and stacks), in bytes.
func memory(p *proctest.Proc) (peak, anon int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	kb := func(rest string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return n << 10
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			peak = kb(rest)
		}
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			anon = kb(rest)
		}
	}
	return peak, anon
}

// anonSampler records the highest RssAnon of p until stopped.
func anonSampler(p *proctest.Proc) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if _, a := memory(p); a > peak.Load() {
				peak.Store(a)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() int64 { close(done); <-finished; return peak.Load() }
}

// brokerProc is `bondgate broker --data DIR`, restartable on the same address.
type brokerProc struct {
	addr, data string
	p          *proctest.Proc
}

func startBrokerProc(t *testing.T) *brokerProc {
	t.Helper()
	b := &brokerProc{addr: proctest.FreeAddr(t), data: t.TempDir()}
	b.start(t)
	return b
}

func (b *brokerProc) start(t *testing.T) {
	t.Helper()
	b.p = proctest.Start(t, binary, nil, "broker", "--addr", b.addr, "--data", b.data)
	proctest.Eventually(t, 30*time.Second, "broker answers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return kafka.Ping(ctx, []string{b.addr}) == nil
	})
}

// gateProc is `bondgate gate` for G-MRO-1, restartable on its data folder.
type gateProc struct {
	addr, url, data, tokens string
	args                    []string
	p                       *proctest.Proc
	client                  *http.Client
}

// startGateProc starts a gate on broker (an address; it need not answer).
// The correlation window is short so unidentified crossings are decided
// soon; per-device rate limits are off, since the suite is the only client.
func startGateProc(t *testing.T, broker string, extra ...string) *gateProc {
	t.Helper()
	g := &gateProc{addr: proctest.FreeAddr(t), data: t.TempDir(), tokens: proctest.WriteTokens(t), client: &http.Client{Timeout: 30 * time.Second}}
	g.args = append([]string{"gate", "--id", faultGate, "--addr", g.addr, "--data", g.data, "--tokens", g.tokens,
		"--brokers", broker, "--window", "500ms"}, extra...)
	g.url = "http://" + g.addr
	g.start(t)
	return g
}

func (g *gateProc) start(t *testing.T) {
	t.Helper()
	g.p = proctest.Start(t, binary, []string{"BONDGATE_DEVICE_RATE=-1"}, g.args...)
	proctest.WaitHTTP(t, g.url+"/healthz", 30*time.Second)
}

func (g *gateProc) restart(t *testing.T) {
	t.Helper()
	g.p.Kill(t)
	g.start(t)
}

func (g *gateProc) post(events []map[string]any) ([]accepted, int, error) {
	return postEvents(g.client, g.url, events)
}

func (g *gateProc) status(t *testing.T) gateStatus {
	t.Helper()
	var st gateStatus
	getJSON(t, g.client, g.url+"/v1/status", "officer-1", &st)
	return st
}

// crossings pages through GET /v1/crossings: every decided crossing, in seq order.
func (g *gateProc) crossings(t *testing.T) []zone.Crossing {
	t.Helper()
	var all []zone.Crossing
	var since uint64
	for {
		var page struct {
			Items []zone.Crossing `json:"items"`
		}
		getJSON(t, g.client, fmt.Sprintf("%s/v1/crossings?since_seq=%d&limit=1000", g.url, since), "officer-1", &page)
		all = append(all, page.Items...)
		if len(page.Items) < 1000 {
			return all
		}
		since = page.Items[len(page.Items)-1].Seq
	}
}

// storedEvents pages through GET /v1/events: the IDs of every stored event.
func (g *gateProc) storedEvents(t *testing.T) []string {
	t.Helper()
	var ids []string
	var since uint64
	for {
		var page struct {
			Items []struct {
				Seq   uint64 `json:"seq"`
				Event struct {
					EventID string `json:"event_id"`
				} `json:"event"`
			} `json:"items"`
		}
		getJSON(t, g.client, fmt.Sprintf("%s/v1/events?since_seq=%d&limit=1000", g.url, since), "officer-1", &page)
		for _, it := range page.Items {
			ids = append(ids, it.Event.EventID)
			since = it.Seq
		}
		if len(page.Items) < 1000 {
			return ids
		}
	}
}

type gateStatus struct {
	Gate          string `json:"gate"`
	Link          string `json:"link"`
	OutboxDepth   int    `json:"outbox_depth"`
	Clearances    int    `json:"clearances"`
	LastForwarded uint64 `json:"last_forwarded_seq"`
}

func getJSON(t *testing.T, c *http.Client, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// --- load ---------------------------------------------------------------------

// pair is one infrared crossing posted as a beam pair (A then B) in one POST.
type pair struct{ a, b string }

func (p pair) key() string { return p.a }

// pairEvents is an inbound beam pair on seg at at: one crossing nobody identifies.
func pairEvents(device string, seg, n int, at time.Time) (pair, []map[string]any) {
	mk := func(beam string, t time.Time) map[string]any {
		return map[string]any{"event_id": fmt.Sprintf("%s-S%d-%07d-%s", device, seg, n, beam), "device_id": device, "gate": faultGate,
			"time": t.UTC().Format(time.RFC3339Nano), "type": "infrared.break", "beam": beam, "segment": seg}
	}
	a, b := mk("A", at), mk("B", at.Add(300*time.Millisecond))
	return pair{a["event_id"].(string), b["event_id"].(string)}, []map[string]any{a, b}
}

// loader posts beam pairs from several clients, each on its own segment,
// and records what the gate acknowledged.
type loader struct {
	g    *gateProc
	base time.Time

	mu     sync.Mutex
	acked  []pair
	events map[string]map[string]any // event ID → body, for re-posting
	seqs   map[string]uint64         // event ID → first seq
	n      map[int]int               // segment → next pair number
	moved  int                       // events answered with a seq other than their first
}

func newLoader(g *gateProc) *loader {
	return &loader{g: g, base: time.Now().Add(-48 * time.Hour), events: map[string]map[string]any{},
		seqs: map[string]uint64{}, n: map[int]int{}}
}

// postPairs posts k pairs on seg in one POST; it returns the status (0 on a
// transport error). Acked pairs are recorded.
func (l *loader) postPairs(seg, k int) int {
	l.mu.Lock()
	first := l.n[seg]
	l.n[seg] = first + k
	l.mu.Unlock()
	var batch []map[string]any
	var ps []pair
	for i := range k {
		n := first + i
		p, evs := pairEvents("IR-F", seg, n, l.base.Add(time.Duration(n)*time.Second))
		ps = append(ps, p)
		batch = append(batch, evs...)
	}
	acks, code, err := l.g.post(batch)
	if err != nil {
		return 0
	}
	if code != http.StatusAccepted {
		return code
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, a := range acks {
		if prev, ok := l.seqs[a.EventID]; ok {
			if prev != a.Seq {
				l.moved++
			}
			continue
		}
		l.seqs[a.EventID] = a.Seq
		l.events[a.EventID] = batch[i]
	}
	l.acked = append(l.acked, ps...)
	return code
}

// run posts from clients goroutines on segments seg0.. until stop closes.
func (l *loader) run(clients, seg0 int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if code := l.postPairs(seg0+c, 1+i%4); code != http.StatusAccepted {
					if code == 0 {
						return // the process is gone
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return &wg
}

// repost sends every acked event again: each must come back a duplicate
// with its first seq. It returns the events that did not (lost acks) and
// those answered with another seq.
func (l *loader) repost(t *testing.T) (lost, moved int) {
	t.Helper()
	l.mu.Lock()
	ids := make([]string, 0, len(l.events))
	for id := range l.events {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	sort.Strings(ids)
	for i := 0; i < len(ids); i += 1000 {
		batch := make([]map[string]any, 0, 1000)
		for _, id := range ids[i:min(i+1000, len(ids))] {
			batch = append(batch, l.events[id])
		}
		acks, code, err := l.g.post(batch)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, code)
		for _, a := range acks {
			switch {
			case !a.Duplicate:
				lost++
			case a.Seq != l.seqs[a.EventID]:
				moved++
			}
		}
	}
	return lost, moved
}

func (l *loader) pairs() []pair {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pair(nil), l.acked...)
}

// --- checker -------------------------------------------------------------------

// delivery is what the checker found.
type delivery struct {
	Acked, Lost, DupInEffect, Reordered, KafkaDupes int
	Decided                                         []zone.Crossing
}

// waitDrained waits until at least pairs crossings are decided and the
// outbox is empty with the link up. Use waitCovered when a crash may have
// stored pairs that were never acked.
func waitDrained(t *testing.T, g *gateProc, pairs int, within time.Duration) {
	t.Helper()
	proctest.Eventually(t, within, fmt.Sprintf("%d crossings decided and the outbox drained", pairs), func() bool {
		st := g.status(t)
		return st.Link == "up" && st.OutboxDepth == 0 && len(g.crossings(t)) >= pairs
	})
}

// waitCovered waits until every acked pair is decided and the outbox is
// empty with the link up.
func waitCovered(t *testing.T, g *gateProc, acked []pair, within time.Duration) {
	t.Helper()
	proctest.Eventually(t, within, fmt.Sprintf("%d acked pairs decided and the outbox drained", len(acked)), func() bool {
		// The cheap look first: a long crossing list is fetched only once
		// the outbox looks drained.
		if st := g.status(t); st.Link != "up" || st.OutboxDepth != 0 {
			time.Sleep(400 * time.Millisecond)
			return false
		}
		decided := map[string]bool{}
		for _, x := range g.crossings(t) {
			for _, id := range x.EventIDs {
				decided[id] = true
			}
		}
		for _, p := range acked {
			if !decided[p.a] {
				return false
			}
		}
		st := g.status(t)
		return st.Link == "up" && st.OutboxDepth == 0
	})
}

// checkDelivery is the Jepsen-style check of one gate: every acked pair
// must be decided into exactly one crossing (lost / duplicated in effect),
// and the crossings topic, read to the end and de-duplicated by event ID,
// must hold every decided crossing in the gate's order.
func checkDelivery(t *testing.T, g *gateProc, broker string, acked []pair) delivery {
	t.Helper()
	decided := g.crossings(t)
	byEvent := map[string]int{}
	for _, x := range decided {
		for _, id := range x.EventIDs {
			byEvent[id]++
		}
	}
	d := delivery{Acked: len(acked), Decided: decided}
	for _, p := range acked {
		switch n := byEvent[p.a]; {
		case n == 0:
			d.Lost++
		case n > 1:
			d.DupInEffect += n - 1
		}
	}
	order := make([]string, len(decided))
	for i, x := range decided {
		order[i] = x.ID
	}
	read := topicIDs(t, broker, zone.TopicCrossings, faultGate)
	lost, dupes, reordered := kafka.CheckDelivery(order, read)
	d.Lost += lost
	d.Reordered += reordered
	d.KafkaDupes = dupes
	return d
}

// topicIDs reads topic to its end and returns the CloudEvents IDs of the
// messages keyed by key, in partition order.
func topicIDs(t *testing.T, broker, topic, key string) []string {
	t.Helper()
	var ids []string
	for _, m := range kafkatest.ReadToEnd(t, broker, topic) {
		if key != "" && string(m.Key) != key {
			continue
		}
		var e zone.Event
		require.NoError(t, json.Unmarshal(m.Value, &e))
		ids = append(ids, e.ID)
	}
	return ids
}
