package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bondgate/bondgate/internal/zone"
)

// HeaderSeq is the Kafka header carrying the outbox sequence number of a
// message, so readers and checkers can tell retried copies apart.
const HeaderSeq = "bondgate-seq"

// PublisherConfig configures a Publisher. Zero values take the defaults.
type PublisherConfig struct {
	// Name labels logs and metrics (e.g. "gate:G-MRO-1", "api").
	Name    string
	Brokers []string
	// Security is how the writers and probes reach the brokers (TLS, SASL).
	Security Security
	// Topics are those this publisher writes; the idle probe asks to
	// describe them, so an ACL that denies one shows before any write.
	Topics []string
	// BatchSize is the most messages taken from the outbox per write; default 100.
	BatchSize int
	// MaxBatchBytes caps a write's approximate size so kafka-go never splits
	// one partition's messages into two requests that could fail apart;
	// default 1,000,000.
	MaxBatchBytes int
	// WriteTimeout bounds one produce request; default 10 s.
	WriteTimeout time.Duration
	// BackoffMin and BackoffMax bound the capped exponential backoff after a
	// failed write; default 250 ms and 30 s.
	BackoffMin, BackoffMax time.Duration
	// MaxAttempts is how often Kafka may refuse one message for good (too
	// large, invalid, not authorized) before it is quarantined; default 3.
	// Retriable failures (network, timeouts, no leader) are retried forever.
	MaxAttempts int
	// PollInterval is how often an idle publisher looks at the outbox
	// without a Notify; default 200 ms.
	PollInterval time.Duration
	// ProbeInterval is how often an idle publisher probes the brokers to
	// keep its link state true; default 5 s.
	ProbeInterval time.Duration
	// DrainTimeout bounds what Run does after its context ends: the lanes'
	// batches in flight, the final flush and closing the writers; default 5 s.
	DrainTimeout time.Duration
	// OnQuarantine is called after a message was moved to quarantine, so the
	// caller can raise an alarm. It must not block for long.
	OnQuarantine func(m zone.OutboxMessage, reason string)
	// Metrics, when set, receives this publisher's series under Name.
	Metrics *Metrics
}

func (c *PublisherConfig) defaults() {
	if c.Name == "" {
		c.Name = "publisher"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 1_000_000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 250 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(30*time.Second, c.BackoffMin)
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 200 * time.Millisecond
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 5 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
}

// LanedOutbox is an outbox kept in lanes (one per topic in bolt.Outbox),
// each in sequence order. A publisher drains each lane on its own, so a slow
// or bulky topic never holds back another's messages; a key lives in one
// topic, so per-key order holds.
type LanedOutbox interface {
	zone.Outbox
	// Lanes lists the lanes that may hold messages.
	Lanes(ctx context.Context) ([]string, error)
	// PendingIn returns up to max messages from the head of lane, in order.
	PendingIn(ctx context.Context, lane string, max int) ([]zone.OutboxMessage, error)
	// DeliveredIn removes lane's messages with Seq <= through.
	DeliveredIn(ctx context.Context, lane string, through uint64) error
}

// Publisher drains a zone.Outbox to Kafka, each lane (see LanedOutbox; a
// plain outbox is one lane) in sequence order with one batch in flight:
// nothing after a lane's head is sent until the head is acknowledged or
// quarantined, so a failure can duplicate messages but never reorder or skip
// them. Each lane has its own writer and connections, so a hung produce on
// one topic does not hold up another's.
type Publisher struct {
	cfg    PublisherConfig
	outbox zone.Outbox
	log    *slog.Logger
	link   *link

	notify        chan struct{}
	started       atomic.Bool // Run runs once: its lanes own the writers
	lastDelivered atomic.Uint64
	// lastWrite is when a lane last heard from Kafka (unix ns), so an idle
	// probe that ran meanwhile does not overwrite a fresher outcome.
	lastWrite atomic.Int64

	mu    sync.Mutex // guards lanes
	lanes map[string]*lane
}

// NewPublisher builds a publisher for outbox; call Run to start it.
func NewPublisher(cfg PublisherConfig, outbox zone.Outbox, log *slog.Logger) *Publisher {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	// "kafka", not "component": the caller's logger names the component
	// (api, gate), and a key must appear once per line.
	log = log.With("kafka", "publisher", "name", cfg.Name)
	return &Publisher{
		cfg:    cfg,
		outbox: outbox,
		log:    log,
		link:   newLink(cfg.Name, log, cfg.Metrics),
		lanes:  map[string]*lane{},
		notify: make(chan struct{}, 1),
	}
}

// lane is one independently drained queue of the outbox with its own writer.
type lane struct {
	name      string
	log       *slog.Logger
	w         *kafkago.Writer
	wake      chan struct{}
	pending   func(ctx context.Context, max int) ([]zone.OutboxMessage, error)
	delivered func(ctx context.Context, through uint64) error
}

// laneNames lists the outbox's lanes; a plain outbox is the one lane "".
func (p *Publisher) laneNames(ctx context.Context) ([]string, error) {
	if lo, ok := p.outbox.(LanedOutbox); ok {
		return lo.Lanes(ctx)
	}
	return []string{""}, nil
}

// lane returns the lane called name, creating it (and reporting so) on first
// use.
func (p *Publisher) lane(name string) (ln *lane, created bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ln := p.lanes[name]; ln != nil {
		return ln, false
	}
	ln = &lane{name: name, log: p.log.With("lane", name), wake: make(chan struct{}, 1),
		pending: p.outbox.Pending, delivered: p.outbox.Delivered}
	if lo, ok := p.outbox.(LanedOutbox); ok {
		ln.pending = func(ctx context.Context, max int) ([]zone.OutboxMessage, error) { return lo.PendingIn(ctx, name, max) }
		ln.delivered = func(ctx context.Context, through uint64) error { return lo.DeliveredIn(ctx, name, through) }
	}
	ln.w = newWriter(p.cfg, ln.log)
	p.lanes[name] = ln
	return ln, true
}

// newWriter builds the kafka-go writer of one lane.
func newWriter(cfg PublisherConfig, log *slog.Logger) *kafkago.Writer {
	dial := min(5*time.Second, cfg.WriteTimeout)
	return &kafkago.Writer{
		Addr: kafkago.TCP(cfg.Brokers...),
		// Keyed by gate or record ID, so each key keeps its order in one partition.
		Balancer: &kafkago.Hash{},
		// The zero value means acks=0: set it, always.
		RequiredAcks:           kafkago.RequireAll,
		Async:                  false,
		AllowAutoTopicCreation: false,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             int64(cfg.MaxBatchBytes) + 64<<10,
		// The 1 s default would add a second to every write.
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		// We retry ourselves, holding everything behind the head; kafka-go's
		// own retries would let a later batch overtake a failed one.
		MaxAttempts: 1,
		Transport:   writerTransport(cfg, dial),
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka-go writer", "detail", fmt.Sprintf(msg, args...))
		}),
	}
}

func writerTransport(cfg PublisherConfig, dial time.Duration) *kafkago.Transport {
	tr := cfg.Security.transport(dial, 10*time.Second, "bondgate-"+cfg.Name)
	tr.IdleTimeout = 30 * time.Second
	return tr
}

// Notify wakes the publisher because messages were appended. It never blocks.
func (p *Publisher) Notify() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Link reports whether the last contact with Kafka worked, the last error
// seen and when the state last changed.
func (p *Publisher) Link() (up bool, lastErr error, since time.Time) { return p.link.get() }

// LastDelivered is the highest outbox sequence acknowledged by Kafka since
// this publisher started (0 before the first delivery), over all lanes.
func (p *Publisher) LastDelivered() uint64 { return p.lastDelivered.Load() }

// Run publishes until ctx is done, then drains within DrainTimeout: each
// lane finishes its batch in flight, every lane is flushed and the writers
// are closed. It returns nil when the outbox was left empty, else an
// EUNAVAILABLE error saying how many messages stay for the next start.
// Failures while running are retried with backoff; they are reported
// through Link, the log and the metrics, not by returning.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return zone.Errorf(zone.ECONFLICT, "publisher %s already ran", p.cfg.Name)
	}
	p.log.Info("publisher started", "brokers", p.cfg.Brokers, "security", p.cfg.Security.String())
	// work carries the lanes' writes: it outlives ctx by the drain bound, so
	// a batch in flight when ctx ends is finished rather than cut off.
	work, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var lanes sync.WaitGroup
	p.publish(ctx, work, &lanes)

	drain, cancel := context.WithTimeout(context.Background(), p.cfg.DrainTimeout)
	defer cancel()
	defer context.AfterFunc(drain, stopWork)()
	lanesDone := make(chan struct{})
	go func() { lanes.Wait(); close(lanesDone) }()
	var flushErr error
	select {
	case <-lanesDone:
		flushErr = p.flush(drain)
	case <-drain.Done():
		flushErr = drain.Err()
	}
	closeErr := p.closeWriters(drain)
	stopWork()
	<-lanesDone // their writes end with work
	// A fresh context: drain may be spent, and the count is one local read.
	left, derr := p.outbox.Depth(context.Background())
	switch {
	case derr != nil:
		return errors.Join(flushErr, closeErr, derr)
	case left > 0:
		p.log.Warn("publisher stopped with messages pending", "pending", left, "err", flushErr)
		e := zone.Errorf(zone.EUNAVAILABLE, "%d messages left in the outbox", left)
		e.Err = errors.Join(flushErr, closeErr)
		return e
	}
	p.log.Info("publisher stopped", "last_delivered", p.LastDelivered())
	return closeErr
}

// publish starts a lane for each outbox lane as it appears, passes Notify
// on and probes the brokers while idle, until ctx is done.
func (p *Publisher) publish(ctx, work context.Context, lanes *sync.WaitGroup) {
	var lastProbe time.Time
	for ctx.Err() == nil {
		names, err := p.laneNames(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("listing the outbox lanes failed", "err", err)
		}
		for _, name := range names {
			if ln, created := p.lane(name); created {
				lanes.Go(func() { p.runLane(ctx, work, ln) })
			}
		}
		// Idle: keep the link state honest, since no write will.
		if depth, derr := p.outbox.Depth(ctx); derr == nil && depth == 0 && time.Since(lastProbe) >= p.cfg.ProbeInterval {
			lastProbe = time.Now()
			pctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
			perr := Probe(pctx, p.cfg.Brokers, p.cfg.Security, p.cfg.Topics...)
			cancel()
			if ctx.Err() == nil && p.lastWrite.Load() < lastProbe.UnixNano() {
				p.link.set(perr == nil, perr)
			}
		}
		if p.sleep(ctx, p.cfg.PollInterval, p.notify) {
			p.wakeLanes()
		}
	}
}

// wakeLanes passes a Notify on to every lane.
func (p *Publisher) wakeLanes() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ln := range p.lanes {
		select {
		case ln.wake <- struct{}{}:
		default:
		}
	}
}

// runLane drains one lane until ctx is done, backing off after failures.
// Only this goroutine sends the lane's messages until it returns: one batch
// in flight per lane. Writes use work, so the last batch is not cut off.
func (p *Publisher) runLane(ctx, work context.Context, ln *lane) {
	var backoff time.Duration
	for ctx.Err() == nil {
		n, err := p.publishOnce(work, ln)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = nextBackoff(backoff, p.cfg.BackoffMin, p.cfg.BackoffMax)
			if IsAuth(err) {
				// The link logged the refusal once, naming it; only an
				// operator cures it, so retry seldom and quietly.
				backoff = p.cfg.BackoffMax
			} else {
				ln.log.Warn("publish failed, backing off", "err", err, "backoff", backoff)
			}
			p.sleep(ctx, backoff, nil)
			continue
		}
		backoff = 0
		if n > 0 {
			continue
		}
		p.sleep(ctx, p.cfg.PollInterval, ln.wake)
	}
}

// flush drains every lane at once until it is empty, fails or ctx ends, so a
// hung lane does not keep the others from flushing.
func (p *Publisher) flush(ctx context.Context) error {
	names, err := p.laneNames(ctx)
	if err != nil {
		return err
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		ln, _ := p.lane(name)
		wg.Go(func() {
			for ctx.Err() == nil {
				n, err := p.publishOnce(ctx, ln)
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeWriters closes the lanes' kafka-go writers in goroutines: Writer.Close
// can hang while a write is in flight (kafka-go#1307), and Run must not.
func (p *Publisher) closeWriters(ctx context.Context) error {
	p.mu.Lock()
	lanes := make([]*lane, 0, len(p.lanes))
	for _, ln := range p.lanes {
		lanes = append(lanes, ln)
	}
	p.mu.Unlock()
	errc := make(chan error, len(lanes))
	for _, ln := range lanes {
		go func() { errc <- ln.w.Close() }()
	}
	var errs []error
	for range lanes {
		select {
		case err := <-errc:
			errs = append(errs, err)
		case <-ctx.Done():
			p.log.Warn("kafka writer close abandoned", "err", ctx.Err())
			return zone.Errorf(zone.EUNAVAILABLE, "kafka writer did not close in time")
		}
	}
	return errors.Join(errs...)
}

// sleep waits d, or less if ctx ends or wake fires; it reports whether wake
// fired.
func (p *Publisher) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-wake:
		return true
	}
	return false
}

// publishOnce sends one batch from the head of lane ln and returns how many
// messages left it (delivered or quarantined). An error means the head is
// still there and the caller should back off.
func (p *Publisher) publishOnce(ctx context.Context, ln *lane) (int, error) {
	msgs, err := ln.pending(ctx, p.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	msgs = capBytes(msgs, p.cfg.MaxBatchBytes)
	kms := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = toKafka(m)
	}
	err = p.write(ctx, ln, kms...)
	if err == nil {
		return len(msgs), p.delivered(ctx, ln, msgs[len(msgs)-1].Seq, len(msgs))
	}
	p.cfg.Metrics.add(failures, p.cfg.Name, 1)
	if err = p.explain(ctx, err); Retriable(err) {
		p.linkDown(ln, err)
		return 0, err
	}
	return p.narrow(ctx, ln, msgs, err)
}

// narrow handles a batch Kafka refused for good somewhere: it resends the
// batch one message at a time, in order, to find the offending message and
// quarantine it, delivering the rest. Messages the batch write already got
// acknowledged are not sent again.
func (p *Publisher) narrow(ctx context.Context, ln *lane, msgs []zone.OutboxMessage, batchErr error) (int, error) {
	acked := map[uint64]bool{}
	var werrs kafkago.WriteErrors
	if errors.As(batchErr, &werrs) && len(werrs) == len(msgs) {
		for i, e := range werrs {
			if e == nil {
				acked[msgs[i].Seq] = true
			}
		}
	}
	ln.log.Warn("kafka refused a batch, sending one by one", "from_seq", msgs[0].Seq, "n", len(msgs), "err", batchErr)
	done := 0
	for _, m := range msgs {
		if acked[m.Seq] {
			if err := p.delivered(ctx, ln, m.Seq, 1); err != nil {
				return done, err
			}
			done++
			continue
		}
		attempts := m.Attempts
		for {
			err := p.write(ctx, ln, toKafka(m))
			if err == nil {
				if err := p.delivered(ctx, ln, m.Seq, 1); err != nil {
					return done, err
				}
				break
			}
			p.cfg.Metrics.add(failures, p.cfg.Name, 1)
			if Retriable(err) {
				p.linkDown(ln, err)
				return done, err
			}
			if ferr := p.outbox.Failed(ctx, m.Seq); ferr != nil {
				return done, ferr
			}
			attempts++
			if attempts >= p.cfg.MaxAttempts {
				if qerr := p.quarantine(ctx, m, err); qerr != nil {
					return done, qerr
				}
				break
			}
			p.sleep(ctx, p.cfg.BackoffMin, nil)
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
		}
		done++
	}
	return done, nil
}

// explain names a TLS, SASL or ACL refusal behind a failed write.
func (p *Publisher) explain(ctx context.Context, err error) error {
	if len(p.cfg.Brokers) == 0 {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.cfg.Security.explain(pctx, p.cfg.Brokers[0], err)
}

// linkDown records a retriable failure and drops the writer's pooled
// connections: kafka-go's transport caches a failed first contact until its
// next metadata refresh (up to MetadataTTL), which would delay the drain
// after the broker returns, and a frozen broker leaves dead connections.
func (p *Publisher) linkDown(ln *lane, err error) {
	p.lastWrite.Store(time.Now().UnixNano())
	p.link.set(false, err)
	if tr, ok := ln.w.Transport.(*kafkago.Transport); ok {
		tr.CloseIdleConnections()
	}
}

func (p *Publisher) quarantine(ctx context.Context, m zone.OutboxMessage, cause error) error {
	reason := cause.Error()
	if err := p.outbox.Quarantine(ctx, m.Seq, reason); err != nil {
		return err
	}
	p.cfg.Metrics.add(quarantined, p.cfg.Name, 1)
	p.log.Error("message quarantined: kafka refuses it", "seq", m.Seq, "topic", m.Topic, "key", m.Key,
		"bytes", len(m.Value), "reason", reason)
	if p.cfg.OnQuarantine != nil {
		p.cfg.OnQuarantine(m, reason)
	}
	return nil
}

func (p *Publisher) delivered(ctx context.Context, ln *lane, through uint64, n int) error {
	// Kafka has them now; even if the outbox update fails they would only be
	// sent again, which consumers absorb.
	p.lastWrite.Store(time.Now().UnixNano())
	p.link.set(true, nil)
	if err := ln.delivered(ctx, through); err != nil {
		return err
	}
	// Lanes deliver apart: keep the highest.
	for cur := p.lastDelivered.Load(); through > cur && !p.lastDelivered.CompareAndSwap(cur, through); cur = p.lastDelivered.Load() {
	}
	p.cfg.Metrics.delivered(p.cfg.Name, n)
	return nil
}

// write sends msgs synchronously. Each produce request is bounded by
// WriteTimeout inside kafka-go; the outer deadline also covers dialling and
// metadata.
func (p *Publisher) write(ctx context.Context, ln *lane, msgs ...kafkago.Message) error {
	wctx, cancel := context.WithTimeout(ctx, 2*p.cfg.WriteTimeout+time.Second)
	defer cancel()
	return ln.w.WriteMessages(wctx, msgs...)
}

func toKafka(m zone.OutboxMessage) kafkago.Message {
	return kafkago.Message{
		Topic:   m.Topic,
		Key:     []byte(m.Key),
		Value:   m.Value,
		Headers: []kafkago.Header{{Key: HeaderSeq, Value: []byte(strconv.FormatUint(m.Seq, 10))}},
	}
}

// capBytes trims a batch to about limit bytes, keeping at least one message.
// The estimate overcounts per-record overhead so kafka-go's own split never
// triggers.
func capBytes(msgs []zone.OutboxMessage, limit int) []zone.OutboxMessage {
	total := 0
	for i, m := range msgs {
		total += len(m.Key) + len(m.Value) + len(HeaderSeq) + 20 + 64
		if total > limit && i > 0 {
			return msgs[:i]
		}
	}
	return msgs
}

// Retriable reports whether a failed write may succeed later unchanged.
// Refusals about the message itself (too large, invalid) are final;
// everything else (network, timeouts, leader moves, a missing topic or ACL,
// unknown errors) is retried, because retrying cannot lose anything and
// quarantining can.
func Retriable(err error) bool {
	if err == nil {
		return false
	}
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && !Retriable(e) {
				return false
			}
		}
		return true
	}
	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return false
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		switch kerr {
		case kafkago.MessageSizeTooLarge, kafkago.RecordListTooLarge, kafkago.InvalidMessage,
			kafkago.InvalidRecord, kafkago.InvalidTimestamp, kafkago.UnsupportedForMessageFormat:
			return false
		case kafkago.InvalidTopic, kafkago.TopicAuthorizationFailed:
			// A misconfigured topic or ACL refuses every message alike: holding
			// the queue (link down) until an operator fixes it beats
			// quarantining a whole topic's events one by one.
			return true
		}
	}
	return true
}

// nextBackoff doubles prev within [lo, hi].
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	if prev <= 0 {
		return lo
	}
	return min(prev*2, hi)
}
