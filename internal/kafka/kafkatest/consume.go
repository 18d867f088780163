package kafkatest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// Consume runs the services' consume-apply-commit loop (kafka.Consumer) on
// topic as consumer group group until the test ends: apply gets each decoded
// event and the message is committed only after apply returns nil.
func Consume(tb testing.TB, broker, group, topic string, apply func(ctx context.Context, e zone.Event) error) {
	tb.Helper()
	cons := kafka.NewConsumer(kafka.ConsumerConfig{Name: group, Brokers: []string{broker}, GroupID: group, Topics: []string{topic}},
		func(ctx context.Context, m kafkago.Message) error {
			e, err := kafka.DecodeEvent(m)
			if err != nil {
				return fmt.Errorf("%w: %v", kafka.ErrPoison, err)
			}
			return apply(ctx, e)
		}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = cons.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}
