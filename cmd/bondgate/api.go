package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/bondgate/bondgate/internal/bolt"
	bhttp "github.com/bondgate/bondgate/internal/http"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/zone"
)

// apiOptions is the zone API's configuration, from flags or `dev`.
type apiOptions struct {
	Addr    string
	Data    string
	Brokers []string
	Tokens  *zone.Tokens
	Gates   []string // gate IDs a declaration may name; empty allows any
	Log     *slog.Logger
	TLS     *tls.Config // nil: plain HTTP
	// MaxConns bounds open HTTP connections (0: bhttp.DefaultMaxConns).
	MaxConns int
	// SeedHistory loads fixtures/stats (the source's historical moves) for /v1/stats.
	SeedHistory bool
	// Samples loads fixtures/samples.json (temporary entries, parts lots)
	// once, for `bondgate dev`.
	Samples bool
	// ExpiryInterval is how often passed windows are swept; default 30s.
	ExpiryInterval time.Duration
	// Records configure temporary entries and the parts ledger.
	Records recordOptions
	// GateURLs maps gate IDs to their services' base URLs, for the
	// console's gate board (GET /v1/gates, the stream's gate events).
	GateURLs map[string]string
}

func runAPI(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("api", "--addr A --data DIR --brokers LIST --tokens FILE", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "./data/api", "data folder (holds api.db)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	tokensFile := fs.String("tokens", "", "tokens file (JSON array; see README)")
	gates := fs.String("gates", "", "gate IDs a pre-declaration may name, comma-separated (empty: any)")
	maxConns := fs.Int("max-conns", bhttp.DefaultMaxConns, "open HTTP connections at most; past it the longest-idle one is closed")
	tlsFiles := tlsFlags(fs)
	seed := fs.Bool("seed-history", false, "load the source's historical moves (fixtures/stats) for /v1/stats")
	expiry := fs.Duration("expiry-interval", defaultExpiryInterval, "how often declarations whose window passed unused are expired")
	recOpts := recordFlags(fs)
	gateURLs := fs.String("gate-urls", "", "gate services for the console's gate board, GATE=URL comma-separated (e.g. G-MRO-1=http://127.0.0.1:8081)")
	newLog := logFlags(fs)
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
	gateLinks, err := parseGateURLs(*gateURLs)
	if err != nil {
		return err
	}
	return serveAPI(ctx, apiOptions{GateURLs: gateLinks, Addr: *addr, Data: *data, Brokers: splitList(*brokers), Tokens: toks,
		Gates: splitList(*gates), Log: log.With("component", "api"), TLS: tlsCfg, MaxConns: *maxConns, SeedHistory: *seed, ExpiryInterval: *expiry, Records: recOpts()})
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

// serveAPI runs the zone API until ctx is done: the HTTP server with its
// live feed, the publisher that drains the outbox to Kafka, the gate feed,
// the reminder scheduler. On the way out it stops taking requests, lets the
// publisher flush within its bound, and closes the store.
func serveAPI(ctx context.Context, o apiOptions) error {
	log := o.Log
	if err := os.MkdirAll(o.Data, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	db, err := bolt.Open(filepath.Join(o.Data, "api.db"), bolt.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	if moved, ok := db.Recovered(); ok {
		// The old file is kept for forensics; the API starts on a fresh one,
		// and an officer must see that it did (a restore is needed).
		log.Error("store was corrupt: moved aside and started fresh", "moved_to", moved)
		if err := raiseStoreCorrupt(db, moved); err != nil {
			log.Error("could not record the store-corrupt alarm", "err", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerAPIStoreMetrics(reg, db.Outbox())
	kmetrics := kafka.NewMetrics(reg)
	pub := kafka.NewPublisher(kafka.PublisherConfig{
		Name: "api", Brokers: o.Brokers, Metrics: kmetrics,
		OnQuarantine: func(m zone.OutboxMessage, reason string) {
			log.Error("event quarantined: Kafka refused it for good", "seq", m.Seq, "topic", m.Topic, "key", m.Key, "reason", reason)
		},
	}, db.Outbox(), log.With("part", "publisher"))

	var gates map[string]bool
	if len(o.Gates) > 0 {
		gates = map[string]bool{}
		for _, g := range o.Gates {
			gates[g] = true
		}
	}
	svc := &zone.DeclarationService{
		Store: bolt.NewDeclarationStore(db), Now: time.Now, NewID: func() string { return ulid.Make().String() },
		Source: "bondgate/api", Gates: gates, Committed: pub.Notify,
	}
	reg.MustRegister(newGreenChannelCollector(svc.Store), newAlarmCollector(bolt.NewAlarmStore(db)),
		newOverdueCollector(bolt.NewTemporaryEntryStore(db)))
	feed := newZoneFeed(db, svc, o.Brokers, reg, kmetrics, o.ExpiryInterval, log)
	if o.SeedHistory {
		if err := seedHistory(ctx, db, log); err != nil {
			return err
		}
	}
	recs, err := newRecords(db, o.Records, pub.Notify, log)
	if err != nil {
		return err
	}
	if o.Samples {
		if err := loadSamples(ctx, recs, time.Now(), log); err != nil {
			return err
		}
	}
	srv := bhttp.NewServer(bhttp.Config{
		Addr: o.Addr, TLS: o.TLS, MaxConns: o.MaxConns, Tokens: o.Tokens, Declarations: svc, Audit: bolt.NewAuditTrail(db), Backup: db.WriteBackup, Registry: reg, Log: log,
		Crossings: feed.crossings, Alarms: feed.alarms, Stats: feed.stats,
		TemporaryEntries: recs.entries, Parts: recs.parts,
		Console: bhttp.ConsoleConfig{GateURLs: o.GateURLs},
		Ready: func(ctx context.Context) map[string]string {
			st := map[string]string{"store": ""}
			if up, lastErr, _ := pub.Link(); !up {
				st["kafka"] = "link down"
				if lastErr != nil {
					st["kafka"] = "link down: " + lastErr.Error()
				}
			} else {
				st["kafka"] = ""
			}
			feed.ready(st)
			return st
		},
	})

	// Stop order: the HTTP server stops accepting, ends the live streams and
	// finishes the requests in flight; then the publisher drains the outbox
	// within its own bound (what those requests committed included); then,
	// once every part has returned, the store closes (deferred above). The
	// other parts stop with ctx. A part that fails stops them all.
	g, gctx := errgroup.WithContext(ctx)
	publishing, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	g.Go(func() error {
		defer stopPublishing()
		if err := srv.Start(gctx); err != nil {
			return fmt.Errorf("serve %s: %w", o.Addr, err)
		}
		return nil
	})
	g.Go(func() error {
		if err := pub.Run(publishing); err != nil {
			log.Warn("publisher flush incomplete; the rest stays in the outbox for next start", "err", err)
		}
		return nil
	})
	g.Go(func() error { return srv.Stream().Run(gctx) })
	g.Go(func() error { feed.run(gctx); return nil })
	g.Go(func() error { recs.run(gctx); return nil })
	// Keep bbolt's map from counting whole in the resident set after a
	// scan (the check at open, a long list); see bolt.DB.TrimResident.
	g.Go(func() error { db.TrimResidentEvery(gctx, time.Second); return nil })
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("zone API stopped")
	return nil
}

// raiseStoreCorrupt records an open, critical alarm in the fresh store.
func raiseStoreCorrupt(db *bolt.DB, moved string) error {
	_, err := bolt.NewAlarmStore(db).Put(context.Background(), &zone.Alarm{
		ID: "api-store-corrupt-" + filepath.Base(moved), Kind: zone.AlarmStoreCorrupt, Severity: "critical",
		Message: "the zone API's store was corrupt; it was moved to " + moved +
			" and the API started empty: restore the latest backup (ops/RUNBOOK.md)",
		Params:   map[string]string{"service": "api", "moved_to": moved},
		RecordID: filepath.Base(moved), Time: time.Now().UTC(), State: zone.AlarmOpen,
	})
	return err
}
