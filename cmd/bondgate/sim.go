package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("sim", "--gate URL --token T FILE.jsonl | --device ID --user U --password P FILE.xml|.bin | --hardware FILE.jsonl", stderr)
	gate := fs.String("gate", "http://127.0.0.1:8081", "base URL of the gate service")
	token := fs.String("token", "", "gate token for the gate the recording names (required)")
	speed := fs.Float64("speed", 0, "replay rate: 0 as fast as the gate takes it, 1 real time, 10 ten times faster")
	batch := fs.Int("batch", 100, "events per POST (at most 1000)")
	noRebase := fs.Bool("no-rebase", false, "post the recording byte for byte (default: shift times to now and make event and track IDs unique to this run)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	device := fs.String("device", "", "post a recorded ISAPI alert (XML or multipart) or ONVIF Notify as this camera of the gate's device list")
	user := fs.String("user", "", "with --device, the camera's HTTP Basic user")
	password := fs.String("password", "", "with --device, the camera's HTTP Basic password")
	hardware := fs.Bool("hardware", false, "tell a .jsonl recording through the dev hardware of 'bondgate dev --hardware': ISAPI alerts, and a Modbus I/O module served for the replay")
	modbusAddr := fs.String("modbus-addr", "", "with --hardware, where to serve the I/O module (default: the fixture's, 127.0.0.1:1502)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *device != "" && fs.NArg() == 1:
		return simFixture(ctx, *gate, *device, *user, *password, fs.Arg(0), !*noRebase, stdout)
	case *hardware && fs.NArg() == 1:
		return simHardware(ctx, *gate, *modbusAddr, fs.Arg(0), *speed, stdout, stderr, *asJSON)
	}
	if fs.NArg() != 1 || *token == "" {
		fs.Usage()
		return fmt.Errorf("need --token and exactly one recording file: %w", errUsage)
	}
	res, err := sim.Replay(ctx, sim.Options{GateURL: *gate, Token: *token, File: fs.Arg(0), Rebase: !*noRebase,
		Speed: *speed, BatchSize: *batch, Progress: stderr})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		fmt.Fprintf(stdout, "%d events: %d accepted, %d duplicates, %d refused", res.Events, res.Accepted, res.Duplicates, res.Errors)
		if unsent := res.Events - res.Accepted - res.Duplicates - res.Errors; unsent > 0 {
			fmt.Fprintf(stdout, ", %d not sent", unsent) // the replay stopped early
		}
		fmt.Fprintf(stdout, ", seq %d..%d, %s\n", res.FirstSeq, res.LastSeq, res.Elapsed.Round(1e6))
		for _, p := range res.Problems {
			fmt.Fprintln(stdout, "  refused:", p)
		}
	}
	return err
}

// simFixture posts one recorded hardware message through its protocol.
func simFixture(ctx context.Context, gate, device, user, password, file string, rebase bool, stdout io.Writer) error {
	now := time.Time{}
	if rebase {
		now = time.Now()
	}
	f, err := sim.ReadFixture(file, now)
	if err != nil {
		return err
	}
	if err := (sim.Poster{GateURL: gate}).Play(ctx, sim.Camera{Device: device, User: user, Password: password}, f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s message posted as %s: stored (200)\n", strings.ToUpper(f.Protocol), device)
	return nil
}

// simHardware tells a recording through the dev hardware, serving the
// I/O module for as long as the replay lasts.
func simHardware(ctx context.Context, gate, modbusAddr, file string, speed float64, stdout, stderr io.Writer, asJSON bool) error {
	rig, err := sim.ParseRig(fixtures.HardwareDevices())
	if err != nil {
		return err
	}
	if modbusAddr != "" {
		rig.ModuleAddr = modbusAddr
	}
	mod, err := sim.StartIOModule(rig.ModuleAddr, rig.InputCount)
	if err != nil {
		return err
	}
	defer mod.Close()
	fmt.Fprintf(stderr, "serving I/O module %s on %s; giving the gate a moment to poll it\n", rig.ModuleDevice, rig.ModuleAddr)
	if err := sleepCtx(ctx, 2*time.Second); err != nil { // its reconnect after a silence is at the next poll
		return err
	}
	res, err := sim.ReplayHardware(ctx, sim.HardwareOptions{Poster: sim.Poster{GateURL: gate}, File: file,
		Cameras: rig.Cameras, Module: mod, Inputs: rig.Inputs, Speed: speed, Progress: stderr})
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		fmt.Fprintf(stdout, "%d events: %d ISAPI alerts stored, %d beam breaks, %d skipped, %s\n", res.Events, res.Posted, res.Edges, res.Skipped, res.Elapsed.Round(1e6))
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
