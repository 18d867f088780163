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
}

// Publisher drains a zone.Outbox to Kafka in sequence order with one batch in
// flight: nothing after the head is sent until the head is acknowledged or
// quarantined, so a failure can duplicate messages but never reorder or skip
// them.
type Publisher struct {
	cfg    PublisherConfig
	outbox zone.Outbox
	log    *slog.Logger
	w      *kafkago.Writer
	link   *link

	notify        chan struct{}
	stop          chan struct{}
	stopOnce      sync.Once
	lastDelivered atomic.Uint64

	mu      sync.Mutex
	runDone chan struct{} // closed when Run returns; nil before Run
	closed  bool
	closeMu sync.Mutex // serialises closing the writer
	wClosed bool

	shutdownOnce sync.Once
	shutdownErr  error
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
	dial := min(5*time.Second, cfg.WriteTimeout)
	w := &kafkago.Writer{
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
		Transport: &kafkago.Transport{
			DialTimeout: dial,
			IdleTimeout: 30 * time.Second,
			MetadataTTL: 10 * time.Second,
			ClientID:    "bondgate-" + cfg.Name,
		},
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka-go writer", "detail", fmt.Sprintf(msg, args...))
		}),
	}
	return &Publisher{
		cfg:    cfg,
		outbox: outbox,
		log:    log,
		w:      w,
		link:   newLink(cfg.Name, log, cfg.Metrics),
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
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
// this publisher started (0 before the first delivery).
func (p *Publisher) LastDelivered() uint64 { return p.lastDelivered.Load() }

// Run publishes until ctx is done or Shutdown is called, then returns nil.
// Failures are retried with backoff; they are reported through Link, the
// log and the metrics, not by returning.
func (p *Publisher) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.closed || p.runDone != nil {
		p.mu.Unlock()
		return zone.Errorf(zone.ECONFLICT, "publisher %s already running or shut down", p.cfg.Name)
	}
	done := make(chan struct{})
	p.runDone = done
	p.mu.Unlock()
	defer close(done)

	p.log.Info("publisher started", "brokers", p.cfg.Brokers)
	var (
		backoff   time.Duration
		lastProbe time.Time
	)
	for {
		if p.stopping(ctx) {
			return nil
		}
		n, err := p.publishOnce(ctx)
		if err != nil {
			if p.stopping(ctx) {
				return nil
			}
			backoff = nextBackoff(backoff, p.cfg.BackoffMin, p.cfg.BackoffMax)
			p.log.Warn("publish failed, backing off", "err", err, "backoff", backoff)
			p.sleep(ctx, backoff, nil)
			continue
		}
		backoff = 0
		if n > 0 {
			continue
		}
		// Idle: keep the link state honest, since no write will.
		if time.Since(lastProbe) >= p.cfg.ProbeInterval {
			lastProbe = time.Now()
			pctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
			perr := Ping(pctx, p.cfg.Brokers)
			cancel()
			if ctx.Err() == nil {
				p.link.set(perr == nil, perr)
			}
		}
		p.sleep(ctx, p.cfg.PollInterval, p.notify)
	}
}

// Shutdown stops Run after its current batch, flushes what it can of the
// outbox within ctx, and closes the Kafka writer, also bounded by ctx (5 s if
// ctx has no deadline). What is not flushed stays in the outbox for the next
// start; the error says so.
func (p *Publisher) Shutdown(ctx context.Context) error {
	// Only the first call flushes; later ones (a deferred Close after a
	// SIGTERM shutdown) return its result at once.
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Publisher) shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	p.stopOnce.Do(func() { close(p.stop) })
	p.mu.Lock()
	p.closed = true
	done := p.runDone
	p.mu.Unlock()

	runExited := true
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			runExited = false
		}
	}
	var flushErr error
	if runExited {
		for ctx.Err() == nil {
			n, err := p.publishOnce(ctx)
			if err != nil {
				flushErr = err
				break
			}
			if n == 0 {
				break
			}
		}
	}
	closeErr := p.closeWriter(ctx)
	left, derr := p.outbox.Depth(context.WithoutCancel(ctx))
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

// Close shuts the publisher down within 5 s.
func (p *Publisher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

// closeWriter closes the kafka-go writer in a goroutine: Writer.Close can
// hang while a write is in flight (kafka-go#1307), and shutdown must not.
func (p *Publisher) closeWriter(ctx context.Context) error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.wClosed {
		return nil
	}
	p.wClosed = true
	errc := make(chan error, 1)
	go func() { errc <- p.w.Close() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		p.log.Warn("kafka writer close abandoned", "err", ctx.Err())
		return zone.Errorf(zone.EUNAVAILABLE, "kafka writer did not close in time")
	}
}

func (p *Publisher) stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// sleep waits d, or less if ctx ends, Shutdown is called or wake fires.
func (p *Publisher) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-p.stop:
	case <-wake:
	}
}

// publishOnce sends one batch from the head of the outbox and returns how
// many messages left the queue (delivered or quarantined). An error means
// the head is still there and the caller should back off.
func (p *Publisher) publishOnce(ctx context.Context) (int, error) {
	msgs, err := p.outbox.Pending(ctx, p.cfg.BatchSize)
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
	err = p.write(ctx, kms...)
	if err == nil {
		return len(msgs), p.delivered(ctx, msgs[len(msgs)-1].Seq, len(msgs))
	}
	p.cfg.Metrics.add(failures, p.cfg.Name, 1)
	if Retriable(err) {
		p.linkDown(err)
		return 0, err
	}
	return p.narrow(ctx, msgs, err)
}

// narrow handles a batch Kafka refused for good somewhere: it resends the
// batch one message at a time, in order, to find the offending message and
// quarantine it, delivering the rest. Messages the batch write already got
// acknowledged are not sent again.
func (p *Publisher) narrow(ctx context.Context, msgs []zone.OutboxMessage, batchErr error) (int, error) {
	acked := map[uint64]bool{}
	var werrs kafkago.WriteErrors
	if errors.As(batchErr, &werrs) && len(werrs) == len(msgs) {
		for i, e := range werrs {
			if e == nil {
				acked[msgs[i].Seq] = true
			}
		}
	}
	p.log.Warn("kafka refused a batch, sending one by one", "from_seq", msgs[0].Seq, "n", len(msgs), "err", batchErr)
	done := 0
	for _, m := range msgs {
		if acked[m.Seq] {
			if err := p.delivered(ctx, m.Seq, 1); err != nil {
				return done, err
			}
			done++
			continue
		}
		attempts := m.Attempts
		for {
			err := p.write(ctx, toKafka(m))
			if err == nil {
				if err := p.delivered(ctx, m.Seq, 1); err != nil {
					return done, err
				}
				break
			}
			p.cfg.Metrics.add(failures, p.cfg.Name, 1)
			if Retriable(err) {
				p.linkDown(err)
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
			if p.stopping(ctx) {
				return done, ctx.Err()
			}
		}
		done++
	}
	return done, nil
}

// linkDown records a retriable failure and drops the writer's pooled
// connections: kafka-go's transport caches a failed first contact until its
// next metadata refresh (up to MetadataTTL), which would delay the drain
// after the broker returns, and a frozen broker leaves dead connections.
func (p *Publisher) linkDown(err error) {
	p.link.set(false, err)
	if tr, ok := p.w.Transport.(*kafkago.Transport); ok {
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

func (p *Publisher) delivered(ctx context.Context, through uint64, n int) error {
	// Kafka has them now; even if the outbox update fails they would only be
	// sent again, which consumers absorb.
	p.link.set(true, nil)
	if err := p.outbox.Delivered(ctx, through); err != nil {
		return err
	}
	p.lastDelivered.Store(through)
	p.cfg.Metrics.delivered(p.cfg.Name, n)
	return nil
}

// write sends msgs synchronously. Each produce request is bounded by
// WriteTimeout inside kafka-go; the outer deadline also covers dialling and
// metadata.
func (p *Publisher) write(ctx context.Context, msgs ...kafkago.Message) error {
	wctx, cancel := context.WithTimeout(ctx, 2*p.cfg.WriteTimeout+time.Second)
	defer cancel()
	return p.w.WriteMessages(wctx, msgs...)
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
