package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bondgate/bondgate/gateway/sim"
)

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("sim", "--gate URL --token T FILE", stderr)
	gate := fs.String("gate", "http://127.0.0.1:8081", "base URL of the gate service")
	token := fs.String("token", "", "gate token for the gate the recording names (required)")
	speed := fs.Float64("speed", 0, "replay rate: 0 as fast as the gate takes it, 1 real time, 10 ten times faster")
	batch := fs.Int("batch", 100, "events per POST (at most 1000)")
	noRebase := fs.Bool("no-rebase", false, "post the recording byte for byte (default: shift times to now and make event and track IDs unique to this run)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args); err != nil {
		return err
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
