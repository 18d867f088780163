package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway/sim"
)

// hardware tells the recording through the gate's hardware adapters: it
// serves the dev I/O module, waits until the gate polls it, then posts the
// cameras' reads as ISAPI ANPR alerts and breaks the beams on the module.
// stop closes the module (the gate then reports it silent, as it would a
// module unplugged).
func (c Client) hardware(ctx context.Context, file string, reads map[string]string, step func(string, ...any)) (stop func(), err error) {
	o := c.o
	rig, err := sim.ParseRig(fixtures.HardwareDevices())
	if err != nil {
		return nil, err
	}
	if o.ModbusAddr != "" {
		rig.ModuleAddr = o.ModbusAddr
	}
	mod, err := sim.StartIOModule(rig.ModuleAddr, rig.InputCount)
	if err != nil {
		return nil, fmt.Errorf("%w (is another demo running?)", err)
	}
	stop = func() { _ = mod.Close() }
	served := time.Now()
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		var st struct {
			Sensors []struct {
				DeviceID string    `json:"device_id"`
				LastSeen time.Time `json:"last_seen"`
				OK       bool      `json:"ok"`
			} `json:"sensors"`
		}
		if _, err := c.Call(ctx, http.MethodGet, o.Gate+"/v1/status", o.Officer, nil, &st); err != nil {
			return false, nil
		}
		for _, s := range st.Sensors {
			if s.DeviceID == rig.ModuleDevice && s.OK && s.LastSeen.After(served.Add(-time.Second)) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("the gate does not poll the I/O module %s on %s: was `bondgate dev` started with --hardware (and the same --modbus-addr)? %w",
			rig.ModuleDevice, rig.ModuleAddr, err)
	}
	step("the gate polls I/O module %s (Modbus TCP, %s)", rig.ModuleDevice, rig.ModuleAddr)
	speed := o.Speed
	if speed <= 0 {
		speed = 5 // beams are sampled in real time: a fifth of the recording's 60 s
	}
	res, err := sim.ReplayHardware(ctx, sim.HardwareOptions{Poster: sim.Poster{GateURL: o.Gate, HTTPClient: o.Client},
		File: file, Cameras: rig.Cameras, Module: mod, Inputs: rig.Inputs, Reads: reads, Speed: speed})
	if err != nil {
		stop()
		return nil, fmt.Errorf("replay the sensors through the hardware: %w", err)
	}
	step("ISAPI cameras %s and %s push %d alerts (answered 200), beams A→B break on %s's inputs: %d edges",
		rig.Cameras["vehicle_plate"].Device, rig.Cameras["stand_tag"].Device, res.Posted, rig.ModuleDevice, res.Edges)
	return stop, nil
}
