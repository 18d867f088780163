package kafka

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// testLog is quiet unless BONDGATE_TEST_LOG is set, so failures stay readable.
func testLog() *slog.Logger {
	if os.Getenv("BONDGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startBroker(t *testing.T, cfg BrokerConfig) *Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := StartBroker(context.Background(), cfg, testLog())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// readAll reads every message of topic, all partitions, from the start to
// the current end, with a plain (group-less) reader per partition.
func readAll(t *testing.T, brokers []string, topic string) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", brokers[0])
	require.NoError(t, err)
	parts, err := conn.ReadPartitions(topic)
	require.NoError(t, err)
	conn.Close()
	var out []kafkago.Message
	for _, p := range parts {
		lc, err := kafkago.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		require.NoError(t, err)
		last, err := lc.ReadLastOffset()
		require.NoError(t, err)
		lc.Close()
		if last == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p.ID,
			MinBytes: 1, MaxBytes: 10e6, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			require.NoError(t, err, "partition %d", p.ID)
			out = append(out, m)
			if m.Offset >= last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: "+msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
