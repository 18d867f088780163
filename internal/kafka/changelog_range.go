package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bondgate/bondgate/internal/zone"
)

// ReadRange calls fn for each record with an offset in [from, to), in
// order, and returns once it has passed to-1 (so to must be at most the end
// offset when the read starts). It is how a rebuilding node looks back for
// the latest snapshot without reading the log from its start.
func (c *Changelog) ReadRange(ctx context.Context, from, to int64, fn func(ChangelogRecord) error) error {
	if from >= to {
		return nil
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.brokers...), kgo.ClientID("bondgate-api-changelog-range"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{zone.TopicChangelog: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.DialTimeout(3 * time.Second)}
	cl, err := kgo.NewClient(append(opts, c.sec.kgoOpts()...)...)
	if err != nil {
		return zone.Errorf(zone.EINVALID, "changelog reader: %v", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return c.failed(ctx.Err(), "changelog read")
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				if cerr := c.sec.classify(err); IsAuth(cerr) {
					ferr = cerr
				}
			}
		})
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if ferr != nil || done {
				return
			}
			if r.Offset >= to {
				done = true // the record at to-1 was compacted away
				return
			}
			ferr = fn(ChangelogRecord{Offset: r.Offset, Key: string(r.Key), Value: r.Value, Time: r.Timestamp})
			done = r.Offset >= to-1
		})
		if ferr != nil || done {
			return ferr
		}
	}
}
