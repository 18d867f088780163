package kafka

import (
	"context"
	"encoding/json"
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
	var defs struct {
		Defaults struct {
			Partitions        int               `json:"partitions"`
			ReplicationFactor int               `json:"replication_factor"`
			Configs           map[string]string `json:"configs"`
		} `json:"defaults"`
		Topics []struct {
			Name    string            `json:"name"`
			Configs map[string]string `json:"configs"`
		} `json:"topics"`
	}
	require.NoError(t, json.Unmarshal(raw, &defs))
	assert.Equal(t, 6, defs.Defaults.Partitions)
	assert.Equal(t, 3, defs.Defaults.ReplicationFactor)
	assert.Equal(t, "2", defs.Defaults.Configs["min.insync.replicas"])

	script, err := os.ReadFile("../../ops/kafka/create-topics.sh")
	require.NoError(t, err)
	var names []string
	for _, d := range defs.Topics {
		names = append(names, d.Name)
		assert.Contains(t, string(script), d.Name)
		assert.Contains(t, string(script), "cleanup.policy="+d.Configs["cleanup.policy"], d.Name)
	}
	assert.ElementsMatch(t, zone.Topics, names)
	assert.True(t, strings.Contains(string(script), "--partitions 6 --replication-factor 3"))
}
