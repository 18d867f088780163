package bench

// Figure 8: the gate's hardware adapters. Events per second through ISAPI
// and ONVIF beside the gate's own JSON in the same run (one event per
// request, each answered after fsync); the latency from a Modbus input's
// change to the beam break being readable at GET /v1/events, beside the
// poll interval; the gate's memory with 50 devices at work beside the same
// gate with none.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway/sim"
)

const (
	hwPoll    = 20 * time.Millisecond // the gate's default Modbus poll
	hwClients = 16                    // concurrent posters per adapter
)

// hwDevice is one entry of the figure's device lists.
func hwCamera(id, kind string) (map[string]any, sim.Camera) {
	cam := sim.Camera{Device: id, User: "u-" + id, Password: "p-" + id, Direction: "in"}
	h := sha256.Sum256([]byte(cam.Password))
	return map[string]any{"id": id, "kind": kind, "segment": 1, "direction": "in",
		"basic": map[string]any{"user": cam.User, "password_sha256": hex.EncodeToString(h[:])}}, cam
}

func hwModule(id, addr string) map[string]any {
	return map[string]any{"id": id, "kind": "modbus", "address": addr, "poll": hwPoll.String(),
		"inputs": []map[string]any{{"input": 0, "segment": 1, "beam": "A"}, {"input": 1, "segment": 1, "beam": "B"}}}
}

func writeDevices(dir, name string, devs []map[string]any) (string, error) {
	raw, err := json.Marshal(devs)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, raw, 0o600)
}

func benchHardware(ctx context.Context, e *benchEnv, scale benchScale) ([]benchRow, error) {
	var rows []benchRow
	rs, err := hwIngest(ctx, e, scale.IngestFor/2)
	rows = append(rows, rs...)
	if err != nil {
		return rows, err
	}
	e.stopAll()
	rs, err = hwEdgeLatency(ctx, e, scale.E2ESamples)
	rows = append(rows, rs...)
	if err != nil {
		return rows, err
	}
	e.stopAll()
	rs, err = hwMemory(ctx, e, scale.IngestFor)
	return append(rows, rs...), err
}

// hwIngest measures each adapter's sustained rate on one gate.
func hwIngest(ctx context.Context, e *benchEnv, d time.Duration) ([]benchRow, error) {
	isapiDev, isapiCam := hwCamera("CAM-1", "isapi")
	onvifDev, onvifCam := hwCamera("CAM-2", "onvif")
	list, err := writeDevices(e.dir, "hw-ingest.json", []map[string]any{isapiDev, onvifDev, {"id": "IR-1", "kind": "json"}})
	if err != nil {
		return nil, err
	}
	g, _, err := e.startGate(ctx, "gate-hw", filepath.Join(e.dir, "gate-hw"), "127.0.0.1:1", "--devices", list)
	if err != nil {
		return nil, err
	}
	url := "http://" + g.addr
	notify, err := fixtures.FS.ReadFile("hardware/onvif/notify-line-crossed.xml")
	if err != nil {
		return nil, err
	}
	utc, objID := regexp.MustCompile(`UtcTime="[^"]*"`), regexp.MustCompile(`Name="ObjectId" Value="[^"]*"`)
	base := time.Now().Add(-time.Hour).UTC()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: hwClients}, Timeout: 30 * time.Second}
	poster := sim.Poster{GateURL: url, HTTPClient: client, MaxAttempts: 1}
	var seq atomic.Int64
	kinds := []struct {
		name string
		post func(n int64) error
	}{
		{"JSON", func(n int64) error {
			at := base.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano)
			body := fmt.Appendf(nil, `[{"event_id":"IR-1-%d","device_id":"IR-1","gate":%q,"time":%q,"type":"heartbeat"}]`, n, benchGate, at)
			return httpJSON(ctx, client, http.MethodPost, url+"/v1/events", benchGateToken, body, http.StatusAccepted, nil)
		}},
		{"ISAPI", func(n int64) error {
			body := fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><channelID>1</channelID><dateTime>%s</dateTime><eventType>ANPR</eventType><eventState>active</eventState><ANPR><licensePlate>B%09d</licensePlate><direction>forward</direction><confidenceLevel>95</confidenceLevel></ANPR></EventNotificationAlert>`,
				base.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano), n)
			return poster.ISAPI(ctx, isapiCam, "application/xml", body)
		}},
		{"ONVIF", func(n int64) error {
			body := utc.ReplaceAll(notify, []byte(`UtcTime="`+base.Add(time.Duration(n)*time.Millisecond).Format(time.RFC3339Nano)+`"`))
			body = objID.ReplaceAll(body, []byte(`Name="ObjectId" Value="`+strconv.FormatInt(n, 10)+`"`))
			return poster.ONVIF(ctx, onvifCam, body)
		}},
	}
	rates := map[string]float64{}
	for _, k := range kinds {
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		runCtx, cancel := context.WithTimeout(ctx, d)
		start := time.Now()
		var wg sync.WaitGroup
		for range hwClients {
			wg.Go(func() {
				for runCtx.Err() == nil {
					if err := k.post(seq.Add(1)); err != nil {
						if runCtx.Err() == nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err)
						}
						continue
					}
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		cancel()
		if failed.Load() > 0 {
			return nil, fmt.Errorf("%s: %d posts refused, first: %v", k.name, failed.Load(), firstErr.Load())
		}
		rates[k.name] = float64(ok.Load()) / time.Since(start).Seconds()
	}
	var rows []benchRow
	for _, k := range []string{"ISAPI", "ONVIF"} {
		rows = append(rows, benchRow{Figure: "8 " + k + " ingest (1 event/request, fsynced, 16 clients)",
			Measured: fmt.Sprintf("%.0f ev/s", rates[k]), Baseline: fmt.Sprintf("JSON %.0f ev/s", rates["JSON"]),
			Ratio: fmt.Sprintf("%.2f", rates[k]/rates["JSON"]), Target: "reported"})
	}
	return rows, nil
}

// hwEdgeLatency breaks a beam on a Modbus module n times and times each
// break from the input's change to the event at GET /v1/events.
func hwEdgeLatency(ctx context.Context, e *benchEnv, n int) ([]benchRow, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	mod, err := sim.StartIOModule(addr, 2)
	if err != nil {
		return nil, err
	}
	defer mod.Close()
	list, err := writeDevices(e.dir, "hw-latency.json", []map[string]any{hwModule("IO-1", addr)})
	if err != nil {
		return nil, err
	}
	g, _, err := e.startGate(ctx, "gate-hw-latency", filepath.Join(e.dir, "gate-hw-latency"), "127.0.0.1:1", "--devices", list)
	if err != nil {
		return nil, err
	}
	url := "http://" + g.addr
	client := &http.Client{Timeout: 10 * time.Second}
	type page struct {
		Items []struct {
			Seq   uint64 `json:"seq"`
			Event struct {
				Type string `json:"type"`
			} `json:"event"`
		} `json:"items"`
	}
	var since uint64
	// nextBreak waits for the next infrared.break after since.
	nextBreak := func(within time.Duration) error {
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			var p page
			if err := httpJSON(ctx, client, http.MethodGet, fmt.Sprintf("%s/v1/events?since_seq=%d", url, since), benchCustoms, nil, http.StatusOK, &p); err != nil {
				return err
			}
			for _, it := range p.Items {
				since = it.Seq
				if it.Event.Type == "infrared.break" {
					return nil
				}
			}
			time.Sleep(time.Millisecond)
		}
		return fmt.Errorf("no beam break stored within %s", within)
	}
	// The poller's baseline: its first heartbeat is stored.
	time.Sleep(500 * time.Millisecond)
	var lat []time.Duration
	for i := range n {
		var p page
		if err := httpJSON(ctx, client, http.MethodGet, fmt.Sprintf("%s/v1/events?since_seq=%d", url, since), benchCustoms, nil, http.StatusOK, &p); err != nil {
			return nil, err
		}
		if len(p.Items) > 0 {
			since = p.Items[len(p.Items)-1].Seq
		}
		changed := time.Now()
		mod.Set(0, false)
		if err := nextBreak(5 * time.Second); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(changed))
		mod.Set(0, true)
		time.Sleep(3*hwPoll + time.Duration(i%7)*3*time.Millisecond) // restored and seen; vary the phase against the poll
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return []benchRow{{Figure: fmt.Sprintf("8 Modbus beam edge → stored event, p50 / p99 (%d breaks)", n),
		Measured: fmt.Sprintf("%s / %s", q(0.5).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond)),
		Baseline: "poll interval " + hwPoll.String(), Ratio: fmt.Sprintf("%.2f", float64(q(0.99))/float64(hwPoll)),
		Target: "reported"}}, nil
}

// hwMemory runs a gate with 50 devices at work (20 ISAPI cameras posting
// an alert a second, 10 ONVIF cameras a Notify a second, 20 Modbus
// modules polled every 20 ms) beside the same gate with no device list.
func hwMemory(ctx context.Context, e *benchEnv, d time.Duration) ([]benchRow, error) {
	idle, _, err := e.startGate(ctx, "gate-hw-idle", filepath.Join(e.dir, "gate-hw-idle"), "127.0.0.1:1")
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	base, err := readProcMem(idle.pid())
	if err != nil {
		return nil, err
	}
	idle.stop()

	var devs []map[string]any
	var isapiCams, onvifCams []sim.Camera
	for i := range 20 {
		dev, cam := hwCamera(fmt.Sprintf("CAM-I%02d", i), "isapi")
		devs, isapiCams = append(devs, dev), append(isapiCams, cam)
	}
	for i := range 10 {
		dev, cam := hwCamera(fmt.Sprintf("CAM-O%02d", i), "onvif")
		devs, onvifCams = append(devs, dev), append(onvifCams, cam)
	}
	for i := range 20 {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		mod, err := sim.StartIOModule(addr, 2)
		if err != nil {
			return nil, err
		}
		defer mod.Close()
		devs = append(devs, hwModule(fmt.Sprintf("IO-%02d", i), addr))
	}
	list, err := writeDevices(e.dir, "hw-50.json", devs)
	if err != nil {
		return nil, err
	}
	g, _, err := e.startGate(ctx, "gate-hw-50", filepath.Join(e.dir, "gate-hw-50"), "127.0.0.1:1", "--devices", list)
	if err != nil {
		return nil, err
	}
	url := "http://" + g.addr
	notify, err := fixtures.FS.ReadFile("hardware/onvif/notify-line-crossed.xml")
	if err != nil {
		return nil, err
	}
	utc := regexp.MustCompile(`UtcTime="[^"]*"`)
	poster := sim.Poster{GateURL: url, MaxAttempts: 3}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, cam := range append(isapiCams, onvifCams...) {
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 0; ; n++ {
				now := time.Now()
				var err error
				if i < len(isapiCams) {
					body := fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema"><channelID>1</channelID><dateTime>%s</dateTime><eventType>ANPR</eventType><eventState>active</eventState><ANPR><licensePlate>M%02d%06d</licensePlate><confidenceLevel>95</confidenceLevel></ANPR></EventNotificationAlert>`,
						now.UTC().Format(time.RFC3339Nano), i, n)
					err = poster.ISAPI(runCtx, cam, "application/xml", body)
				} else {
					err = poster.ONVIF(runCtx, cam, utc.ReplaceAll(notify, []byte(`UtcTime="`+now.UTC().Format(time.RFC3339Nano)+`"`)))
				}
				if err != nil && runCtx.Err() == nil {
					failed.Add(1)
				}
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
	m, err := readProcMem(g.pid())
	if err != nil {
		return nil, err
	}
	if failed.Load() > 0 {
		return nil, fmt.Errorf("50 devices: %d posts refused", failed.Load())
	}
	return []benchRow{{Figure: fmt.Sprintf("8 gate memory, 50 devices at work for %s (20 ISAPI, 10 ONVIF at 1/s; 20 Modbus at %s)", d, hwPoll),
		Measured: fmt.Sprintf("RSS %s, anon %s, peak %s", mib(m.RSS), mib(m.Anon), mib(m.HWM)),
		Baseline: fmt.Sprintf("no devices: RSS %s, anon %s", mib(base.RSS), mib(base.Anon)),
		Ratio:    fmt.Sprintf("%.2f", float64(m.RSS)/float64(max(base.RSS, 1))), Target: "reported"}}, nil
}
