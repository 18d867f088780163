// Command bondgate runs the bonded-zone gate system: the zone API, one gate
// service per gate, the embedded Kafka-protocol broker, and `dev`, which
// starts all of them on loopback. This file is flags and wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/bondgate/bondgate/internal/demo"
)

// version is set at build time from git describe (see Makefile).
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "all-in-one on loopback: broker, zone API, gates G-MRO-1 and G-MAIN, fixtures loaded", runDev},
		{"broker", "the embedded Kafka-protocol broker alone (dev and tests)", runBroker},
		{"api", "the zone API", runAPI},
		{"gate", "one gate service", runGate},
		{"sim", "replay a recorded sensor stream against a running gate", runSim},
		{"demo", "tell a story against a running `bondgate dev`: the GEnx-1B direct entry, or (--story visit) an aircraft visit from entry to write-off", runDemo},
		{"backup", "copy a service's bbolt file: hot from a running service (--from URL) or from --data", runBackup},
		{"check", "check bbolt files for damage (exit 1 naming each damaged file)", runCheck},
		{"topics", "create or check the Kafka topics a file (ops/kafka/topics.json) describes", runTopics},
		{"bench", "performance harness: `bench run` prints every figure with its same-run baseline (README Performance)", runBench},
		{"version", "print the version (also: bondgate --version)", func(_ context.Context, _ []string, out, _ io.Writer) error {
			fmt.Fprintln(out, "bondgate", version)
			return nil
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "bondgate %s — customs bonded-zone gate and zone API\n\nUsage: bondgate <command> [flags]\n\nCommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'bondgate <command> --help' for its flags. Every flag also reads BONDGATE_<FLAG> from the environment.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		// SIGTERM and Ctrl-C cancel the context: every part drains and the
		// process exits 0.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			if err != errUsage { // a wrapped one says what is missing
				fmt.Fprintln(stderr, errLine(c.name, err))
			}
			return 2
		case errors.Is(err, errTopicsDiffer), errors.Is(err, demo.ErrBooksClosed):
			fmt.Fprintln(stderr, errLine(c.name, err))
			return 3
		default:
			fmt.Fprintln(stderr, errLine(c.name, err))
			return 1
		}
	}
	fmt.Fprintf(stderr, "bondgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

var errUsage = errors.New("usage")

// errLine is a command's error as printed: "bondgate NAME: message", with
// the package prefix some errors carry ("sim: ...") said only once.
func errLine(name string, err error) string {
	return "bondgate " + name + ": " + strings.TrimPrefix(err.Error(), name+": ")
}

// flagSet makes a FlagSet whose usage text names the env variables.
func flagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bondgate %s %s\n\nFlags (each also read from BONDGATE_<FLAG>, e.g. %s):\n", name, synopsis, envName("brokers"))
		fs.PrintDefaults()
	}
	return fs
}

// envName is the environment variable that stands in for a flag.
func envName(flagName string) string {
	return "BONDGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies BONDGATE_* environment values first, then the command line,
// so a flag given on the command line wins over the environment.
func parse(fs *flag.FlagSet, args []string) error {
	var bad []string
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				bad = append(bad, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
			}
		}
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("bad environment: %s", strings.Join(bad, "; "))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// logFlags adds --log-format and --log-level and returns a constructor.
func logFlags(fs *flag.FlagSet) func(w io.Writer) *slog.Logger {
	format := fs.String("log-format", "text", "log format: text or json")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	return func(w io.Writer) *slog.Logger {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			lv = slog.LevelInfo
		}
		opts := &slog.HandlerOptions{Level: lv}
		if *format == "json" {
			return slog.New(slog.NewJSONHandler(w, opts))
		}
		return slog.New(slog.NewTextHandler(w, opts))
	}
}

// splitList turns "a,b , c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
