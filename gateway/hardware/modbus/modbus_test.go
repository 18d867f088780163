package modbus

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
)

// module is a real Modbus TCP server (simonvetter/modbus) with four
// discrete inputs and four coils, intact (true) at start.
type module struct {
	mu     sync.Mutex
	inputs []bool
	coils  []bool
	addr   string
	srv    *mb.ModbusServer
}

func (m *module) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.inputs[req.Addr : req.Addr+req.Quantity]), nil
}
func (m *module) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.coils[req.Addr : req.Addr+req.Quantity]), nil
}
func (m *module) HandleHoldingRegisters(*mb.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}
func (m *module) HandleInputRegisters(*mb.InputRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

func (m *module) set(table []bool, i int, v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	table[i] = v
}

func (m *module) start(t *testing.T) {
	t.Helper()
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + m.addr, Timeout: 10 * time.Second, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0)}, m)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	m.srv = srv
	t.Cleanup(func() { _ = srv.Stop() })
}

func startModule(t *testing.T) *module {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	m := &module{inputs: []bool{true, true, true, true}, coils: []bool{false, false, false, false}, addr: addr}
	m.start(t)
	return m
}

// stored collects what the poller submits.
type stored struct {
	mu  sync.Mutex
	evs []decide.SensorEvent
}

func (s *stored) submit(_ context.Context, evs []decide.SensorEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, evs...)
	return nil
}

func (s *stored) of(typ string) []decide.SensorEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []decide.SensorEvent
	for _, e := range s.evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func runPoller(t *testing.T, cfg Config) *stored {
	t.Helper()
	s := &stored{}
	cfg.Device, cfg.Submit, cfg.Log = "IO-1", s.submit, slog.New(slog.DiscardHandler)
	if cfg.Poll == 0 {
		cfg.Poll = 5 * time.Millisecond
	}
	if cfg.Beams == nil {
		cfg.Beams = []Beam{{Input: 0, Segment: 1, Beam: "A"}, {Input: 1, Segment: 1, Beam: "B"}}
	}
	p, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the first heartbeat (the baseline is read)", func() bool { return len(s.of(decide.EventHeartbeat)) > 0 })
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hold keeps a level long enough for several polls to see it.
const hold = 40 * time.Millisecond

// A normally-closed beam breaks 1→0: that edge is the break, the way back
// is none; each break of each beam is its own event, stamped at the poll
// that saw it, with its own ID.
func TestFallingEdgeIsTheBreakAndRestoringIsNone(t *testing.T) {
	m := startModule(t)
	s := runPoller(t, Config{Address: m.addr})
	// The poll that sees a change may have begun up to one interval (20 ms
	// by default) before the change was made: its time is the stamp.
	before := time.Now().Add(-20 * time.Millisecond)
	m.set(m.inputs, 0, false)
	time.Sleep(hold)
	m.set(m.inputs, 1, false)
	time.Sleep(hold)
	m.set(m.inputs, 0, true)
	m.set(m.inputs, 1, true)
	time.Sleep(hold)
	m.set(m.inputs, 0, false) // a second break of beam A
	waitFor(t, "three breaks", func() bool { return len(s.of(decide.EventBreak)) == 3 })
	time.Sleep(hold)
	br := s.of(decide.EventBreak)
	require.Len(t, br, 3, "restoring (0→1) is no break")
	assert.Equal(t, []string{"A", "B", "A"}, []string{br[0].Beam, br[1].Beam, br[2].Beam})
	for i, e := range br {
		assert.Equal(t, 1, e.Segment)
		assert.Equal(t, "IO-1", e.DeviceID)
		assert.Equal(t, "modbus", e.Source.Kind)
		assert.False(t, e.Time.Before(before), "stamped at the poll")
		if i > 0 {
			assert.True(t, e.Time.After(br[i-1].Time))
			assert.NotEqual(t, br[i-1].EventID, e.EventID)
		}
	}
}

// Beams wired to break 0→1 (break_edge rising), read from coils: the
// rising edge is the break, the falling one is none.
func TestRisingEdgeOnCoils(t *testing.T) {
	m := startModule(t)
	s := runPoller(t, Config{Address: m.addr, Coils: true, Rising: true})
	m.set(m.coils, 1, true)
	waitFor(t, "the break", func() bool { return len(s.of(decide.EventBreak)) == 1 })
	m.set(m.coils, 1, false)
	time.Sleep(hold)
	m.set(m.inputs, 0, false) // the discrete inputs are not what is read
	time.Sleep(hold)
	br := s.of(decide.EventBreak)
	require.Len(t, br, 1)
	assert.Equal(t, "B", br[0].Beam)
}

// A contact that bounces (several 1→0→1 within a few milliseconds) is
// seen as what the polls sample: at most one break per poll that finds it
// broken after one that found it intact, never one per bounce. A bounce
// shorter than a poll may be missed entirely, which is why the poll must
// be shorter than the shortest real break (README: 20 ms).
func TestBounceMakesNoMoreBreaksThanPolls(t *testing.T) {
	m := startModule(t)
	s := runPoller(t, Config{Address: m.addr, Poll: 20 * time.Millisecond})
	start := time.Now()
	for range 20 { // 20 bounces in about 20 ms
		m.set(m.inputs, 0, false)
		time.Sleep(500 * time.Microsecond)
		m.set(m.inputs, 0, true)
		time.Sleep(500 * time.Microsecond)
	}
	m.set(m.inputs, 0, false) // then it settles broken
	took := time.Since(start)
	waitFor(t, "the settled break", func() bool { return len(s.of(decide.EventBreak)) >= 1 })
	time.Sleep(hold)
	polls := int(took/(20*time.Millisecond)) + 2
	n := len(s.of(decide.EventBreak))
	assert.LessOrEqual(t, n, polls, "%d breaks from 20 bounces over %s", n, took)
	assert.Less(t, n, 20, "one break per bounce would be the contact's noise, not crossings")
}

// A module that stops answering is a fault once FaultAfter has passed,
// raised once; the poller reconnects by itself when it answers again,
// clears the fault, takes a fresh baseline (no break made up from the
// gap, though the beam changed while it was away) and sees breaks again.
func TestSilentModuleFaultsOnceThenReconnects(t *testing.T) {
	m := startModule(t)
	s := runPoller(t, Config{Address: m.addr, FaultAfter: 100 * time.Millisecond})
	require.NoError(t, m.srv.Stop())
	waitFor(t, "the fault", func() bool { return len(s.of(decide.EventInfraredFault)) == 1 })
	f := s.of(decide.EventInfraredFault)[0]
	assert.Equal(t, "modbus-no-answer", f.Code)
	assert.Empty(t, f.State)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, s.of(decide.EventInfraredFault), 1, "raised once while it stays silent")

	m.set(m.inputs, 0, false) // changed while nobody could see it
	m.start(t)
	waitFor(t, "the fault cleared", func() bool { return len(s.of(decide.EventInfraredFault)) == 2 })
	assert.Equal(t, decide.StateCleared, s.of(decide.EventInfraredFault)[1].State)
	time.Sleep(hold)
	assert.Empty(t, s.of(decide.EventBreak), "no edge is made up across the gap")

	m.set(m.inputs, 1, false)
	waitFor(t, "a break after the reconnect", func() bool { return len(s.of(decide.EventBreak)) == 1 })
	assert.Equal(t, "B", s.of(decide.EventBreak)[0].Beam)
}
