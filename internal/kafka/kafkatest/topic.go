package kafkatest

import (
	"github.com/bondgate/bondgate/internal/kafka/kafkaraw"

	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Record is one Kafka message as a test writes or reads it. Headers are
// filled when reading only.
type Record struct {
	Key, Value []byte
	Headers    []kafkaraw.Header
}

// ReadToEnd reads every partition of topic, in partition order, up to the
// end the broker reports now.
func ReadToEnd(tb testing.TB, broker, topic string) []Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := readToEnd(ctx, broker, topic)
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	return out
}

// ReadAtLeast reads topic to its end until it holds at least want records
// or timeout passes, waiting for a broker that is not up yet. It returns
// what it read last.
func ReadAtLeast(tb testing.TB, broker, topic string, want int, timeout time.Duration) []Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []Record
	for {
		recs, err := readToEnd(ctx, broker, topic)
		if err == nil {
			out = recs
			if len(out) >= want {
				return out
			}
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func readToEnd(ctx context.Context, broker, topic string) ([]Record, error) {
	conn, err := kafkago.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	parts, err := conn.ReadPartitions(topic)
	_ = conn.Close()
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	var out []Record
	for _, p := range parts {
		recs, err := readPartition(ctx, broker, topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p.ID, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

func readPartition(ctx context.Context, broker, topic string, part int) ([]Record, error) {
	pc, err := kafkago.DialLeader(ctx, "tcp", broker, topic, part)
	if err != nil {
		return nil, fmt.Errorf("dial leader: %w", err)
	}
	defer pc.Close()
	first, err := pc.ReadFirstOffset()
	if err != nil {
		return nil, fmt.Errorf("first offset: %w", err)
	}
	last, err := pc.ReadLastOffset()
	if err != nil {
		return nil, fmt.Errorf("last offset: %w", err)
	}
	if last <= first {
		return nil, nil
	}
	if _, err = pc.Seek(first, kafkago.SeekAbsolute); err != nil {
		return nil, fmt.Errorf("seek: %w", err)
	}
	var out []Record
	// Batch by batch: Conn.ReadMessage would fetch once per message.
	for off := first; off < last; {
		if err := pc.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			return nil, err
		}
		batch := pc.ReadBatch(1, 64<<20)
		n := 0
		for off < last {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			r := Record{Key: m.Key, Value: m.Value}
			for _, h := range m.Headers {
				r.Headers = append(r.Headers, kafkaraw.Header{Key: h.Key, Value: h.Value})
			}
			out = append(out, r)
			off = m.Offset + 1
			n++
		}
		if err := batch.Close(); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("no progress at offset %d", off)
		}
	}
	return out, nil
}

// Produce writes recs to topic, partitioned by key, each acknowledged by
// all replicas, as the services' publishers write.
func Produce(tb testing.TB, broker, topic string, recs ...Record) {
	tb.Helper()
	msgs := make([]kafkago.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafkago.Message{Key: r.Key, Value: r.Value}
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(broker), Topic: topic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("produce %d records to %s: %v", len(recs), topic, err)
	}
}
