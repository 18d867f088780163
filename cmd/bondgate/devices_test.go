package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
)

// TestDevGatesListEveryDeviceTheirStreamsUse: `bondgate dev` gives each
// gate the devices of its fixture as its device list, so the recorded
// streams (sim, demo, the console tests) must use no other device.
func TestDevGatesListEveryDeviceTheirStreamsUse(t *testing.T) {
	listed := map[string]map[string]bool{}
	for _, g := range fixtures.Gates() {
		ds := fixtureDevices(g)
		require.NotEmpty(t, ds, g.ID)
		listed[g.ID] = map[string]bool{}
		for _, d := range ds {
			assert.Equal(t, "json", d.Kind)
			listed[g.ID][d.ID] = true
		}
	}
	files, err := filepath.Glob("../../fixtures/streams/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var e struct {
				Gate   string `json:"gate"`
				Device string `json:"device_id"`
			}
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
			assert.True(t, listed[e.Gate][e.Device], "%s: device %s of gate %s is not in the gate's fixture", filepath.Base(name), e.Device, e.Gate)
		}
		_ = f.Close()
	}
}

// A device list that does not parse stops `bondgate gate` at start, naming
// the entry and field.
func TestGateRefusesABadDeviceList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devices.json")
	require.NoError(t, os.WriteFile(path, []byte(`[{"id":"CAM-1","kind":"rtsp"}]`), 0o600))
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(tokens, fixtures.Tokens(), 0o600))
	var out, errOut bytes.Buffer
	code := run([]string{"gate", "--id", "G-MRO-1", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--tokens", tokens, "--devices", path}, &out, &errOut)
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut.String(), "[0].kind: must be json, isapi, onvif or modbus")
}
