package api

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	historyfix "github.com/bondgate/bondgate/fixtures/stats"
	"github.com/bondgate/bondgate/internal/bolt"
	bhttp "github.com/bondgate/bondgate/internal/http"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// apiConsumerGroup is the consumer group of the zone API on the gate topics.
const apiConsumerGroup = "bondgate-api"

// DefaultExpiryInterval is how often the API sweeps for passed windows.
const DefaultExpiryInterval = 30 * time.Second

// zoneFeed is what flows back from the gates into the zone API: the consumer
// of bondgate.gate.crossings and bondgate.gate.alarms, the expiry sweeper,
// and the alarm, crossing and stats services the HTTP routes use.
type zoneFeed struct {
	decls     *zone.DeclarationService
	crossings *zone.CrossingService
	alarms    *zone.AlarmService
	stats     *zone.StatsService
	consumer  *kafka.Consumer
	expiry    time.Duration
	log       *slog.Logger
}

// newZoneFeed wires the feed on db. It hangs the green-channel histogram on
// decls' store, so call it before the store is used.
func newZoneFeed(db *bolt.DB, decls *zone.DeclarationService, brokers []string, sec kafka.Security, dedicatedGates []string, reg *prometheus.Registry,
	metrics *kafka.Metrics, expiry time.Duration, log *slog.Logger) *zoneFeed {
	decls.Store = &zone.DecisionObserver{DeclarationStore: decls.Store, OnDecided: bhttp.GreenChannelMetric(reg)}
	dedicated := map[string]bool{}
	for _, g := range dedicatedGates {
		dedicated[g] = true
	}
	if expiry <= 0 {
		expiry = DefaultExpiryInterval
	}
	f := &zoneFeed{
		decls:     decls,
		crossings: &zone.CrossingService{Store: bolt.NewCrossingStore(db), Declarations: decls, Log: log.With("part", "crossings")},
		alarms:    &zone.AlarmService{Store: bolt.NewAlarmStore(db), Now: decls.Now, Committed: decls.Committed},
		stats:     &zone.StatsService{Source: bolt.NewStatsSource(db), DedicatedGates: dedicated, Now: decls.Now},
		expiry:    expiry,
		log:       log,
	}
	f.consumer = kafka.NewConsumer(kafka.ConsumerConfig{
		Name: "api:gate-feed", Brokers: brokers, Security: sec, GroupID: apiConsumerGroup, Metrics: metrics,
	}, f.handlers(), log.With("part", "gate-feed"))
	return f
}

// handlers apply one event from each gate topic in one bbolt transaction
// (the event ID goes into the seen-set there). An event that is not one of
// ours answers EINVALID: the consumer logs, counts and skips it as poison.
func (f *zoneFeed) handlers() map[string]kafka.Handler {
	return map[string]kafka.Handler{
		zone.TopicCrossings: func(ctx context.Context, ev zone.Event) error {
			_, err := f.crossings.ApplyCrossingEvent(ctx, ev)
			return err
		},
		zone.TopicAlarms: func(ctx context.Context, ev zone.Event) error {
			_, err := f.crossings.ApplyAlarmEvent(ctx, ev)
			return err
		},
	}
}

// run consumes and sweeps until ctx is done.
func (f *zoneFeed) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.consumer.Run(ctx); err != nil {
			f.log.Error("gate feed consumer stopped", "err", err)
		}
	})
	wg.Go(func() {
		_ = (&zone.Expiry{Declarations: f.decls, Interval: f.expiry, Log: f.log.With("part", "expiry")}).Run(ctx)
	})
	wg.Wait()
}

// ready reports the consumer's link for /readyz.
func (f *zoneFeed) ready(st map[string]string) {
	st["gate_feed"] = ""
	if up, lastErr, _ := f.consumer.Link(); kafka.Problem(up, lastErr) != "" {
		st["gate_feed"] = kafka.Problem(up, lastErr)
	} else if !up {
		st["gate_feed"] = "link down"
		if lastErr != nil {
			st["gate_feed"] = "link down: " + lastErr.Error()
		}
	}
}

// seedHistory loads the source's historical figures (fixtures/stats) into
// the store, once: records already there are left as they are.
func seedHistory(ctx context.Context, db *bolt.DB, log *slog.Logger) error {
	hist, err := historyfix.History()
	if err != nil {
		return err
	}
	n, err := bolt.NewStatsSource(db).ImportHistory(ctx, hist)
	if err != nil {
		return fmt.Errorf("seed history: %w", err)
	}
	log.Info("historical moves loaded for /v1/stats", "added", n, "in_fixture", len(hist))
	return nil
}
