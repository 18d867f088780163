// Package kafkaraw gives packages other than internal/kafka a bare Kafka
// writer and group reader (the benchmark's "plain client" baselines) and
// produce holds on the embedded broker, without importing a Kafka client.
// Unlike kafkatest it does not import testing, so `bondgate bench` may use
// it.
package kafkaraw

import (
	"context"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/kafka"
)

// Message is one record as a bare client sees it.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header

	raw kafkago.Message // what Commit needs: partition and offset
}

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

func (m Message) kafka() kafkago.Message {
	km := kafkago.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
	if len(m.Headers) > 0 {
		km.Headers = make([]kafkago.Header, len(m.Headers))
		for i, h := range m.Headers {
			km.Headers[i] = kafkago.Header{Key: h.Key, Value: h.Value}
		}
	}
	return km
}

// WriterConfig sets a bare writer's batching; zero values take kafka-go's
// defaults. It always waits for every in-sync replica (acks=all) and hashes
// keys to partitions, as the publisher does.
type WriterConfig struct {
	Brokers      []string
	BatchSize    int
	BatchBytes   int64
	BatchTimeout time.Duration
	WriteTimeout time.Duration
}

// Writer is a plain kafka-go producer with no outbox, retries or lanes.
type Writer struct{ w *kafkago.Writer }

// NewWriter returns a synchronous bare writer.
func NewWriter(cfg WriterConfig) *Writer {
	return &Writer{w: &kafkago.Writer{Addr: kafkago.TCP(cfg.Brokers...), Balancer: &kafkago.Hash{}, RequiredAcks: kafkago.RequireAll,
		BatchSize: cfg.BatchSize, BatchBytes: cfg.BatchBytes, BatchTimeout: cfg.BatchTimeout, WriteTimeout: cfg.WriteTimeout}}
}

// Write produces msgs and returns once the broker acknowledged them all.
func (w *Writer) Write(ctx context.Context, msgs ...Message) error {
	km := make([]kafkago.Message, len(msgs))
	for i := range msgs {
		km[i] = msgs[i].kafka()
	}
	return w.w.WriteMessages(ctx, km...)
}

// Close flushes and closes the writer.
func (w *Writer) Close() error { return w.w.Close() }

// Reader is a plain kafka-go group reader with the fetch settings of
// internal/kafka's consumer, starting at the end of the topic once joined.
type Reader struct{ r *kafkago.Reader }

// NewGroupReader joins group on topic.
func NewGroupReader(brokers []string, group, topic string) *Reader {
	return &Reader{r: kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, GroupID: group,
		GroupTopics: []string{topic}, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
		SessionTimeout: 10 * time.Second, HeartbeatInterval: 2500 * time.Millisecond, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: time.Second, StartOffset: kafkago.LastOffset, ReadLagInterval: -1})}
}

// Fetch waits for the next message; Commit marks it consumed.
func (r *Reader) Fetch(ctx context.Context) (Message, error) {
	m, err := r.r.FetchMessage(ctx)
	if err != nil {
		return Message{}, err
	}
	out := Message{Topic: m.Topic, Key: m.Key, Value: m.Value, raw: m}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, Header{Key: h.Key, Value: h.Value})
	}
	return out, nil
}

// Commit commits m's offset for the group.
func (r *Reader) Commit(ctx context.Context, m Message) error { return r.r.CommitMessages(ctx, m.raw) }

// Close leaves the group.
func (r *Reader) Close() error { return r.r.Close() }

// HoldProduce makes the embedded broker hold every produce request that
// carries topic until release is closed: a records flow that has stalled
// without failing. It stays in force for the broker's life.
func HoldProduce(b *kafka.Broker, topic string, release <-chan struct{}) {
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic == topic {
				c.SleepControl(func() { <-release })
				break
			}
		}
		return nil, nil, false
	})
}

// HoldProduceWhile makes the embedded broker hold each produce request
// that arrives while hold reports true until release is closed: a broker
// that hangs rather than refuses. hold is asked once per request, so it
// may count them.
func HoldProduceWhile(b *kafka.Broker, hold func() bool, release <-chan struct{}) {
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if hold() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
}
