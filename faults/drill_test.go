package faults

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
)

// The restore drill: back up a live API and a live gate under load with
// `bondgate backup --from`, stop them, restore the copies into fresh data
// folders, start on them and verify: the audit chain verifies, every
// declaration created before the backup is there, and every gate event
// acked before the backup is answered as a duplicate with its first seq.
func TestBackupRestoreDrill(t *testing.T) {
	skipShort(t)
	b := startBrokerProc(t)
	tokens := proctest.WriteTokens(t)
	apiAddr, apiData := proctest.FreeAddr(t), t.TempDir()
	apiArgs := []string{"api", "--addr", apiAddr, "--data", apiData, "--brokers", b.addr, "--tokens", tokens}
	api := proctest.Start(t, binary, nil, apiArgs...)
	apiURL := "http://" + apiAddr
	proctest.WaitHTTP(t, apiURL+"/healthz", 30*time.Second)
	g := startGateProc(t, b.addr)
	l := newLoader(g)

	// Load on both while the backups run.
	var mu sync.Mutex
	var decls []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, d := proctest.Call(t, "POST", apiURL+"/v1/predeclarations", "mro-hna", proctest.EngineBody())
			if code != http.StatusCreated {
				continue
			}
			id := d["id"].(string)
			proctest.Call(t, "POST", apiURL+"/v1/predeclarations/"+id+"/decision", "officer-1", `{"decision":"clear"}`)
			mu.Lock()
			decls = append(decls, id)
			mu.Unlock()
		}
	})
	gwg := l.run(2, 1, stop)
	time.Sleep(700 * time.Millisecond)

	// A running service holds its file: the offline path says what to do.
	out, err := proctest.Run(t, binary, "backup", "--data", apiData, "--out", filepath.Join(t.TempDir(), "x.db"), "--timeout", "300ms")
	assert.Error(t, err)
	assert.Contains(t, out, "in use", "backup --data of a running service explains itself")
	assert.Contains(t, out, "--from")
	out, err = proctest.Run(t, binary, "backup", "--from", apiURL, "--token", "mro-hna", "--out", filepath.Join(t.TempDir(), "x.db"))
	assert.Error(t, err, "a firm may not copy the whole store")
	assert.Contains(t, out, "403")

	mu.Lock()
	declsBefore := append([]string(nil), decls...)
	mu.Unlock()
	l.mu.Lock()
	eventsBefore := maps.Clone(l.events)
	seqsBefore := maps.Clone(l.seqs)
	l.mu.Unlock()
	restoreAPI, restoreGate := t.TempDir(), t.TempDir()
	apiCopy := filepath.Join(restoreAPI, "api.db")
	gateCopy := filepath.Join(restoreGate, "gate-"+faultGate+".db")
	began := time.Now()
	out, err = proctest.Run(t, binary, "backup", "--from", apiURL, "--token", "auditor-1", "--out", apiCopy)
	require.NoError(t, err, out)
	out2, err := proctest.Run(t, binary, "backup", "--from", g.url, "--token", "officer-1", "--out", gateCopy)
	require.NoError(t, err, out2)
	took := time.Since(began)
	time.Sleep(300 * time.Millisecond) // load goes on after the copies
	close(stop)
	wg.Wait()
	gwg.Wait()
	require.NotEmpty(t, declsBefore)
	require.NotEmpty(t, eventsBefore)
	require.Equal(t, 0, api.Stop(t))
	require.Equal(t, 0, g.p.Stop(t))

	// Offline: check the copies, and back up a stopped service's folder.
	out3, err := proctest.Run(t, binary, "check", "--file", apiCopy)
	require.NoError(t, err, out3)
	out4, err := proctest.Run(t, binary, "check", "--data", restoreGate)
	require.NoError(t, err, out4)
	offline := filepath.Join(t.TempDir(), "offline.db")
	out5, err := proctest.Run(t, binary, "backup", "--data", apiData, "--out", offline)
	require.NoError(t, err, out5)

	// Restore: start on the copies.
	apiArgs[4] = restoreAPI
	api = proctest.Start(t, binary, nil, apiArgs...)
	proctest.WaitHTTP(t, apiURL+"/healthz", 30*time.Second)
	code, audit := proctest.Call(t, "GET", apiURL+"/v1/audit?verify=true", "auditor-1", "")
	require.Equal(t, http.StatusOK, code, "%v", audit)
	assert.Equal(t, true, audit["verified"], "the restored audit chain verifies: %v", audit["first_bad"])
	missing := 0
	for _, id := range declsBefore {
		if code, _ := proctest.Call(t, "GET", apiURL+"/v1/predeclarations/"+id, "officer-1", ""); code != http.StatusOK {
			missing++
		}
	}
	assert.Zero(t, missing, "declarations created before the backup missing after restore")

	g.data = restoreGate
	g.args[6] = restoreGate
	g.start(t)
	l.events, l.seqs = eventsBefore, seqsBefore
	lost, moved := l.repost(t)
	assert.Zero(t, lost, "gate events acked before the backup missing after restore")
	assert.Zero(t, moved)
	fi1, _ := os.Stat(apiCopy)
	fi2, _ := os.Stat(gateCopy)
	report(t, faultRow{Scenario: "restore drill (hot backup)", Trials: 1, Acked: len(declsBefore) + len(eventsBefore), Lost: missing + lost,
		DupInEffect: moved, Note: fmt.Sprintf("API copy %d KiB, gate copy %d KiB, both taken under load in %v; audit verified %v over %v entries; %d declarations, %d gate events present",
			fi1.Size()>>10, fi2.Size()>>10, took.Round(time.Millisecond), audit["verified"], audit["entries"], len(declsBefore), len(eventsBefore))})
}
