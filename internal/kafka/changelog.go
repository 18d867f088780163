package kafka

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bondgate/bondgate/internal/zone"
)

// ChangelogRecord is one record of the zone API's changelog topic: a
// committed transaction of the store, or a primary's lease.
type ChangelogRecord struct {
	Offset int64
	Key    string
	Value  []byte
	Time   time.Time
}

// Changelog writes and follows zone.TopicChangelog (one partition). It
// knows nothing of what the records mean; internal/api does.
type Changelog struct {
	brokers []string
	prod    *kgo.Client
	log     *slog.Logger
}

// NewChangelog connects a producer that waits for every in-sync replica
// (acks=all) and keeps records in order (idempotent, one in flight).
func NewChangelog(brokers []string, log *slog.Logger) (*Changelog, error) {
	if len(brokers) == 0 {
		return nil, zone.Errorf(zone.EINVALID, "the changelog needs --brokers")
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("bondgate-api-changelog"),
		kgo.DefaultProduceTopic(zone.TopicChangelog), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.MaxProduceRequestsInflightPerBroker(1),
		kgo.ProducerBatchMaxBytes(16<<20), kgo.DialTimeout(3*time.Second))
	if err != nil {
		return nil, zone.Errorf(zone.EINVALID, "changelog client: %v", err)
	}
	return &Changelog{brokers: brokers, prod: prod, log: log}, nil
}

// Close closes the producer.
func (c *Changelog) Close() { c.prod.Close() }

// Append writes one record and returns its offset once the log has it.
func (c *Changelog) Append(ctx context.Context, key string, value []byte) (int64, error) {
	r := &kgo.Record{Key: []byte(key), Value: value, Partition: 0}
	if err := c.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, unavailable(err, "changelog append")
	}
	return r.Offset, nil
}

// EnsureTopic creates the changelog topic (one partition, compacted) when
// it is missing, as `bondgate dev` and tests need; production creates it
// from ops/kafka/topics.json.
func (c *Changelog) EnsureTopic(ctx context.Context) error {
	return ensureChangelogTopic(ctx, kadm.NewClient(c.prod))
}

func ensureChangelogTopic(ctx context.Context, adm *kadm.Client) error {
	res, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": ptr("compact")}, zone.TopicChangelog)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return unavailable(err, "create "+zone.TopicChangelog)
	}
	return nil
}

func ptr(s string) *string { return &s }

// EndOffset is the offset the next record will get (the high watermark).
func (c *Changelog) EndOffset(ctx context.Context) (int64, error) {
	ends, err := kadm.NewClient(c.prod).ListEndOffsets(ctx, zone.TopicChangelog)
	if err != nil {
		return 0, unavailable(err, "changelog end offset")
	}
	o, ok := ends.Lookup(zone.TopicChangelog, 0)
	if !ok {
		return 0, zone.Errorf(zone.EUNAVAILABLE, "changelog topic %s has no partition 0", zone.TopicChangelog)
	}
	if o.Err != nil {
		return 0, unavailable(o.Err, "changelog end offset")
	}
	return o.Offset, nil
}

// Follow reads the log from offset from, in order, calling fn for each
// record until ctx is done or fn fails.
func (c *Changelog) Follow(ctx context.Context, from int64, fn func(ChangelogRecord) error) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.ClientID("bondgate-api-changelog-follow"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{zone.TopicChangelog: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.DialTimeout(3*time.Second))
	if err != nil {
		return zone.Errorf(zone.EINVALID, "changelog follower: %v", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.log.Warn("changelog fetch failed; retrying", "topic", t, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if ferr == nil {
				ferr = fn(ChangelogRecord{Offset: r.Offset, Key: string(r.Key), Value: r.Value, Time: r.Timestamp})
			}
		})
		if ferr != nil {
			return ferr
		}
	}
}
