package kafkatest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// Consume runs the services' consume-apply-commit loop (kafka.Consumer) on
// topic as consumer group group until the test ends: apply gets each decoded
// event and the message is committed only after apply returns nil.
func Consume(tb testing.TB, broker, group, topic string, apply func(ctx context.Context, e zone.Event) error) {
	tb.Helper()
	cons := kafka.NewConsumer(kafka.ConsumerConfig{Name: group, Brokers: []string{broker}, GroupID: group},
		map[string]kafka.Handler{topic: apply}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = cons.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}
