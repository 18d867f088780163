package kafkatest

import (
	"context"
	"sort"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Record is one Kafka message as a test writes or reads it.
type Record struct {
	Key, Value []byte
}

// ReadToEnd reads every partition of topic, in partition order, up to the
// end the broker reports now.
func ReadToEnd(tb testing.TB, broker, topic string) []Record {
	tb.Helper()
	must := func(err error, what string) {
		tb.Helper()
		if err != nil {
			tb.Fatalf("read %s: %s: %v", topic, what, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", broker)
	must(err, "dial")
	parts, err := conn.ReadPartitions(topic)
	must(err, "partitions")
	_ = conn.Close()
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	var out []Record
	for _, p := range parts {
		pc, err := kafkago.DialLeader(ctx, "tcp", broker, topic, p.ID)
		must(err, "dial leader")
		first, err := pc.ReadFirstOffset()
		must(err, "first offset")
		last, err := pc.ReadLastOffset()
		must(err, "last offset")
		if last > first {
			_, err = pc.Seek(first, kafkago.SeekAbsolute)
			must(err, "seek")
			// Batch by batch: Conn.ReadMessage would fetch once per message.
			for off := first; off < last; {
				must(pc.SetReadDeadline(time.Now().Add(20*time.Second)), "deadline")
				batch := pc.ReadBatch(1, 64<<20)
				n := 0
				for off < last {
					m, err := batch.ReadMessage()
					if err != nil {
						break
					}
					out = append(out, Record{Key: m.Key, Value: m.Value})
					off = m.Offset + 1
					n++
				}
				must(batch.Close(), "batch")
				if n == 0 {
					tb.Fatalf("no progress reading %s/%d at offset %d", topic, p.ID, off)
				}
			}
		}
		_ = pc.Close()
	}
	return out
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
