package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bondgate/bondgate/internal/zone"
)

// ErrPoison marks a message that can never be applied (bad JSON, an unknown
// event shape): the consumer logs, counts and commits past it instead of
// retrying it forever and stopping everything behind it. A Handler may wrap
// it; an EINVALID error from a Handler counts the same.
var ErrPoison = errors.New("message can never be applied")

// Handler applies one decoded event, typically in one transaction with
// the event ID in a seen-set. An error with code EINVALID (or wrapping
// ErrPoison) means the event can never be applied; any other error is
// retried with backoff.
type Handler func(ctx context.Context, e zone.Event) error

// ConsumerConfig configures a Consumer. Zero values take the defaults.
type ConsumerConfig struct {
	// Name labels logs and metrics (e.g. "gate:G-MRO-1:clearances").
	Name    string
	Brokers []string
	// Security is how the reader and probes reach the brokers (TLS, SASL).
	Security Security
	// GroupID is the consumer group; commits are kept under it.
	GroupID string
	// StartOffset applies when the group has no commit yet:
	// kafkago.FirstOffset (the default) or kafkago.LastOffset.
	StartOffset int64
	// MinBytes, MaxBytes and MaxWait shape fetches; defaults 1 byte, 10 MB
	// and 250 ms so a lone message is applied promptly.
	MinBytes, MaxBytes int
	MaxWait            time.Duration
	// BackoffMin and BackoffMax bound the retry of a failed apply or fetch;
	// defaults 100 ms and 10 s.
	BackoffMin, BackoffMax time.Duration
	// SessionTimeout for the group; default 10 s (kfake's minimum is 6 s).
	SessionTimeout time.Duration
	// ProbeInterval is how often the brokers are probed for Link; default 5 s.
	ProbeInterval time.Duration
	// DrainTimeout bounds closing the reader once Run's context ends (it
	// leaves the group); default 5 s.
	DrainTimeout time.Duration
	// OnPoison is called for each message skipped as poison.
	OnPoison func(topic string, err error)
	// Metrics, when set, receives this consumer's series under Name.
	Metrics *Metrics
}

func (c *ConsumerConfig) defaults() {
	if c.Name == "" {
		c.Name = c.GroupID
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafkago.FirstOffset
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 1
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 250 * time.Millisecond
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(10*time.Second, c.BackoffMin)
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
}

// Consumer runs the consume-apply-commit loop: FetchMessage, decode the
// CloudEvent, hand it to the topic's Handler, then CommitMessages. It never commits past a message that was not applied,
// so a crash re-delivers rather than loses; the seen-set absorbs the repeat.
type Consumer struct {
	cfg      ConsumerConfig
	handlers map[string]Handler // by topic
	topics   []string
	log      *slog.Logger
	link     *link

	started atomic.Bool // Run runs once
}

// NewConsumer builds a consumer of the topics handlers names, each message
// going to its topic's handler; call Run to start it.
func NewConsumer(cfg ConsumerConfig, handlers map[string]Handler, log *slog.Logger) *Consumer {
	cfg.defaults()
	topics := make([]string, 0, len(handlers))
	for t := range handlers {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	if log == nil {
		log = slog.Default()
	}
	// "kafka", not "component": the caller's logger names the component.
	log = log.With("kafka", "consumer", "name", cfg.Name, "group", cfg.GroupID)
	return &Consumer{cfg: cfg, handlers: handlers, topics: topics, log: log, link: newLink(cfg.Name, log, cfg.Metrics)}
}

// Link reports whether the last contact with Kafka worked, the last error
// seen and when the state last changed.
func (c *Consumer) Link() (up bool, lastErr error, since time.Time) { return c.link.get() }

// Run consumes until ctx is done, then closes its reader within
// DrainTimeout and returns nil. A message being applied when ctx ends is
// finished or abandoned uncommitted, never committed unapplied. It returns
// an error only for a configuration it cannot run with. A broker that goes
// away is waited for; the reader reconnects by itself.
func (c *Consumer) Run(ctx context.Context) error {
	if c.cfg.GroupID == "" || len(c.topics) == 0 || len(c.cfg.Brokers) == 0 {
		return zone.Errorf(zone.EINVALID, "consumer %s needs brokers, a group and a handler per topic", c.cfg.Name)
	}
	if !c.started.CompareAndSwap(false, true) {
		return zone.Errorf(zone.ECONFLICT, "consumer %s already ran", c.cfg.Name)
	}
	var probing sync.WaitGroup
	defer probing.Wait() // after cancel: the probe ends with ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:     c.cfg.Brokers,
		GroupID:     c.cfg.GroupID,
		GroupTopics: c.topics,
		StartOffset: c.cfg.StartOffset,
		MinBytes:    c.cfg.MinBytes,
		MaxBytes:    c.cfg.MaxBytes,
		MaxWait:     c.cfg.MaxWait,
		// Synchronous commits: CommitMessages returns once the broker has it.
		CommitInterval:    0,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.SessionTimeout / 4,
		RebalanceTimeout:  c.cfg.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    c.cfg.BackoffMin,
		ReadBackoffMax:    c.cfg.BackoffMax,
		ReadLagInterval:   -1,
		Dialer:            c.cfg.Security.dialer(5*time.Second, "bondgate-"+c.cfg.Name),
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			c.log.Debug("kafka-go reader", "detail", fmt.Sprintf(msg, args...))
		}),
	})
	defer c.closeReader(r)

	probing.Go(func() { c.probe(ctx) })
	c.log.Info("consumer started", "topics", c.topics, "brokers", c.cfg.Brokers, "security", c.cfg.Security.String())

	var backoff time.Duration
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			err = c.cfg.Security.explain(ctx, c.cfg.Brokers[0], err)
			c.link.set(false, err)
			backoff = nextBackoff(backoff, c.cfg.BackoffMin, c.cfg.BackoffMax)
			if IsAuth(err) {
				backoff = c.cfg.BackoffMax // logged once by the link
			} else {
				c.log.Warn("fetch failed, backing off", "err", err, "backoff", backoff)
			}
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		c.link.set(true, nil)
		if !c.applyOne(ctx, m) {
			return nil
		}
		c.commit(ctx, r, m)
	}
}

// applyOne applies m until it works or is poison. It returns false only when
// ctx ended first; m is then neither applied nor committed.
func (c *Consumer) applyOne(ctx context.Context, m kafkago.Message) bool {
	var backoff time.Duration
	for {
		err := Apply(ctx, c.handlers[m.Topic], m.Value)
		switch {
		case err == nil:
			c.cfg.Metrics.add(applied, c.cfg.Name, 1)
			return true
		case errors.Is(err, ErrPoison):
			c.cfg.Metrics.add(poison, c.cfg.Name, 1)
			c.log.Error("poison message skipped", "topic", m.Topic, "partition", m.Partition,
				"offset", m.Offset, "key", string(m.Key), "err", err)
			if c.cfg.OnPoison != nil {
				c.cfg.OnPoison(m.Topic, err)
			}
			return true
		case ctx.Err() != nil:
			return false
		}
		c.cfg.Metrics.add(applyErrors, c.cfg.Name, 1)
		backoff = nextBackoff(backoff, c.cfg.BackoffMin, c.cfg.BackoffMax)
		c.log.Warn("apply failed, retrying", "topic", m.Topic, "partition", m.Partition,
			"offset", m.Offset, "err", err, "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return false
		}
	}
}

// commit records m as done. A commit that keeps failing is given up on: the
// message was applied, so the worst case is a re-delivery after a rebalance
// or restart, which the caller's seen-set absorbs.
func (c *Consumer) commit(ctx context.Context, r *kafkago.Reader, m kafkago.Message) {
	backoff := c.cfg.BackoffMin
	for attempt := 1; ; attempt++ {
		err := r.CommitMessages(ctx, m)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 3 {
			c.log.Warn("commit failed, message may be delivered again", "topic", m.Topic,
				"partition", m.Partition, "offset", m.Offset, "err", err)
			return
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = nextBackoff(backoff, c.cfg.BackoffMin, c.cfg.BackoffMax)
	}
}

// probe keeps Link true while no message flows: an idle topic says nothing
// about the broker.
func (c *Consumer) probe(ctx context.Context) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := Probe(pctx, c.cfg.Brokers, c.cfg.Security, c.topics...)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.link.set(err == nil, err)
		if !sleepCtx(ctx, c.cfg.ProbeInterval) {
			return
		}
	}
}

// closeReader closes r within DrainTimeout, since a reader stuck on a frozen
// broker must not hold shutdown hostage.
func (c *Consumer) closeReader(r *kafkago.Reader) {
	errc := make(chan error, 1)
	go func() { errc <- r.Close() }()
	select {
	case err := <-errc:
		if err != nil {
			c.log.Warn("closing kafka reader", "err", err)
		}
	case <-time.After(c.cfg.DrainTimeout):
		c.log.Warn("kafka reader close abandoned", "after", c.cfg.DrainTimeout)
	}
	c.log.Info("consumer stopped")
}

// Apply is what the consumer does with one message value: decode it as a
// CloudEvent and hand it to h. The error wraps ErrPoison when the message
// can never be applied (not a CloudEvent, no handler, or h answered
// EINVALID); any other error is worth retrying.
func Apply(ctx context.Context, h Handler, value []byte) error {
	if h == nil {
		return fmt.Errorf("%w: no handler for this topic", ErrPoison)
	}
	e, err := DecodeEvent(value)
	if err != nil {
		return err
	}
	err = h(ctx, e)
	if zone.ErrorCode(err) == zone.EINVALID && !errors.Is(err, ErrPoison) {
		return fmt.Errorf("%w: %v", ErrPoison, err)
	}
	return err
}

// DecodeEvent parses a message value as a CloudEvents JSON envelope. A value
// that is not one is poison: the error wraps ErrPoison.
func DecodeEvent(value []byte) (zone.Event, error) {
	var e zone.Event
	if err := json.Unmarshal(value, &e); err != nil {
		return zone.Event{}, fmt.Errorf("%w: not JSON: %v", ErrPoison, err)
	}
	if e.ID == "" || e.Type == "" || e.Source == "" {
		return zone.Event{}, fmt.Errorf("%w: not a CloudEvent (id, source and type required)", ErrPoison)
	}
	if len(e.ID) > zone.MaxKeyLen {
		// The ID goes into the consumer's seen-set as a key.
		return zone.Event{}, fmt.Errorf("%w: event id longer than %d bytes", ErrPoison, zone.MaxKeyLen)
	}
	return e, nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
