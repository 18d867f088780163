// Package kafkatest gives tests of any package what they need of Kafka
// without importing a Kafka client: the embedded broker on a free port with
// a control hook on produce requests, reading a topic to its end, producing
// records, and a consumer that hands decoded events to the test.
package kafkatest

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/kafka"
)

// Kafka error codes a produce hook can answer with.
const (
	NotLeaderForPartition int16 = 6  // retriable
	InvalidRecord         int16 = 87 // final: the record is refused for good
)

// StartBroker starts the embedded broker in this process on a free loopback
// port and closes it when the test ends.
func StartBroker(tb testing.TB) *kafka.Broker {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("start broker: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}

// ProduceRequest is one produce request as a hook sees it.
type ProduceRequest struct{ req *kmsg.ProduceRequest }

// Contains reports whether the raw record batches of any partition the
// request writes contain b.
func (p ProduceRequest) Contains(b []byte) bool {
	for _, t := range p.req.Topics {
		for _, part := range t.Partitions {
			if bytes.Contains(part.Records, b) {
				return true
			}
		}
	}
	return false
}

// Verdict is what the broker does with a produce request: wait Delay first
// (without holding up other requests), then answer every partition with
// Code, or append as usual when Code is 0.
type Verdict struct {
	Delay time.Duration
	Code  int16
}

// OnProduce calls hook for every produce request b receives from now on.
func OnProduce(b *kafka.Broker, hook func(ProduceRequest) Verdict) {
	c := b.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		v := hook(ProduceRequest{req.(*kmsg.ProduceRequest)})
		if v.Delay > 0 {
			c.SleepControl(func() { time.Sleep(v.Delay) })
		}
		if v.Code == 0 {
			return nil, nil, false
		}
		return failProduce(req.(*kmsg.ProduceRequest), v.Code), nil, true
	})
}

// failProduce answers a produce request with code on every partition it names.
func failProduce(pr *kmsg.ProduceRequest, code int16) kmsg.Response {
	resp := pr.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range pr.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
