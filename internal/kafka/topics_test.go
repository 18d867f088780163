package kafka

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	b := startBroker(t, BrokerConfig{Partitions: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, EnsureTopics(ctx, b.Addrs(), 6))
	require.NoError(t, EnsureTopics(ctx, b.Addrs(), 6))
	require.Error(t, Ping(ctx, []string{freeAddr(t)}))
	require.NoError(t, Ping(ctx, append([]string{freeAddr(t)}, b.Addrs()...)), "any broker answering is enough")
}

// TestOpsTopicDefinitionsAgree keeps ops/kafka in step with the code.
func TestOpsTopicDefinitionsAgree(t *testing.T) {
	raw, err := os.ReadFile("../../ops/kafka/topics.json")
	require.NoError(t, err)
	specs, err := ParseTopicSpecs(raw)
	require.NoError(t, err)

	script, err := os.ReadFile("../../ops/kafka/create-topics.sh")
	require.NoError(t, err)
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name)
		if sp.Name == zone.TopicChangelog {
			assert.Equal(t, 1, sp.Partitions, "the changelog has one order: one partition")
		} else {
			assert.Equal(t, 6, sp.Partitions, sp.Name)
		}
		assert.Equal(t, 3, sp.ReplicationFactor, sp.Name)
		assert.Equal(t, "2", sp.Configs["min.insync.replicas"], sp.Name)
		assert.Contains(t, string(script), sp.Name)
		assert.Contains(t, string(script), "cleanup.policy="+sp.Configs["cleanup.policy"], sp.Name)
	}
	assert.ElementsMatch(t, append(append([]string(nil), zone.Topics...), zone.TopicChangelog), names)
	assert.True(t, strings.Contains(string(script), "--partitions 6 --replication-factor 3"))
}
