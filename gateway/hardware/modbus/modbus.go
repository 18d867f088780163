// Package modbus samples infrared beam pairs wired as dry contacts to an
// I/O module read over Modbus TCP (github.com/simonvetter/modbus). Each
// poll reads the wired discrete inputs (or coils) in one request; a
// change of a beam's input in its break direction becomes an
// infrared.break stamped with the poll's time; a module that stops
// answering becomes an infrared.fault, cleared when it answers again;
// while it answers, a heartbeat now and then keeps the gate's silence
// alarm quiet.
package modbus

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
)

// Beam is one input wired to one beam of a segment.
type Beam struct {
	Input   uint16
	Segment int
	Beam    string // A or B
}

// Config is one I/O module.
type Config struct {
	Device  string
	Address string // host:port
	Unit    uint8
	Poll    time.Duration // default 20ms
	Coils   bool          // read coils instead of discrete inputs
	Rising  bool          // a break is 0→1 (default 1→0: normally-closed beams)
	Beams   []Beam
	// FaultAfter is how long the module may fail to answer before it is
	// reported faulty (default 25 polls, at least 500ms).
	FaultAfter time.Duration
	// Heartbeat is how often a healthy module's liveness is stored
	// (default 10s).
	Heartbeat time.Duration
	// Submit stores events durably; it returns once they are fsynced.
	Submit func(context.Context, []decide.SensorEvent) error
	Now    func() time.Time
	Log    *slog.Logger
}

// Poller samples one module until its context ends.
type Poller struct {
	cfg     Config
	first   uint16
	count   uint16
	pending chan decide.SensorEvent
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Poller, error) {
	if len(cfg.Beams) == 0 || cfg.Submit == nil || cfg.Address == "" {
		return nil, fmt.Errorf("modbus %s: address, beams and Submit are required", cfg.Device)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if cfg.FaultAfter <= 0 {
		cfg.FaultAfter = max(25*cfg.Poll, 500*time.Millisecond)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	lo, hi := cfg.Beams[0].Input, cfg.Beams[0].Input
	for _, b := range cfg.Beams {
		lo, hi = min(lo, b.Input), max(hi, b.Input)
	}
	if hi-lo >= 2000 {
		return nil, fmt.Errorf("modbus %s: inputs %d..%d span more than one read", cfg.Device, lo, hi)
	}
	return &Poller{cfg: cfg, first: lo, count: hi - lo + 1, pending: make(chan decide.SensorEvent, 4096)}, nil
}

// Run polls until ctx is done. Events are handed to a submitter so a
// slow fsync never delays the next sample; edges found while the gate
// refuses (shutting down, store full) are retried until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { p.submitLoop(ctx) })
	defer wg.Wait()
	log := p.cfg.Log.With("device", p.cfg.Device, "address", p.cfg.Address)

	var client *mb.ModbusClient
	closeClient := func() {
		if client != nil {
			_ = client.Close()
			client = nil
		}
	}
	defer closeClient()
	tick := time.NewTicker(p.cfg.Poll)
	defer tick.Stop()

	var prev []bool
	lastOK := p.cfg.Now()
	var lastBeat time.Time
	faulted := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		at := p.cfg.Now()
		vals, err := p.read(&client)
		if err != nil {
			closeClient() // reconnect on the next poll
			prev = nil    // a fresh baseline after the gap: no edge is made up
			if !faulted && at.Sub(lastOK) >= p.cfg.FaultAfter {
				faulted = true
				log.Warn("I/O module not answering", "err", err)
				p.emit(ctx, decide.SensorEvent{EventID: hardware.ID("fault", stamp(at)), Type: decide.EventInfraredFault, Time: at,
					Code: "modbus-no-answer", Message: clip("no answer for " + at.Sub(lastOK).Round(time.Millisecond).String() + ": " + err.Error())})
			}
			continue
		}
		lastOK = at
		if faulted {
			faulted = false
			log.Info("I/O module answers again")
			p.emit(ctx, decide.SensorEvent{EventID: hardware.ID("fault", "cleared", stamp(at)), Type: decide.EventInfraredFault, Time: at,
				Code: "modbus-no-answer", State: decide.StateCleared})
		}
		if at.Sub(lastBeat) >= p.cfg.Heartbeat {
			lastBeat = at
			p.emit(ctx, decide.SensorEvent{EventID: hardware.ID("heartbeat", stamp(at)), Type: decide.EventHeartbeat, Time: at})
		}
		if prev != nil {
			for _, b := range p.cfg.Beams {
				i := b.Input - p.first
				was, now := prev[i], vals[i]
				if was != now && now == p.cfg.Rising {
					p.emit(ctx, decide.SensorEvent{EventID: hardware.ID("break", "s"+strconv.Itoa(b.Segment)+b.Beam, stamp(at)),
						Type: decide.EventBreak, Time: at, Segment: b.Segment, Beam: b.Beam})
				}
			}
		}
		prev = vals
	}
}

func (p *Poller) read(client **mb.ModbusClient) ([]bool, error) {
	if *client == nil {
		c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + p.cfg.Address, Timeout: max(p.cfg.Poll*5, 100*time.Millisecond)})
		if err != nil {
			return nil, err
		}
		if err := c.Open(); err != nil {
			return nil, err
		}
		if err := c.SetUnitId(p.cfg.Unit); err != nil {
			_ = c.Close()
			return nil, err
		}
		*client = c
	}
	if p.cfg.Coils {
		return (*client).ReadCoils(p.first, p.count)
	}
	return (*client).ReadDiscreteInputs(p.first, p.count)
}

func (p *Poller) emit(ctx context.Context, ev decide.SensorEvent) {
	ev.DeviceID, ev.Source = p.cfg.Device, hardware.Source("modbus", p.cfg.Device)
	select {
	case p.pending <- ev:
	case <-ctx.Done():
	}
}

// submitLoop stores what the poller found, in order, batching what has
// queued up behind a slow commit.
func (p *Poller) submitLoop(ctx context.Context) {
	backoff := 10 * time.Millisecond
	for {
		var batch []decide.SensorEvent
		select {
		case ev := <-p.pending:
			batch = append(batch, ev)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < decide.MaxBatch {
			select {
			case ev := <-p.pending:
				batch = append(batch, ev)
			default:
				break more
			}
		}
		for {
			err := p.cfg.Submit(ctx, batch)
			if err == nil {
				backoff = 10 * time.Millisecond
				break
			}
			p.cfg.Log.Warn("beam events not stored yet; retrying", "device", p.cfg.Device, "events", len(batch), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Second)
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T150405.000000Z") }

func clip(s string) string {
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ToValidUTF8(s, "?")
}
