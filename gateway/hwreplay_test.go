package gateway

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway/sim"
	"github.com/bondgate/bondgate/internal/zone"
)

// devHardwareGate is a gate with the dev hardware (two ISAPI ANPR cameras
// and a Modbus I/O module, fixtures/hardware/dev-devices.json), the
// module served by the simulator on a free address.
func devHardwareGate(t *testing.T) (*testGateSvc, sim.Rig, *sim.IOModule) {
	t.Helper()
	rig, err := sim.ParseRig(fixtures.HardwareDevices())
	require.NoError(t, err)
	devs, err := ParseDevices(fixtures.HardwareDevices())
	require.NoError(t, err)
	rig.ModuleAddr = freeAddr(t)
	for i := range devs {
		if devs[i].Kind == DeviceModbus {
			devs[i].Address = rig.ModuleAddr
		}
	}
	mod, err := sim.StartIOModule(rig.ModuleAddr, rig.InputCount)
	require.NoError(t, err)
	t.Cleanup(func() { _ = mod.Close() })
	g := startGate(t, t.TempDir(), func(c *Config) { c.Devices = devs; c.Window = 2 * time.Second })
	eventually(t, "the gate polls the module", func() bool {
		for _, s := range g.status().Sensors {
			if s.DeviceID == rig.ModuleDevice && s.OK {
				return true
			}
		}
		return false
	})
	return g, rig, mod
}

// TestGEnxStoryThroughISAPIAndModbus plays the GEnx-1B recording the demo
// plays, through hardware instead of JSON: the stand-tag and plate reads
// become ISAPI ANPR alerts posted with each camera's Basic credentials,
// the beam breaks falling edges of a Modbus module's inputs which the gate
// polls. The crossing is authorized on the engine's clearance, inbound,
// and every event it stands on came through an adapter.
func TestGEnxStoryThroughISAPIAndModbus(t *testing.T) {
	g, rig, mod := devHardwareGate(t)
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-1", engineClearance("D-GENX", "STAND-0042", 1, zone.ClearanceActive, now))

	res, err := sim.ReplayHardware(context.Background(), sim.HardwareOptions{Poster: sim.Poster{GateURL: g.http.URL},
		File:    filepath.Join("..", "fixtures", "streams", "genx-direct-entry.jsonl"),
		Cameras: rig.Cameras, Module: mod, Inputs: rig.Inputs, Speed: 10})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Edges, "beam A then beam B")
	assert.GreaterOrEqual(t, res.Posted, 3, "the plate, the stand tag (twice) and the cameras' heartbeats")

	x := waitDecision(t, g)
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, "D-GENX", x.ClearanceID)
	assert.Equal(t, zone.In, x.Direction)
	require.NotEmpty(t, x.EventIDs)
	_, evs := g.do(http.MethodGet, "/v1/events?since_seq=0", tokGate, nil)
	assert.Contains(t, string(evs), `"source":{"kind":"isapi","device":"ANPR-2"}`)
	assert.Contains(t, string(evs), `"source":{"kind":"modbus","device":"IO-1"}`)
	assert.Equal(t, 2, strings.Count(string(evs), `"type":"infrared.break"`))
}

// A recorded fixture is posted as the camera posts it: its protocol found
// from the file, its times moved to now, the camera's Basic credentials;
// wrong credentials are refused, not retried.
func TestPlayFixtureThroughItsProtocol(t *testing.T) {
	g := hardwareGate(t)
	p := sim.Poster{GateURL: g.http.URL}
	for _, tc := range []struct{ file, proto string }{
		{"isapi/anpr-multipart.bin", "isapi"}, {"isapi/linedetection.xml", "isapi"}, {"onvif/notify-line-crossed.xml", "onvif"},
	} {
		f, err := sim.ReadFixture(filepath.Join("..", "fixtures", "hardware", tc.file), time.Now())
		require.NoError(t, err, tc.file)
		assert.Equal(t, tc.proto, f.Protocol, tc.file)
		cam := sim.Camera{Device: "CAM-1", User: "cam1", Password: "cam1-pass"}
		if tc.proto == "onvif" {
			cam = sim.Camera{Device: "CAM-2", User: "cam2", Password: "cam2-pass"}
		}
		before := g.storedEvents()
		require.NoError(t, p.Play(context.Background(), cam, f), tc.file)
		assert.Greater(t, g.storedEvents(), before, "%s: stored once answered", tc.file)
	}
	f, err := sim.ReadFixture(filepath.Join("..", "fixtures", "hardware", "isapi", "anpr.xml"), time.Now())
	require.NoError(t, err)
	err = p.Play(context.Background(), sim.Camera{Device: "CAM-1", User: "cam1", Password: "wrong"}, f)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(401)")
}
