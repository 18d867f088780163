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
	sec     Security
	prod    *kgo.Client
	log     *slog.Logger
}

// NewChangelog connects a producer that waits for every in-sync replica
// (acks=all) and keeps records in order (idempotent, one in flight),
// reaching the brokers with sec like every other client of the process.
func NewChangelog(brokers []string, sec Security, log *slog.Logger) (*Changelog, error) {
	if len(brokers) == 0 {
		return nil, zone.Errorf(zone.EINVALID, "the changelog needs --brokers")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("bondgate-api-changelog"),
		kgo.DefaultProduceTopic(zone.TopicChangelog), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.MaxProduceRequestsInflightPerBroker(1),
		kgo.ProducerBatchMaxBytes(16 << 20), kgo.DialTimeout(3 * time.Second)}
	prod, err := kgo.NewClient(append(opts, sec.kgoOpts()...)...)
	if err != nil {
		return nil, zone.Errorf(zone.EINVALID, "changelog client: %v", err)
	}
	return &Changelog{brokers: brokers, sec: sec, prod: prod, log: log}, nil
}

// Close closes the producer.
func (c *Changelog) Close() { c.prod.Close() }

// Append writes one record and returns its offset once the log has it.
func (c *Changelog) Append(ctx context.Context, key string, value []byte) (int64, error) {
	r := &kgo.Record{Key: []byte(key), Value: value, Partition: 0}
	if err := c.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, c.failed(err, "changelog append")
	}
	return r.Offset, nil
}

// EnsureTopic creates the changelog topic (one partition, compacted) when
// it is missing, as `bondgate dev` and tests need; production creates it
// from ops/kafka/topics.json.
func (c *Changelog) EnsureTopic(ctx context.Context) error {
	return c.sec.classify(ensureChangelogTopic(ctx, kadm.NewClient(c.prod)))
}

// failed is err as EUNAVAILABLE, or as an AuthError naming the cause when
// the brokers refused this node's TLS or SASL settings or an ACL denies it.
func (c *Changelog) failed(err error, what string) error {
	if aerr := c.refusal(err); aerr != nil {
		return aerr
	}
	return unavailable(err, what)
}

// refusal is the AuthError behind err, or nil. A refused login reads as an
// EOF or a timeout to franz-go, which retries it; the probe names it.
func (c *Changelog) refusal(err error) error {
	if cerr := c.sec.classify(err); IsAuth(cerr) {
		return cerr
	}
	if c.sec == (Security{}) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if perr := Probe(ctx, c.brokers, c.sec); IsAuth(perr) {
		return perr
	}
	return nil
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
		return 0, c.failed(err, "changelog end offset")
	}
	o, ok := ends.Lookup(zone.TopicChangelog, 0)
	if !ok {
		return 0, zone.Errorf(zone.EUNAVAILABLE, "changelog topic %s has no partition 0", zone.TopicChangelog)
	}
	if o.Err != nil {
		return 0, c.failed(o.Err, "changelog end offset")
	}
	return o.Offset, nil
}

// Follow reads the log from offset from, in order, calling fn for each
// record until ctx is done or fn fails.
func (c *Changelog) Follow(ctx context.Context, from int64, fn func(ChangelogRecord) error) error {
	opts := []kgo.Opt{kgo.SeedBrokers(c.brokers...), kgo.ClientID("bondgate-api-changelog-follow"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{zone.TopicChangelog: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.DialTimeout(3 * time.Second)}
	cl, err := kgo.NewClient(append(opts, c.sec.kgoOpts()...)...)
	if err != nil {
		return zone.Errorf(zone.EINVALID, "changelog follower: %v", err)
	}
	defer cl.Close()
	if err := c.refusal(nil); err != nil {
		return err // franz-go would retry the refusal in silence
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			// A refusal no retry cures ends the follower, naming the cause.
			if cerr := c.sec.classify(err); IsAuth(cerr) && ferr == nil {
				ferr = cerr
				return
			}
			c.log.Warn("changelog fetch failed; retrying", "topic", t, "err", err)
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
