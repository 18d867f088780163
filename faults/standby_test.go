package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
)

// apiNode is one `bondgate api` of a changelog pair.
type apiNode struct {
	name, addr, url, data string
	p                     *proctest.Proc
}

func startAPINode(t *testing.T, name, broker, tokens string, lease time.Duration, standby bool) *apiNode {
	t.Helper()
	n := &apiNode{name: name, addr: proctest.FreeAddr(t), data: t.TempDir()}
	n.url = "http://" + n.addr
	n.start(t, broker, tokens, lease, standby)
	return n
}

func (n *apiNode) start(t *testing.T, broker, tokens string, lease time.Duration, standby bool) {
	t.Helper()
	mode := "--changelog"
	if standby {
		mode = "--standby"
	}
	n.p = proctest.Start(t, binary, nil, "api", "--addr", n.addr, "--data", n.data, "--brokers", broker, "--tokens", tokens,
		mode, "--lease", lease.String(), "--node-id", n.name)
	proctest.WaitHTTP(t, n.url+"/healthz", 30*time.Second)
}

// ready reports whether the node's /readyz says it follows the log.
func (n *apiNode) ready() bool {
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var drillClient = &http.Client{Timeout: 20 * time.Second}

// post sends a write and returns its status (0 when no answer came).
func post(url, token, body string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := drillClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// declarationsByESN lists every declaration on node, by engine serial.
func declarationsByESN(t *testing.T, base string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	cursor := ""
	for {
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		getJSON(t, drillClient, base+"/v1/predeclarations?limit=500&cursor="+url.QueryEscape(cursor), "officer-1", &page)
		for _, d := range page.Items {
			out[d["object"].(map[string]any)["esn"].(string)] = d
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// engineFor is proctest.EngineBody() for another engine on its own stand (a clearance
// holds its stand tag and plate, so this one has none).
func engineFor(esn string) string {
	return strings.NewReplacer(`"956-482"`, `"`+esn+`"`, `"STAND-0042"`, `"STAND-`+esn+`"`, `,"vehicle_plate":"琼A·D1234"`, "").Replace(proctest.EngineBody())
}

// TestStandbyFailoverDrill: a primary with the changelog and a warm
// standby, writers creating and clearing declarations; the primary is
// killed with SIGKILL and its data folder deleted. The standby serves
// writes within the lease plus 5 s, every acknowledged create and clear is
// on it, and its audit chain verifies. The old primary, started again on
// an empty disk, rebuilds from the log and joins as a standby with the
// same data. Then the new primary is frozen (SIGSTOP) past its lease while
// a write is in flight, and thawed: that write is not acknowledged, is on
// no node, and the frozen node stops instead of serving on.
func TestStandbyFailoverDrill(t *testing.T) {
	skipShort(t)
	lease := time.Duration(scale(2, 10)) * time.Second
	b := startBrokerProc(t)
	tokens := proctest.WriteTokens(t)
	gate := startGateProc(t, b.addr) // G-MRO-1, the declarations' gate
	primary := startAPINode(t, "node-a", b.addr, tokens, lease, false)
	standby := startAPINode(t, "node-b", b.addr, tokens, lease, true)
	proctest.Eventually(t, 30*time.Second, "primary takes writes", func() bool {
		code, _ := post(primary.url+"/v1/predeclarations", "mro-hna", engineFor("WARMUP"))
		return code == http.StatusCreated
	})

	// Writers create and clear, at whichever node takes the write.
	var (
		mu      sync.Mutex
		created = map[string]string{} // esn -> id, acknowledged creates
		cleared = map[string]bool{}   // esn, acknowledged clears
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		nodes   = []string{primary.url, standby.url}
	)
	for w := range scale(4, 8) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var id, esn string
				for try := 0; id == ""; try++ {
					// An unacknowledged create may exist: a retry never reuses its serial.
					esn = fmt.Sprintf("W%d-%d-%d", w, i, try)
					select {
					case <-stop:
						return
					default:
					}
					for _, base := range nodes {
						code, d := post(base+"/v1/predeclarations", "mro-hna", engineFor(esn))
						if code == http.StatusCreated {
							id = d["id"].(string)
							break
						}
					}
					if id == "" {
						time.Sleep(50 * time.Millisecond)
					}
				}
				mu.Lock()
				created[esn] = id
				mu.Unlock()
				for _, base := range nodes {
					if code, _ := post(base+"/v1/predeclarations/"+id+"/decision", "officer-1", `{"decision":"clear"}`); code == http.StatusOK {
						mu.Lock()
						cleared[esn] = true
						mu.Unlock()
						break
					}
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(created) }
	proctest.Eventually(t, 30*time.Second, "writes acknowledged before the kill", func() bool { return count() >= scale(40, 400) })

	// The primary's machine is lost: process and disk.
	primary.p.Kill(t)
	require.NoError(t, os.RemoveAll(primary.data))
	killed, before := time.Now(), count()
	proctest.Eventually(t, lease+5*time.Second, "the standby serves writes", func() bool { return count() > before })
	failover := time.Since(killed)
	t.Logf("failover: the standby acknowledged a write %v after the primary was killed (lease %v)", failover.Round(time.Millisecond), lease)
	proctest.Eventually(t, 30*time.Second, "writes on the new primary", func() bool { return count() >= before+scale(20, 200) })
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	lost := 0
	check := func(base string) {
		t.Helper()
		have := declarationsByESN(t, base)
		for esn, id := range created {
			d, ok := have[esn]
			if !ok || d["id"] != id || (cleared[esn] && d["status"] != "cleared") {
				lost++
				t.Errorf("acknowledged write of %s (%s) missing on %s: %v", esn, id, base, d)
			}
		}
		var audit struct {
			Verified bool `json:"verified"`
		}
		getJSON(t, drillClient, base+"/v1/audit?verify=true&limit=1", "auditor-1", &audit)
		assert.True(t, audit.Verified, "audit chain verifies on %s", base)
	}
	check(standby.url)
	t.Logf("%d creates and %d clears acknowledged, all on the standby", len(created), len(cleared))

	// The old primary comes back on an empty disk: it rebuilds and joins.
	rebuildStart := time.Now()
	primary.start(t, b.addr, tokens, lease, true)
	proctest.Eventually(t, 60*time.Second, "the rebuilt node follows the log", primary.ready)
	t.Logf("rebuild: an empty node caught up in %v", time.Since(rebuildStart).Round(time.Millisecond))
	check(primary.url)
	code, _ := post(primary.url+"/v1/predeclarations", "mro-hna", engineFor("TO-STANDBY"))
	assert.Equal(t, http.StatusServiceUnavailable, code, "the rejoined node is a standby")

	// Freeze the new primary past its lease with a write in flight.
	standby.p.Signal(t, syscall.SIGSTOP)
	inflight := make(chan int, 1)
	go func() {
		code, _ := post(standby.url+"/v1/predeclarations", "mro-hna", engineFor("FROZEN-1"))
		inflight <- code
	}()
	proctest.Eventually(t, lease+10*time.Second, "the rebuilt node takes over from the frozen one", func() bool {
		code, _ := post(primary.url+"/v1/predeclarations", "mro-hna", engineFor("AFTER-FREEZE"))
		return code == http.StatusCreated
	})
	standby.p.Signal(t, syscall.SIGCONT)
	select {
	case code := <-inflight:
		assert.NotEqual(t, http.StatusCreated, code, "a write to a deposed primary is never acknowledged")
	case <-time.After(2 * lease):
		t.Fatal("the thawed node never answered its in-flight write")
	}
	select {
	case <-standby.p.Done():
	case <-time.After(2*lease + 15*time.Second):
		t.Fatal("the deposed node kept running")
	}
	have := declarationsByESN(t, primary.url)
	assert.NotContains(t, have, "FROZEN-1", "the deposed node's write is on no node")
	assert.Contains(t, have, "AFTER-FREEZE")
	var audit struct {
		Verified bool `json:"verified"`
	}
	getJSON(t, drillClient, primary.url+"/v1/audit?verify=true&limit=1", "auditor-1", &audit)
	assert.True(t, audit.Verified)

	// The gate holds one usable clearance per cleared declaration: none
	// lost in the failover, none from a write the log refused.
	want := 0
	for _, d := range have {
		if d["status"] == "cleared" {
			want++
		}
	}
	assert.GreaterOrEqual(t, want, len(cleared))
	proctest.Eventually(t, 60*time.Second, "the gate holds every clearance once", func() bool { return gate.status(t).Clearances == want })
	t.Logf("the gate holds %d clearances, one per cleared declaration (%d clears acknowledged)", want, len(cleared))
	report(t, faultRow{Scenario: "standby failover (kill -9 + disk lost, freeze)", Trials: 1, Acked: len(created) + len(cleared),
		Lost: lost, Note: fmt.Sprintf("failover %v", failover.Round(100*time.Millisecond))})
}
