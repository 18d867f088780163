package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
)

type accepted struct {
	EventID   string `json:"event_id"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
}

func postEvents(client *http.Client, url string, events []map[string]any) ([]accepted, int, error) {
	body, _ := json.Marshal(events)
	req, _ := http.NewRequest("POST", url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer gate-mro-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Accepted []accepted `json:"accepted"`
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return nil, resp.StatusCode, err
		}
	}
	return out.Accepted, resp.StatusCode, nil
}

func heartbeat(device string, n int, at time.Time) map[string]any {
	return map[string]any{"event_id": fmt.Sprintf("%s-%06d", device, n), "device_id": device, "gate": "G-MRO-1",
		"time": at.UTC().Format(time.RFC3339Nano), "type": "heartbeat"}
}

// TestKill9KeepsEveryAck posts under load from several clients, kills the
// gate process with SIGKILL at a random moment, restarts it on the same data
// folder and re-posts every event that was acknowledged: each must come back
// as a duplicate with the seq it was first given. Seeded, several trials.
func TestKill9KeepsEveryAck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills real processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 26))
	data, tokens := t.TempDir(), proctest.WriteTokens(t)
	const trials = 3
	totalAcked := 0
	for trial := range trials {
		addr := proctest.FreeAddr(t)
		// No broker: the gate must not need one. No per-device rate: after
		// each kill every acked event is posted again at once to check it
		// is a duplicate of itself, which at several thousand events a
		// device is far past any device's rate (429).
		args := []string{"gate", "--id", "G-MRO-1", "--addr", addr, "--data", data, "--tokens", tokens,
			"--brokers", proctest.FreeAddr(t), "--device-rate", "-1"}
		g := proctest.Start(t, binary, nil, args...)
		url := "http://" + addr
		proctest.WaitHTTP(t, url+"/healthz", 30*time.Second)

		var mu sync.Mutex
		acked := map[string]accepted{}
		sent := map[string]map[string]any{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 5 * time.Second}
		for c := range 8 {
			wg.Go(func() {
				device := fmt.Sprintf("CAM-T%d-C%d", trial, c)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					batch := []map[string]any{}
					size := 1 + n%5
					for i := range size {
						batch = append(batch, heartbeat(device, n*10+i, time.Now()))
					}
					acks, code, err := postEvents(client, url, batch)
					if err != nil || code != http.StatusAccepted {
						return // the process died under us: unacked, so not counted
					}
					mu.Lock()
					for i, a := range acks {
						acked[a.EventID] = a
						sent[a.EventID] = batch[i]
					}
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		g.Kill(t)
		close(stop)
		wg.Wait()
		require.NotEmpty(t, acked, "trial %d: nothing was acknowledged before the kill", trial)

		addr = proctest.FreeAddr(t)
		args[4] = addr
		g = proctest.Start(t, binary, nil, args...)
		url = "http://" + addr
		proctest.WaitHTTP(t, url+"/healthz", 30*time.Second)
		lost, moved := 0, 0
		ids := make([]string, 0, len(acked))
		for id := range acked {
			ids = append(ids, id)
		}
		for i := 0; i < len(ids); i += 500 {
			end := min(i+500, len(ids))
			batch := make([]map[string]any, 0, end-i)
			for _, id := range ids[i:end] {
				batch = append(batch, sent[id])
			}
			acks, code, err := postEvents(client, url, batch)
			require.NoError(t, err)
			require.Equal(t, http.StatusAccepted, code)
			for _, a := range acks {
				first := acked[a.EventID]
				if !a.Duplicate {
					lost++
				} else if a.Seq != first.Seq {
					moved++
				}
			}
		}
		t.Logf("trial %d: %d events acked before SIGKILL; after restart lost %d, seq changed %d", trial, len(acked), lost, moved)
		assert.Zero(t, lost, "acked events missing after kill -9")
		assert.Zero(t, moved, "acked events answered with another seq")
		totalAcked += len(acked)
		assert.Equal(t, 0, g.Stop(t), "exit code after SIGTERM")
	}
	t.Logf("%d trials, %d acked events, all present after kill -9", trials, totalAcked)
}
