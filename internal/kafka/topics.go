package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// Ping dials the brokers in plaintext and asks for cluster metadata (see
// Probe); dev and test clusters need nothing more.
func Ping(ctx context.Context, brokers []string) error { return Probe(ctx, brokers, Security{}) }

// Probe dials the brokers with sec and asks for the metadata of topics (of
// the cluster when none are named), each broker within the context's
// deadline (5 s when it has none). It succeeds when any broker answers and
// every named topic may be described. A TLS, SASL or ACL refusal comes back
// as an AuthError naming its cause, ahead of brokers merely unreachable:
// /readyz and the link state use it, and a refusal is worth saying.
func Probe(ctx context.Context, brokers []string, sec Security, topics ...string) error {
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
		err := pingOne(ctx, b, sec, topics)
		if err == nil {
			return nil
		}
		if ae := (*AuthError)(nil); errors.As(err, &ae) {
			return &AuthError{Cause: ae.Cause, Err: fmt.Errorf("%s: %w", b, ae.Err)}
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return errors.Join(errs...)
}

func pingOne(ctx context.Context, addr string, sec Security, topics []string) error {
	// A fresh transport per probe so a cached connection to a dead broker
	// cannot make the probe look healthy. Its MetadataTTL is also the bound
	// kafka-go puts on the metadata request itself, so it must cover the
	// whole probe: at 1 ms a loaded machine (-race) failed healthy brokers.
	ttl := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		ttl = max(time.Until(dl), time.Millisecond)
	}
	tr := sec.transport(3*time.Second, ttl, "bondgate-probe")
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr}
	res, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return sec.explain(ctx, addr, err)
	}
	for _, t := range res.Topics {
		// Only refusals count: the broker answered, so it is reachable.
		if t.Error == nil {
			continue
		}
		terr := fmt.Errorf("topic %s: %w", t.Name, t.Error)
		if cerr := sec.classify(terr); IsAuth(cerr) {
			return cerr
		}
		if errors.Is(t.Error, kafkago.UnknownTopicOrPartition) && sec.Mechanism != "" {
			// Brokers hide a topic the principal may not describe.
			return &AuthError{Cause: fmt.Sprintf("topic %s is missing or an ACL hides it from %s", t.Name, sec.principal()), Err: terr}
		}
	}
	return nil
}

// explain classifies err from a contact with addr. A broker refusing SASL
// often just closes the connection, which reads as an EOF; when SASL is on
// and the broker still answers a request that needs no login (ApiVersions,
// over the same TLS), the closed connection was the refusal.
func (s Security) explain(ctx context.Context, addr string, err error) error {
	err = s.classify(err)
	if IsAuth(err) || s.Mechanism == "" || !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return err
	}
	tr := Security{TLS: s.TLS}.transport(3*time.Second, 5*time.Second, "bondgate-probe")
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr}
	if _, verr := cl.ApiVersions(ctx, &kafkago.ApiVersionsRequest{}); verr != nil {
		return err
	}
	return &AuthError{Cause: s.saslCause(), Err: fmt.Errorf("the broker closed the connection during SASL: %w", err)}
}

// unavailable wraps a Kafka failure as a domain EUNAVAILABLE error, keeping
// the cause for logs.
func unavailable(err error, what string) error {
	e := zone.Errorf(zone.EUNAVAILABLE, "%s: kafka unavailable", what)
	e.Err = err
	return e
}
