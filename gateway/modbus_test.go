package gateway

import (
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// ioModule is a real Modbus TCP server standing for the gate's I/O module:
// its discrete inputs are the beams' dry contacts (true: beam intact).
type ioModule struct {
	mu     sync.Mutex
	inputs []bool
	srv    *mb.ModbusServer
	addr   string
}

func (m *ioModule) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(m.inputs) {
		return nil, mb.ErrIllegalDataAddress
	}
	return append([]bool(nil), m.inputs[req.Addr:req.Addr+req.Quantity]...), nil
}
func (m *ioModule) HandleCoils(*mb.CoilsRequest) ([]bool, error) { return nil, mb.ErrIllegalFunction }
func (m *ioModule) HandleHoldingRegisters(*mb.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}
func (m *ioModule) HandleInputRegisters(*mb.InputRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

func (m *ioModule) set(input int, v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inputs[input] = v
}

func startIOModule(t *testing.T) *ioModule {
	t.Helper()
	m := &ioModule{inputs: []bool{true, true, true, true}, addr: freeAddr(t)}
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + m.addr, Timeout: 10 * time.Second, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0)}, m)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	m.srv = srv
	t.Cleanup(func() { _ = srv.Stop() })
	return m
}

// TestModbusBeamsAndISAPICameraAuthorizeTheCrossing is the GEnx-1B story
// on shipped hardware: the ANPR camera pushes ISAPI, the beam pair is two
// inputs of a Modbus TCP module the gate polls. Breaking beam A then B
// makes the crossing, authorized; restoring them makes nothing more. Then
// the module stops answering: an infrared.fault is stored and the sensor
// is reported not OK.
func TestModbusBeamsAndISAPICameraAuthorizeTheCrossing(t *testing.T) {
	io := startIOModule(t)
	devs := append(hardwareDevices(), Device{ID: "IO-1", Kind: DeviceModbus, Address: io.addr, Unit: 1, Poll: 5 * time.Millisecond,
		Table: TableDiscreteInputs, BreakEdge: EdgeFalling, Inputs: []BeamInput{{0, 1, "A"}, {1, 1, "B"}}})
	g := startGate(t, t.TempDir(), func(c *Config) {
		c.Devices = devs
		c.Window = 2 * time.Second
		c.Hardware.ModbusFaultAfter = 200 * time.Millisecond
	})
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-1", engineClearance("D-GENX", "STAND-0042", 1, zone.ClearanceActive, now))
	st, _, raw := g.hwPost("/v1/hardware/isapi/CAM-1", "application/xml", hwFixture(t, "isapi/anpr.xml", now), "cam1", "cam1-pass")
	require.Equal(t, http.StatusOK, st, string(raw))

	eventually(t, "the poller has its baseline", func() bool { return g.storedEvents() >= 2 }) // ANPR + first heartbeat
	io.set(0, false)
	time.Sleep(60 * time.Millisecond)
	io.set(1, false)
	time.Sleep(60 * time.Millisecond)
	io.set(0, true)
	io.set(1, true)
	x := waitDecision(t, g)
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, "D-GENX", x.ClearanceID)
	assert.Equal(t, zone.In, x.Direction)

	_, evs := g.do(http.MethodGet, "/v1/events?since_seq=0", tokGate, nil)
	assert.Contains(t, string(evs), `"type":"infrared.break","beam":"A","segment":1,"source":{"kind":"modbus","device":"IO-1"}`)
	assert.Equal(t, 2, strings.Count(string(evs), `"type":"infrared.break"`), "restoring the beams (0→1) is no break")

	require.NoError(t, io.srv.Stop())
	eventually(t, "the silent module is reported", func() bool {
		for _, s := range g.status().Sensors {
			if s.DeviceID == "IO-1" && !s.OK {
				return true
			}
		}
		return false
	})
	_, evs = g.do(http.MethodGet, "/v1/events?since_seq=0", tokGate, nil)
	assert.Contains(t, string(evs), `"type":"infrared.fault"`)
	assert.Contains(t, string(evs), `modbus-no-answer`)
}
