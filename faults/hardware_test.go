package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/sim"
	"github.com/bondgate/bondgate/internal/proctest"
)

// hwEvent is what the hardware scenario reads back of a stored event.
type hwEvent struct {
	ID, Type, Source, Plate string
}

// hardwareEvents pages through GET /v1/events with each event's origin and
// first read.
func (g *gateProc) hardwareEvents(t *testing.T) []hwEvent {
	t.Helper()
	var out []hwEvent
	var since uint64
	for {
		var page struct {
			Items []struct {
				Seq   uint64 `json:"seq"`
				Event struct {
					EventID string `json:"event_id"`
					Type    string `json:"type"`
					Source  struct {
						Kind string `json:"kind"`
					} `json:"source"`
					Reads []struct {
						Value string `json:"value"`
					} `json:"reads"`
				} `json:"event"`
			} `json:"items"`
		}
		getJSON(t, g.client, fmt.Sprintf("%s/v1/events?since_seq=%d&limit=1000", g.url, since), "officer-1", &page)
		for _, it := range page.Items {
			e := hwEvent{ID: it.Event.EventID, Type: it.Event.Type, Source: it.Event.Source.Kind}
			if len(it.Event.Reads) > 0 {
				e.Plate = it.Event.Reads[0].Value
			}
			out = append(out, e)
			since = it.Seq
		}
		if len(page.Items) < 1000 {
			return out
		}
	}
}

// TestFault14HardwareKill9 kills the gate (SIGKILL) while its hardware
// keeps going: three ISAPI cameras post ANPR alerts, each with a plate of
// its own, and a Modbus I/O module's beams break and restore every few
// tens of milliseconds. After each restart every alert the gate answered
// 200 is stored (once), every beam break that could be read back before
// the kill is still there, and the poller stores new breaks again.
func TestFault14HardwareKill9(t *testing.T) {
	skipShort(t)
	rng := rand.New(rand.NewPCG(seedOf(t), 14))
	modAddr := proctest.FreeAddr(t)
	mod, err := sim.StartIOModule(modAddr, 2)
	require.NoError(t, err)
	t.Cleanup(func() { _ = mod.Close() })
	var devices []map[string]any
	cams := make([]sim.Camera, 3)
	for i := range cams {
		cams[i] = sim.Camera{Device: fmt.Sprintf("CAM-%d", i+1), User: fmt.Sprintf("cam%d", i+1), Password: fmt.Sprintf("cam%d-pass", i+1)}
		h := sha256.Sum256([]byte(cams[i].Password))
		devices = append(devices, map[string]any{"id": cams[i].Device, "kind": "isapi", "segment": 1, "direction": "in",
			"basic": map[string]any{"user": cams[i].User, "password_sha256": hex.EncodeToString(h[:])}})
	}
	devices = append(devices, map[string]any{"id": "IO-1", "kind": "modbus", "address": modAddr, "poll": "10ms",
		"inputs": []map[string]any{{"input": 0, "segment": 1, "beam": "A"}, {"input": 1, "segment": 1, "beam": "B"}}})
	raw, err := json.Marshal(devices)
	require.NoError(t, err)
	list := filepath.Join(t.TempDir(), "devices.json")
	require.NoError(t, os.WriteFile(list, raw, 0o600))
	g := startGateProc(t, proctest.FreeAddr(t), "--devices", list) // no broker: the gate must not need one

	var mu sync.Mutex
	acked := map[string]bool{} // plates answered 200
	durable := map[string]bool{}
	trials := scale(2, 20)
	breaksBefore := 0
	for trial := range trials {
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for c, cam := range cams {
			wg.Go(func() {
				p := sim.Poster{GateURL: g.url, MaxAttempts: 1, HTTPClient: g.client}
				for n := 0; ctx.Err() == nil; n++ {
					plate := fmt.Sprintf("K%02d%d%05d", trial, c, n)
					body := anprAlert(plate, time.Now())
					if p.ISAPI(ctx, cam, "application/xml", body) == nil {
						mu.Lock()
						acked[plate] = true
						mu.Unlock()
					} else {
						time.Sleep(20 * time.Millisecond) // the gate is down
					}
				}
			})
		}
		wg.Go(func() { // a beam pair crossed every 160 ms, gate up or not
			for ctx.Err() == nil {
				for _, step := range []struct {
					in int
					v  bool
				}{{0, false}, {1, false}, {0, true}, {1, true}} {
					mod.Set(step.in, step.v)
					time.Sleep(40 * time.Millisecond)
				}
			}
		})
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		for _, e := range g.hardwareEvents(t) {
			if e.Type == "infrared.break" {
				durable[e.ID] = true
			}
		}
		g.p.Kill(t)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // the hardware keeps going meanwhile
		g.start(t)
		before := len(durable)
		proctest.Eventually(t, 30*time.Second, "the poller stores breaks again after the restart", func() bool {
			n := 0
			for _, e := range g.hardwareEvents(t) {
				if e.Type == "infrared.break" {
					n++
				}
			}
			return n > before+2
		})
		stop()
		wg.Wait()
		breaksBefore = len(durable)
	}

	stored := g.hardwareEvents(t)
	plates, ids := map[string]int{}, map[string]bool{}
	for _, e := range stored {
		if e.Source == "isapi" && e.Plate != "" {
			plates[e.Plate]++
		}
		ids[e.ID] = true
	}
	lost, dup := 0, 0
	for p := range acked {
		if plates[p] == 0 {
			lost++
			t.Errorf("alert with plate %s was answered 200 but is not stored", p)
		}
	}
	for p, n := range plates {
		if n > 1 {
			dup++
			t.Errorf("plate %s stored %d times", p, n)
		}
	}
	for id := range durable {
		if !ids[id] {
			lost++
			t.Errorf("beam break %s was read back before the kill and is gone", id)
		}
	}
	require.NotEmpty(t, acked)
	report(t, faultRow{Scenario: "14 kill -9, ISAPI + Modbus sending", Trials: trials, Acked: len(acked) + len(durable),
		Lost: lost, DupInEffect: dup,
		Note: fmt.Sprintf("%d ISAPI alerts answered 200, %d beam breaks read back before a kill; %d events stored in all",
			len(acked), breaksBefore, len(stored))})
}

// anprAlert is a camera's ANPR push for plate at t.
func anprAlert(plate string, t time.Time) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<channelID>1</channelID>
<dateTime>%s</dateTime>
<eventType>ANPR</eventType>
<eventState>active</eventState>
<ANPR><licensePlate>%s</licensePlate><direction>forward</direction><confidenceLevel>95</confidenceLevel></ANPR>
</EventNotificationAlert>
`, t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04:05.000-07:00"), plate)
}
