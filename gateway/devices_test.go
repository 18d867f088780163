package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func TestParseDevices(t *testing.T) {
	ds, err := ParseDevices([]byte(`[{"id":"CAM-1","kind":"json"},{"id":"CAM-2","kind":"isapi","segment":2,"model":{"vendor":"x"}},
		{"id":"IR-1","kind":"modbus","address":"10.0.0.5:502","inputs":[{"input":0,"segment":1,"beam":"A"}]},{"id":"CAM-3","kind":"onvif"}]`))
	require.NoError(t, err)
	require.Len(t, ds, 4)
	assert.Equal(t, Device{ID: "CAM-1", Kind: DeviceJSON}, ds[0])
	assert.Equal(t, 2, ds[1].Segment)
	assert.JSONEq(t, `{"vendor":"x"}`, string(ds[1].Extra["model"]), "fields this version does not read are kept")

	for body, field := range map[string]string{
		`{}`:                             "devices",
		`[{"id":"CAM-1","kind":"rtsp"}]`: "[0].kind",
		`[{"id":"CAM-1"}]`:               "[0].kind",
		`[{"kind":"json"}]`:              "[0].id",
		`[{"id":"CAM 1","kind":"json"}]`: "[0].id",
		`[{"id":"A","kind":"json"},{"id":"A","kind":"json"}]`: "[1].id",
		`[{"id":"A","kind":"json","segment":0}]`:              "[0].segment",
		`[{"id":"A","kind":"json","segment":"1"}]`:            "[0].segment",
		`[1]`: "devices",
	} {
		_, err := ParseDevices([]byte(body))
		require.Error(t, err, body)
		fs := zone.ErrorFields(err)
		require.NotEmpty(t, fs, body)
		assert.Equal(t, field, fs[0].Field, body)
	}
}

// TestUnknownDeviceIsRefusedOnceTheGateHasAList: with a device list an
// event from a device not on it refuses its whole batch with 403 naming it,
// and nothing is stored; without a list every device is accepted.
func TestUnknownDeviceIsRefusedOnceTheGateHasAList(t *testing.T) {
	now := time.Now().UTC()
	g := startGate(t, t.TempDir(), func(c *Config) {
		c.Devices = []Device{{ID: "CAM-1", Kind: DeviceJSON}, {ID: "IR-1", Kind: DeviceJSON, Segment: 1}}
	})
	st, raw := g.do(http.MethodPost, "/v1/events", tokGate, []any{heartbeat("IR-1-d-1", now), ev("IR-9-d-1", "IR-9", "heartbeat", now, nil)})
	require.Equal(t, http.StatusForbidden, st, string(raw))
	assert.Contains(t, string(raw), `"field":"[1].device_id"`)
	assert.Contains(t, string(raw), "IR-9")
	assert.Zero(t, g.storedEvents(), "nothing of the batch is stored")
	st, _, raw = g.post(tokGate, []any{heartbeat("IR-1-d-1", now), ev("CAM-1-d-1", "CAM-1", "heartbeat", now, nil)})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	for _, s := range g.status().Sensors {
		assert.Contains(t, []string{"CAM-1", "IR-1"}, s.DeviceID)
	}
	_, metrics := g.do(http.MethodGet, "/metrics", "", nil)
	assert.Contains(t, string(metrics), `bondgate_gate_unknown_device_requests_total{gate="G-MRO-1"} 1`)

	open := startGate(t, t.TempDir(), nil)
	st, _, raw = open.post(tokGate, []any{ev("IR-9-d-1", "IR-9", "heartbeat", now, nil)})
	require.Equal(t, http.StatusAccepted, st, string(raw))
}

var deviceLabel = regexp.MustCompile(`bondgate_gate_sensor_ok\{device="([^"]*)"`)

func sensorSeries(t *testing.T, g *testGateSvc) map[string]bool {
	t.Helper()
	_, metrics := g.do(http.MethodGet, "/metrics", "", nil)
	out := map[string]bool{}
	for _, m := range deviceLabel.FindAllStringSubmatch(string(metrics), -1) {
		out[m[1]] = true
	}
	return out
}

// TestDeviceMetricSeriesAreBounded: invented device IDs must not each make
// a metric series. Without a list the first 64 devices have their own and
// the rest share device="other"; with a list only listed devices do.
func TestDeviceMetricSeriesAreBounded(t *testing.T) {
	dir := t.TempDir()
	g := startGate(t, dir, nil)
	now := time.Now().UTC()
	var batch []any
	for i := range 200 {
		dev := fmt.Sprintf("HB-%03d", i)
		batch = append(batch, ev(dev+"-1", dev, "heartbeat", now, nil))
	}
	st, _, raw := g.post(tokGate, batch)
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "every device known", func() bool { return len(g.svc.decider.Sensors()) == 200 })
	series := sensorSeries(t, g)
	assert.Len(t, series, maxDeviceSeries+1)
	assert.True(t, series["other"] && series["HB-000"] && !series["HB-199"], "%v", series)
	g.stop()

	// The same file with a list: the devices seen before it fold into "other".
	g = startGate(t, dir, func(c *Config) { c.Devices = []Device{{ID: "HB-150", Kind: DeviceJSON}} })
	eventually(t, "sensors restored", func() bool { return len(g.svc.decider.Sensors()) == 200 })
	assert.Equal(t, map[string]bool{"HB-150": true, "other": true}, sensorSeries(t, g))
}
