package gateway

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// Link is the gate's connection to Kafka: the forwarder draining the outbox
// (crossings and alarms, in order) and the consumer keeping the clearance
// cache. With no brokers configured it stays down and the gate works alone.
type Link struct {
	s    *Service
	pub  *kafka.Publisher
	cons *kafka.Consumer
}

func newLink(s *Service, brokers []string, metrics *kafka.Metrics) *Link {
	l := &Link{s: s}
	if len(brokers) == 0 {
		return l
	}
	l.pub = kafka.NewPublisher(kafka.PublisherConfig{
		Name:         "gate:" + s.cfg.GateID,
		Brokers:      brokers,
		Security:     s.cfg.KafkaSecurity,
		Topics:       []string{zone.TopicCrossings, zone.TopicAlarms},
		Metrics:      metrics,
		WriteTimeout: s.cfg.KafkaWriteTimeout,
		// What the stopping gate flushes of its outbox, and how long it tries.
		DrainTimeout: s.cfg.ShutdownTimeout,
		// Up to 1,000 messages per write (capped at about 1 MB): a backlog
		// after an outage drains in a tenth of the round trips and outbox
		// commits of the default 100, and a lone crossing still goes at once.
		BatchSize: 1000,
		// A gate's backlog should start draining soon after the link returns.
		BackoffMax: 5 * time.Second,
		OnQuarantine: func(m zone.OutboxMessage, reason string) {
			if bytes.Contains(m.Value, []byte(`"kind":"`+string(zone.AlarmQuarantine)+`"`)) {
				// An alarm about a quarantine that is itself refused would
				// raise another, forever; the quarantine bucket keeps it.
				s.log.Error("quarantine alarm quarantined", "seq", m.Seq, "reason", reason)
				return
			}
			msg := fmt.Sprintf("outbox message %d for %s was refused by Kafka for good and quarantined: %s", m.Seq, m.Topic, reason)
			// The reason (Kafka's own English) stays in the message only: a
			// second copy could push the alarm past the broker's size limit.
			params := map[string]string{"seq": strconv.FormatUint(m.Seq, 10), "topic": m.Topic}
			if err := s.raiseAlarm(zone.AlarmQuarantine, zone.SeverityCritical, msg, params, fmt.Sprintf("quarantine-%d", m.Seq)); err != nil {
				s.log.Error("could not queue the quarantine alarm", "seq", m.Seq, "err", err)
			}
		},
	}, s.outbox, s.log)
	l.cons = kafka.NewConsumer(kafka.ConsumerConfig{
		Name:     "gate:" + s.cfg.GateID + ":clearances",
		Brokers:  brokers,
		Security: s.cfg.KafkaSecurity,
		// One group per database file: a replaced file re-reads every
		// clearance instead of resuming at the old file's offsets.
		GroupID: ClearanceGroup(s.cfg.GateID, s.storeID),
		Metrics: metrics,
	}, map[string]kafka.Handler{zone.TopicClearances: l.applyClearance}, s.log)
	return l
}

// ClearanceGroup is the consumer group a gate reads clearances with.
func ClearanceGroup(gate, storeID string) string {
	return "bondgate-gate-" + gate + "-" + storeID
}

// Notify tells the forwarder the outbox has new messages.
func (l *Link) Notify() {
	if l.pub != nil {
		l.pub.Notify()
	}
}

// Problem is a refusal no retry cures ("auth failed: …", naming the
// certificate, password or ACL), for /readyz; "" when there is none.
func (l *Link) Problem() string {
	if l.pub == nil {
		return ""
	}
	up, err, _ := l.pub.Link()
	if p := kafka.Problem(up, err); p != "" {
		return p
	}
	up, err, _ = l.cons.Link()
	return kafka.Problem(up, err)
}

// Up reports whether the last contact with Kafka worked.
func (l *Link) Up() bool {
	if l.pub == nil {
		return false
	}
	up, _, _ := l.pub.Link()
	return up
}

// run runs the forwarder and the clearance consumer until ctx is done; then
// the forwarder flushes what it can of the outbox within ShutdownTimeout
// (what is left stays for the next start) and run returns once both stopped.
func (l *Link) run(ctx context.Context) {
	if l.pub == nil {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		switch err := l.pub.Run(ctx); {
		case zone.ErrorCode(err) == zone.EUNAVAILABLE:
			l.s.log.Warn("forwarder shut down with messages left", "err", err)
		case err != nil:
			l.s.log.Error("forwarder stopped", "err", err)
		}
	})
	wg.Go(func() { l.consume(ctx) })
	wg.Wait()
}

// consume keeps the clearance cache: each clearance event is applied in
// one store transaction (with its event ID in the seen set) before the
// consumer commits its offset.
func (l *Link) consume(ctx context.Context) {
	if err := l.cons.Run(ctx); err != nil {
		l.s.log.Error("clearance consumer stopped", "err", err)
	}
}

// applyClearance is the consumer's handler; an EINVALID answer makes the
// event poison.
func (l *Link) applyClearance(ctx context.Context, ev zone.Event) error {
	if ev.Type != zone.TypeClearance {
		return nil
	}
	after, err := applyClearanceEvent(l.s.book, l.s.store, l.s.cfg.GateID, ev)
	if err != nil {
		return err // keeps EINVALID, which the consumer treats as poison
	}
	if after != nil {
		after()
	}
	return nil
}
