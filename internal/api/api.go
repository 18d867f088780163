// Package api is the zone API application: one bbolt store, the HTTP
// server (internal/http), the outbox publisher, the feed back from the
// gates, the expiry sweep and the reminder scheduler. cmd/bondgate fills
// its Config and calls New and Run, as it does for gateway.Service.
package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	historyfix "github.com/bondgate/bondgate/fixtures/stats"
	"github.com/bondgate/bondgate/internal/bolt"
	bhttp "github.com/bondgate/bondgate/internal/http"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// Config is the zone API's configuration; cmd/bondgate fills it from
// flags, `dev` from the fixtures.
type Config struct {
	Addr    string
	DataDir string // holds api.db
	Brokers []string
	// KafkaSecurity is how every Kafka client of the API reaches the
	// brokers (TLS, SASL); the zero value is plaintext.
	KafkaSecurity kafka.Security
	Tokens        *zone.Tokens
	Gates         []string // gate IDs a declaration may name; empty allows any
	// DedicatedGates are the gates direct entry goes through, for
	// /v1/stats (e.g. G-MRO-1).
	DedicatedGates []string
	Log            *slog.Logger
	TLS            *tls.Config // nil: plain HTTP
	// MaxConns bounds open HTTP connections (0: web.DefaultMaxConns).
	MaxConns int
	// SeedHistory loads fixtures/stats (the source's historical moves) for /v1/stats.
	SeedHistory bool
	// Samples loads fixtures/samples.json (temporary entries, parts lots)
	// once, for `bondgate dev`.
	Samples bool
	// ExpiryInterval is how often passed windows are swept; default
	// DefaultExpiryInterval.
	ExpiryInterval time.Duration
	// Records configure temporary entries and the parts ledger.
	Records RecordsConfig
	// Replica makes this node a changelog primary or a warm standby; the
	// zero value is a single node.
	Replica ReplicaConfig
	// GateURLs maps gate IDs to their services' base URLs, for the
	// console's gate board (GET /v1/gates, the stream's gate events).
	GateURLs map[string]string
}

// Service is the zone API: the HTTP server with its live feed, the
// publisher that drains the outbox to Kafka, the gate feed and the
// reminder scheduler, over one bbolt store.
type Service struct {
	cfg  Config
	log  *slog.Logger
	db   *bolt.DB
	pub  *kafka.Publisher
	feed *zoneFeed
	recs *records
	srv  *bhttp.Server
	rep  *replica // nil for a single node
}

// New opens the store and wires the parts; Run runs them.
func New(cfg Config) (*Service, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "api.db"), bolt.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	var rep *replica
	if cfg.Replica.Changelog || cfg.Replica.Standby {
		cl, err := kafka.NewChangelog(cfg.Brokers, cfg.KafkaSecurity, log.With("part", "changelog"))
		if err != nil {
			db.Close()
			return nil, err
		}
		rep = newReplica(cfg.Replica, db, cl, log.With("part", "changelog"))
		if err := db.SetReplicator(rep); err != nil {
			cl.Close()
			db.Close()
			return nil, err
		}
	}
	s, err := wire(cfg, db, rep, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func wire(cfg Config, db *bolt.DB, rep *replica, log *slog.Logger) (*Service, error) {
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
	reg.MustRegister(newChangelogCollector(rep))
	kmetrics := kafka.NewMetrics(reg)
	pub := kafka.NewPublisher(kafka.PublisherConfig{
		Name: "api", Brokers: cfg.Brokers, Security: cfg.KafkaSecurity, Metrics: kmetrics,
		Topics: []string{zone.TopicDeclarations, zone.TopicClearances, zone.TopicRecords},
		OnQuarantine: func(m zone.OutboxMessage, reason string) {
			log.Error("event quarantined: Kafka refused it for good", "seq", m.Seq, "topic", m.Topic, "key", m.Key, "reason", reason)
		},
	}, db.Outbox(), log.With("part", "publisher"))

	decls := bolt.NewDeclarationStore(db)
	svc := &zone.DeclarationService{
		Store: decls, ReleaseNotes: decls, Now: time.Now, NewID: func() string { return ulid.Make().String() },
		Source: "bondgate/api", Gates: gateSet(cfg.Gates), Committed: pub.Notify,
	}
	reg.MustRegister(newGreenChannelCollector(svc.Store), newAlarmCollector(bolt.NewAlarmStore(db)),
		newOverdueCollector(bolt.NewTemporaryEntryStore(db)))
	feed := newZoneFeed(db, svc, cfg.Brokers, cfg.KafkaSecurity, cfg.DedicatedGates, reg, kmetrics, cfg.ExpiryInterval, log)
	recs, err := newRecords(db, cfg.Records, pub.Notify, log)
	if err != nil {
		return nil, err
	}
	feed.stats.Visits = recs.visits.Store
	if cfg.SeedHistory {
		if feed.stats.MaintenanceHistory, err = historyfix.MaintenanceHistory(); err != nil {
			return nil, err
		}
	}
	var writeGate func() (string, bool)
	if rep != nil {
		writeGate = rep.primaryURL
	}
	srv := bhttp.NewServer(bhttp.Config{
		Addr: cfg.Addr, TLS: cfg.TLS, MaxConns: cfg.MaxConns, Tokens: cfg.Tokens, Declarations: svc, Audit: bolt.NewAuditTrail(db), Backup: db.WriteBackup, Registry: reg, Log: log,
		Crossings: feed.crossings, Alarms: feed.alarms, Stats: feed.stats,
		TemporaryEntries: recs.entries, Parts: recs.parts, Visits: recs.visits, WriteOffs: recs.writeoffs, Equipment: recs.equipment,
		Console:   bhttp.ConsoleConfig{GateURLs: cfg.GateURLs},
		WriteGate: writeGate,
		Ready: func(ctx context.Context) map[string]string {
			if _, primary := rep.primaryURL(); !primary {
				// A standby publishes nothing and reads no gate feed: it is
				// ready when it follows the log.
				return map[string]string{"store": "", "changelog": rep.state()}
			}
			st := map[string]string{"store": ""}
			if up, lastErr, _ := pub.Link(); kafka.Problem(up, lastErr) != "" {
				st["kafka"] = kafka.Problem(up, lastErr) // "auth failed: …", the cause named
			} else if !up {
				st["kafka"] = "link down"
				if lastErr != nil {
					st["kafka"] = "link down: " + lastErr.Error()
				}
			} else {
				st["kafka"] = ""
			}
			feed.ready(st)
			if rep != nil {
				st["changelog"] = rep.state()
			}
			return st
		},
	})
	return &Service{cfg: cfg, log: log, db: db, pub: pub, feed: feed, recs: recs, srv: srv, rep: rep}, nil
}

// gateSet is ids as a set; none is nil, which allows any gate.
func gateSet(ids []string) map[string]bool {
	if len(ids) == 0 {
		return nil
	}
	set := map[string]bool{}
	for _, g := range ids {
		set[g] = true
	}
	return set
}

// Run runs the zone API until ctx is done. On the way out it stops taking
// requests, lets the publisher flush within its bound, and closes the
// store.
func (s *Service) Run(ctx context.Context) error {
	defer s.db.Close()
	if s.rep != nil {
		defer s.rep.cl.Close()
	}

	// Stop order: the HTTP server stops accepting, ends the live streams and
	// finishes the requests in flight; then the publisher drains the outbox
	// within its own bound (what those requests committed included); then,
	// once every part has returned, the store closes (deferred above). The
	// other parts stop with ctx. A part that fails stops them all.
	g, gctx := errgroup.WithContext(ctx)
	publishing, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	if s.rep != nil {
		// A changelog node serves once its file has caught up with the log,
		// and runs the parts that write (publisher, feed, scheduler, seeds)
		// only while it holds the lease.
		g.Go(func() error { return s.rep.run(gctx) })
		select {
		case <-s.rep.ready:
		case <-gctx.Done():
			stopPublishing()
			return g.Wait()
		}
	}
	writers := func() error {
		if s.cfg.SeedHistory {
			if err := seedHistory(gctx, s.db, s.log); err != nil {
				return err
			}
		}
		if s.cfg.Samples {
			if err := loadSamples(gctx, s.recs, time.Now(), s.log); err != nil {
				return err
			}
			if err := loadVisitSamples(gctx, s.feed.decls, s.feed.crossings, s.recs, time.Now(), s.log); err != nil {
				return err
			}
		}
		g.Go(func() error {
			if err := s.pub.Run(publishing); err != nil {
				s.log.Warn("publisher flush incomplete; the rest stays in the outbox for next start", "err", err)
			}
			return nil
		})
		g.Go(func() error { s.feed.run(gctx); return nil })
		g.Go(func() error { s.recs.run(gctx); return nil })
		return nil
	}
	if s.rep == nil {
		if err := writers(); err != nil {
			return err
		}
	} else {
		g.Go(func() error {
			select {
			case <-s.rep.primary:
				return writers()
			case <-gctx.Done():
				return nil
			}
		})
		g.Go(func() error {
			// A deposed node may write nothing more: no outbox flush.
			select {
			case <-s.rep.deposed:
				stopPublishing()
			case <-gctx.Done():
			}
			return nil
		})
	}
	g.Go(func() error {
		defer stopPublishing()
		if err := s.srv.Start(gctx); err != nil {
			return fmt.Errorf("serve %s: %w", s.cfg.Addr, err)
		}
		return nil
	})
	g.Go(func() error { return s.srv.Stream().Run(gctx) })
	// Keep bbolt's map from counting whole in the resident set after a
	// scan (the check at open, a long list); see bolt.DB.TrimResident.
	g.Go(func() error { s.db.TrimResidentEvery(gctx, time.Second); return nil })
	if err := g.Wait(); err != nil {
		return err
	}
	s.log.Info("zone API stopped")
	return nil
}

// raiseStoreCorrupt records an open, critical alarm in the fresh store.
func raiseStoreCorrupt(db *bolt.DB, moved string) error {
	_, err := bolt.NewAlarmStore(db).Put(context.Background(), &zone.Alarm{
		ID: "api-store-corrupt-" + filepath.Base(moved), Kind: zone.AlarmStoreCorrupt, Severity: zone.SeverityCritical,
		Message: "the zone API's store was corrupt; it was moved to " + moved +
			" and the API started empty: restore the latest backup (ops/RUNBOOK.md)",
		Params:   map[string]string{"service": "api", "moved_to": moved},
		RecordID: filepath.Base(moved), Time: time.Now().UTC(), State: zone.AlarmOpen,
	})
	return err
}
