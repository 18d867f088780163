package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bondgate/bondgate/gateway"
)

func runGate(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("gate", "--id GATE --addr A --data DIR --brokers LIST --tokens FILE", stderr)
	id := fs.String("id", "", "gate ID this service guards, e.g. G-MRO-1 (required)")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	data := fs.String("data", "", "data folder (default ./data/gate-<ID>)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	tokensFile := fs.String("tokens", "", "tokens file (JSON array; see README)")
	window := fs.Duration("window", 10*time.Second, "correlation window either side of an infrared crossing")
	minConf := fs.Float64("min-confidence", 0.8, "camera reads below this confidence do not identify")
	silent := fs.Duration("silent-after", 60*time.Second, "a sensor without heartbeat for this long raises an alarm")
	maxSize := fs.Int64("max-size", 0, "cap on the gate's database file in bytes (0: none); ingest answers 503 near it")
	newLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fs.Usage()
		return fmt.Errorf("--id is required")
	}
	if *data == "" {
		*data = "./data/gate-" + *id
	}
	toks, err := loadTokens(*tokensFile)
	if err != nil {
		return err
	}
	return serveGate(ctx, gateway.Config{GateID: *id, Addr: *addr, DataDir: *data, Brokers: splitList(*brokers),
		Tokens: toks, Window: *window, MinConfidence: *minConf, SilentAfter: *silent, MaxSize: *maxSize,
		Log: gateLogger(newLog(stderr), *id)})
}

func serveGate(ctx context.Context, cfg gateway.Config) error {
	svc, err := gateway.New(cfg)
	if err != nil {
		return fmt.Errorf("gate %s: %w", cfg.GateID, err)
	}
	return svc.Run(ctx)
}

// gateLogger is the logger for one gate inside `dev`.
func gateLogger(base *slog.Logger, id string) *slog.Logger {
	return base.With("component", "gate")
}
