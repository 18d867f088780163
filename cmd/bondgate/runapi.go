package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bondgate/bondgate/internal/api"
	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

func runAPI(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("api", "--addr A --data DIR --brokers LIST --tokens FILE", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "./data/api", "data folder (holds api.db)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	tokensFile := fs.String("tokens", "", "tokens file (JSON array; see README)")
	gates := fs.String("gates", "", "gate IDs a pre-declaration may name, comma-separated (empty: any)")
	dedicated := fs.String("dedicated-gates", "", "gates direct entry goes through, comma-separated (e.g. G-MRO-1), for /v1/stats")
	maxConns := fs.Int("max-conns", web.DefaultMaxConns, "open HTTP connections at most; past it the longest-idle one is closed")
	tlsFiles := tlsFlags(fs)
	kafkaSecurity := kafkaSecurityFlags(fs)
	seed := fs.Bool("seed-history", false, "load the source's historical moves (fixtures/stats) for /v1/stats")
	expiry := fs.Duration("expiry-interval", api.DefaultExpiryInterval, "how often declarations whose window passed unused are expired")
	above := fs.String("parts-exit-approval-above", "", "exempted duty (e.g. 50000.00) above which parts leaving the island wait for customs approval; empty: off")
	reminders := fs.Duration("reminder-interval", api.DefaultReminderInterval, "how often temporary-entry reminders and overdue deadlines are checked")
	gateURLs := fs.String("gate-urls", "", "gate services for the console's gate board, GATE=URL comma-separated (e.g. G-MRO-1=http://127.0.0.1:8081)")
	newLog := logFlags(fs)
	replica := replicaFlags(fs, addr)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := newLog(stderr)
	toks, err := loadTokens(*tokensFile)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsconf.Load(*tlsFiles)
	if err != nil {
		return err
	}
	ksec, err := kafkaSecurity()
	if err != nil {
		return err
	}
	gateLinks, err := parseGateURLs(*gateURLs)
	if err != nil {
		return err
	}
	return serveAPI(ctx, api.Config{GateURLs: gateLinks, Addr: *addr, DataDir: *data, Brokers: splitList(*brokers), KafkaSecurity: ksec, Tokens: toks,
		Gates: splitList(*gates), DedicatedGates: splitList(*dedicated), Log: log.With("component", "api"), TLS: tlsCfg,
		MaxConns: *maxConns, SeedHistory: *seed, ExpiryInterval: *expiry,
		Records: api.RecordsConfig{ExitApprovalAbove: *above, ReminderInterval: *reminders}, Replica: replica()})
}

func serveAPI(ctx context.Context, cfg api.Config) error {
	svc, err := api.New(cfg)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

func loadTokens(path string) (*zone.Tokens, error) {
	if path == "" {
		return nil, fmt.Errorf("--tokens is required (a JSON array; see fixtures/tokens.json)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer f.Close()
	return zone.ParseTokens(f)
}
