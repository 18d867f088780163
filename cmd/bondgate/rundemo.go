package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bondgate/bondgate/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("demo", "[--story genx|visit] [--api URL] [--gate URL] [--hardware]", stderr)
	story := fs.String("story", "genx", "which story: genx (the GEnx-1B direct entry) or visit (a foreign aircraft's bonded-maintenance visit from entry to write-off; exits 3 when every firm's books for today are closed)")
	apiURL := fs.String("api", "http://127.0.0.1:8080", "`URL` of the zone API of a running bondgate dev")
	gate := fs.String("gate", "http://127.0.0.1:8081", "the dedicated gate G-MRO-1")
	mro := fs.String("mro-token", "mro-hna", "the MRO firm's token")
	otherMRO := fs.String("other-mro-token", "mro-gameco", "with --story visit, the firm to use when the first firm's books for today are closed")
	officer := fs.String("officer-token", "officer-1", "the customs officer's token")
	gateTok := fs.String("gate-token", "gate-mro-1", "the gate's token (for the sensor replay)")
	transit := fs.Duration("transit", 0, "simulated tow from the gate to the workshop (the source's first GEnx-1B took 40m); 0 records the arrival now. The API refuses an arrival later than now, so a tow that would end in the future is recorded as arriving now")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the crossing to reach the zone")
	speed := fs.Float64("speed", 0, "replay rate of the recording: 0 as fast as the gate takes it (with --hardware: 5), 1 real time")
	hardware := fs.Bool("hardware", false, "tell the story through the gate's hardware adapters (needs 'bondgate dev --hardware'): ISAPI ANPR alerts and a Modbus I/O module the demo serves")
	modbusAddr := fs.String("modbus-addr", "", "with --hardware, where to serve the I/O module (default: the fixture's, 127.0.0.1:1502)")
	if err := parse(fs, args); err != nil {
		return err
	}
	o := demo.Options{API: strings.TrimRight(*apiURL, "/"), Gate: strings.TrimRight(*gate, "/"), MROToken: *mro,
		Officer: *officer, GateTok: *gateTok, Transit: *transit, Timeout: *timeout, Speed: *speed, Out: stdout,
		Hardware: *hardware, ModbusAddr: *modbusAddr, OtherMROToken: *otherMRO}
	switch *story {
	case "genx":
		return demo.Run(ctx, o)
	case "visit":
		if *hardware {
			return fmt.Errorf("%w: --hardware tells the genx story only", errUsage)
		}
		return demo.RunVisit(ctx, o)
	}
	return fmt.Errorf("%w: --story must be genx or visit, not %q", errUsage, *story)
}
