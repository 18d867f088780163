package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bondgate/bondgate/internal/bench"
)

// runBench is `bondgate bench`: the performance harness of README
// "Performance" (internal/bench). `bench run` starts this binary's broker,
// gate and api commands, loads them and prints every figure with the
// baseline measured in the same run and the ratio.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "Usage: bondgate bench run [--scale small|full|huge] [--only 1,2,...]\n" +
		"(--help lists its flags; every flag also reads BONDGATE_<FLAG>)"
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, use)
		return flag.ErrHelp
	case "run":
	default:
		fmt.Fprintf(stderr, "bondgate bench: unknown part %q (run)\n", args[0])
		return errUsage
	}
	fs := flagSet("bench run", "[--scale small|full] [--only 1,2,...]", stderr)
	scale := fs.String("scale", "small", "small (quick: figure 1's growth at 100k events), full (the issue's sizes: 1M backlog, 100k declarations, growth to 1M, figure 1 on a log of 1M events) or huge (full plus lists over 1M declarations and figure 1 on a log of 10M events)")
	only := fs.String("only", "", "figures to run, comma-separated (1 ingest, 2 drain, 4 end-to-end, 5 reads, 6 growth, 7 clearance lane, 8 hardware adapters, 9 standby: changelog latency, failover, rebuild); empty: all")
	lua := fs.String("lua", "ops/bench/events.lua", "the wrk script for figure 1")
	wrk := fs.String("wrk", "wrk", "the wrk binary")
	neutral := fs.String("neutral", "", "figure 1's neutral ceiling binary (built from ops/bench/baseline when empty)")
	jetstream := fs.String("jetstream", "", "figure 1's JetStream peer binary (built from ops/bench/peers/jetstream when empty)")
	keep := fs.Bool("keep", false, "keep the scratch folder (data and process logs)")
	newLog := logFlags(fs)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	return bench.Run(ctx, bench.Config{Bin: bin, Scale: *scale, Only: splitList(*only), Lua: *lua, Wrk: *wrk, Keep: *keep,
		Neutral: *neutral, JetStream: *jetstream,
		Log: newLog(stderr)}, stdout)
}
