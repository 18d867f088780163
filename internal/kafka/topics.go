package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/bondgate/bondgate/internal/zone"
)

// EnsureTopics creates any of bondgate's topics missing on the cluster, with
// the given partition count (the changelog: one) and the broker's default
// replication. It is for
// `bondgate dev` and tests: in production the operator creates topics from
// ops/kafka and nothing is auto-created.
func EnsureTopics(ctx context.Context, brokers []string, partitions int) error {
	if len(brokers) == 0 {
		return zone.Errorf(zone.EINVALID, "no brokers given")
	}
	tr := &kafkago.Transport{DialTimeout: 5 * time.Second, MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	req := &kafkago.CreateTopicsRequest{Addr: cl.Addr}
	for _, t := range zone.Topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1})
	}
	req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: zone.TopicChangelog, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}})
	res, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return unavailable(err, "create topics")
	}
	for topic, terr := range res.Errors {
		if terr != nil && !errors.Is(terr, kafkago.TopicAlreadyExists) {
			return unavailable(terr, "create topic "+topic)
		}
	}
	return nil
}

// Ping dials the brokers and asks for cluster metadata, each broker within
// the context's deadline (5 s when it has none). It succeeds when any broker
// answers; /readyz and the link state use it.
func Ping(ctx context.Context, brokers []string) error {
	if len(brokers) == 0 {
		return zone.Errorf(zone.EUNAVAILABLE, "no brokers configured")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	var errs []error
	for _, b := range brokers {
		err := pingOne(ctx, b)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return errors.Join(errs...)
}

func pingOne(ctx context.Context, addr string) error {
	// A fresh transport per probe so a cached connection to a dead broker
	// cannot make the probe look healthy. Its MetadataTTL is also the bound
	// kafka-go puts on the metadata request itself, so it must cover the
	// whole probe: at 1 ms a loaded machine (-race) failed healthy brokers.
	ttl := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		ttl = max(time.Until(dl), time.Millisecond)
	}
	tr := &kafkago.Transport{DialTimeout: 3 * time.Second, MetadataTTL: ttl}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr}
	_, err := cl.Metadata(ctx, &kafkago.MetadataRequest{})
	return err
}

// unavailable wraps a Kafka failure as a domain EUNAVAILABLE error, keeping
// the cause for logs.
func unavailable(err error, what string) error {
	e := zone.Errorf(zone.EUNAVAILABLE, "%s: kafka unavailable", what)
	e.Err = err
	return e
}
