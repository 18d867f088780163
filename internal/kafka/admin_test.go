package kafka

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bondgate/bondgate/internal/zone"
)

func opsTopicSpecs(t *testing.T) []TopicSpec {
	t.Helper()
	raw, err := os.ReadFile("../../ops/kafka/topics.json")
	require.NoError(t, err)
	specs, err := ParseTopicSpecs(raw)
	require.NoError(t, err)
	return specs
}

// emptyCluster is a kfake cluster with no topics at all, as a fresh
// production cluster is.
func emptyCluster(t *testing.T, brokers int) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.ClusterID("topics-test"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func adminClient(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func TestParseTopicSpecsMergesDefaults(t *testing.T) {
	specs := opsTopicSpecs(t)
	byName := map[string]TopicSpec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	require.Len(t, byName, len(zone.Topics)+1, "the event topics and the changelog")
	assert.Equal(t, 1, byName[zone.TopicChangelog].Partitions, "one partition: one order")
	assert.Equal(t, "compact", byName[zone.TopicChangelog].Configs["cleanup.policy"])
	for _, name := range zone.Topics {
		s, ok := byName[name]
		require.True(t, ok, "%s is in topics.json", name)
		assert.Equal(t, 6, s.Partitions, name)
		assert.Equal(t, 3, s.ReplicationFactor, name)
		assert.Equal(t, "2", s.Configs["min.insync.replicas"], name)
		assert.Equal(t, "false", s.Configs["unclean.leader.election.enable"], name)
	}
	assert.Equal(t, "compact", byName[zone.TopicClearances].Configs["cleanup.policy"])
	for _, name := range []string{zone.TopicCrossings, zone.TopicAlarms, zone.TopicDeclarations} {
		assert.Equal(t, "delete", byName[name].Configs["cleanup.policy"], name)
		assert.NotEmpty(t, byName[name].Configs["retention.ms"], name)
	}

	_, err := ParseTopicSpecs([]byte(`{"topics":[{"name":"a"}]}`))
	assert.Error(t, err, "no partitions anywhere")
	_, err = ParseTopicSpecs([]byte(`{"defaults":{"partitions":1,"replication_factor":1},"topics":[{"name":"a"},{"name":"a"}]}`))
	assert.Error(t, err, "a topic named twice")
}

// TestApplyTopicsCreatesThenChecks: the production file against a fresh
// three-broker cluster creates every topic with RF 3 and its configs; a
// second run, and a check, find nothing to do; a config changed behind our
// back and a partition added are reported, the config fixed on request.
func TestApplyTopicsCreatesThenChecks(t *testing.T) {
	brokers := emptyCluster(t, 3)
	specs := opsTopicSpecs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	check, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{CheckOnly: true})
	require.NoError(t, err)
	assert.False(t, check.InSync(), "a check of an empty cluster reports every topic missing")
	assert.Len(t, check.Diffs, len(specs))
	assert.Empty(t, check.Created, "a check creates nothing")

	rep, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{})
	require.NoError(t, err)
	assert.ElementsMatch(t, append(slices.Clone(zone.Topics), zone.TopicChangelog), rep.Created)
	assert.True(t, rep.InSync(), "%v", rep.Diffs)

	adm := adminClient(t, brokers)
	details, err := adm.ListTopics(ctx, zone.Topics...)
	require.NoError(t, err)
	for _, name := range zone.Topics {
		d := details[name]
		require.NoError(t, d.Err, name)
		assert.Len(t, d.Partitions, 6, name)
		assert.Equal(t, 3, d.Partitions.NumReplicas(), name)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, zone.TopicClearances)
	require.NoError(t, err)
	policy, err := rcs.On(zone.TopicClearances, nil)
	require.NoError(t, err)
	var got string
	for _, c := range policy.Configs {
		if c.Key == "cleanup.policy" {
			got = c.MaybeValue()
		}
	}
	assert.Equal(t, "compact", got, "clearances are compacted")

	again, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{})
	require.NoError(t, err)
	assert.Empty(t, again.Created, "idempotent")
	assert.ElementsMatch(t, append(slices.Clone(zone.Topics), zone.TopicChangelog), again.Matching)
	check, err = ApplyTopics(ctx, brokers, specs, TopicsOptions{CheckOnly: true})
	require.NoError(t, err)
	assert.True(t, check.InSync(), "%v", check.Diffs)

	// Drift: someone shortened retention and added a partition.
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, zone.TopicAlarms)
	require.NoError(t, err)
	_, err = adm.CreatePartitions(ctx, 1, zone.TopicCrossings)
	require.NoError(t, err)

	check, err = ApplyTopics(ctx, brokers, specs, TopicsOptions{CheckOnly: true})
	require.NoError(t, err)
	assert.False(t, check.InSync())
	assert.ElementsMatch(t, []TopicDiff{
		{Topic: zone.TopicAlarms, Field: "retention.ms", Want: "7776000000", Have: "3600000"},
		{Topic: zone.TopicCrossings, Field: "partitions", Want: "6", Have: "7"},
	}, check.Diffs)

	fixed, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{AlterConfigs: true})
	require.NoError(t, err)
	assert.False(t, fixed.InSync(), "partitions are never changed by the tool")
	check, err = ApplyTopics(ctx, brokers, specs, TopicsOptions{CheckOnly: true})
	require.NoError(t, err)
	assert.Equal(t, []TopicDiff{{Topic: zone.TopicCrossings, Field: "partitions", Want: "6", Have: "7"}}, check.Diffs,
		"the retention was set back; only the partition count is left for the operator")
}

// TestApplyTopicsReplicationOverride: dev and tests on one broker pass
// RF 1, and min.insync.replicas comes down with it so writes can succeed.
func TestApplyTopicsReplicationOverride(t *testing.T) {
	brokers := emptyCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	specs := opsTopicSpecs(t)

	_, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{})
	require.Error(t, err, "RF 3 cannot be had on one broker")

	rep, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{ReplicationFactor: 1})
	require.NoError(t, err)
	assert.ElementsMatch(t, append(slices.Clone(zone.Topics), zone.TopicChangelog), rep.Created)
	check, err := ApplyTopics(ctx, brokers, specs, TopicsOptions{ReplicationFactor: 1, CheckOnly: true})
	require.NoError(t, err)
	assert.True(t, check.InSync(), "%v", check.Diffs)
	assert.Equal(t, "2", specs[0].Configs["min.insync.replicas"], "the caller's specs are not changed")

	rcs, err := adminClient(t, brokers).DescribeTopicConfigs(ctx, zone.TopicCrossings)
	require.NoError(t, err)
	rc, err := rcs.On(zone.TopicCrossings, nil)
	require.NoError(t, err)
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" {
			assert.Equal(t, "1", c.MaybeValue())
		}
	}
}

// TestApplyTopicsOnTheDevBroker: topics `bondgate broker` seeded carry no
// configs; the check lists what differs, and AlterConfigs brings them in
// line without recreating anything.
func TestApplyTopicsOnTheDevBroker(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	specs := opsTopicSpecs(t)

	check, err := ApplyTopics(ctx, b.Addrs(), specs, TopicsOptions{ReplicationFactor: 1, CheckOnly: true})
	require.NoError(t, err)
	require.False(t, check.InSync())
	fields := map[string]bool{}
	for _, d := range check.Diffs {
		fields[d.Field] = true
	}
	assert.True(t, fields["cleanup.policy"] || fields["retention.ms"], "%v", check.Diffs)
	assert.False(t, fields["missing"], "the dev broker has every topic")

	rep, err := ApplyTopics(ctx, b.Addrs(), specs, TopicsOptions{ReplicationFactor: 1, AlterConfigs: true})
	require.NoError(t, err)
	assert.Empty(t, rep.Created)
	assert.True(t, rep.InSync(), "%v", rep.Diffs)
	check, err = ApplyTopics(ctx, b.Addrs(), specs, TopicsOptions{ReplicationFactor: 1, CheckOnly: true})
	require.NoError(t, err)
	assert.True(t, check.InSync(), "%v", check.Diffs)
}

func TestApplyTopicsNoBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ApplyTopics(ctx, []string{freeAddr(t)}, opsTopicSpecs(t), TopicsOptions{Timeout: 2 * time.Second})
	require.Error(t, err)
	assert.Equal(t, zone.EUNAVAILABLE, zone.ErrorCode(err))
}
