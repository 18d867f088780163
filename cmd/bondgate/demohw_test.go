package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/demo"
	"github.com/bondgate/bondgate/internal/proctest"
)

// TestDemoThroughHardware runs `bondgate dev --hardware` as a process and
// the GEnx-1B story through its ISAPI cameras and the Modbus I/O module the
// demo serves: declared, cleared, crossed, arrived. The JSON story still
// runs on the same dev afterwards, with the module gone (reported silent).
func TestDemoThroughHardware(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	api, mro, modbus := proctest.FreeAddr(t), proctest.FreeAddr(t), proctest.FreeAddr(t)
	p := proctest.Start(t, binary, nil, "dev", "--data", t.TempDir(), "--broker-addr", proctest.FreeAddr(t), "--api-addr", api,
		"--gate-addrs", "G-MRO-1="+mro+",G-MAIN="+proctest.FreeAddr(t), "--hardware", "--modbus-addr", modbus)
	for _, a := range []string{api, mro} {
		proctest.WaitHTTP(t, "http://"+a+"/healthz", 30*time.Second)
	}
	assert.Contains(t, p.Output(), "demo --hardware", "the banner says how to drive the hardware")
	run := func(o demo.Options) string {
		var out bytes.Buffer
		o.API, o.Gate, o.MROToken, o.Officer, o.GateTok = "http://"+api, "http://"+mro, "mro-hna", "officer-1", "gate-mro-1"
		o.Timeout, o.Out = 90*time.Second, &out
		require.NoError(t, demo.Run(context.Background(), o), out.String())
		return out.String()
	}
	out := run(demo.Options{Hardware: true, ModbusAddr: modbus})
	assert.Contains(t, out, "the gate polls I/O module IO-1 (Modbus TCP, "+modbus+")")
	assert.Contains(t, out, "ISAPI cameras ANPR-1 and ANPR-2 push")
	assert.Contains(t, out, "2 edges")
	assert.Contains(t, out, "arrived")

	// The crossing stands on the adapters' events.
	st, body := proctest.Call(t, http.MethodGet, "http://"+mro+"/v1/events?since_seq=0", "officer-1", "")
	require.Equal(t, http.StatusOK, st)
	items, _ := body["items"].([]any)
	sources := map[string]bool{}
	for _, it := range items {
		ev, _ := it.(map[string]any)["event"].(map[string]any)
		if src, ok := ev["source"].(map[string]any); ok {
			sources[src["kind"].(string)+" "+src["device"].(string)] = true
		}
	}
	assert.True(t, sources["isapi ANPR-2"] && sources["modbus IO-1"], "%v", sources)

	out = run(demo.Options{})
	assert.Contains(t, out, "arrived", "the JSON story on the same dev")
	assert.Equal(t, 0, p.Stop(t))
}
