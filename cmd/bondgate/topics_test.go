package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// topicsCmd runs `bondgate topics` and returns its output and exit code.
func topicsCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"topics"}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// TestTopicsCommand: against the dev broker (topics seeded without
// configs), --check exits 3 naming the differences; --apply with
// --alter-configs brings them in line; a second --check exits 0.
func TestTopicsCommand(t *testing.T) {
	b, err := kafka.StartBroker(context.Background(), kafka.BrokerConfig{Addr: "127.0.0.1:0"}, nil)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	brokers := strings.Join(b.Addrs(), ",")
	file := "../../ops/kafka/topics.json"

	out, code := topicsCmd(t, "--brokers", brokers, "--apply", file, "--check", "--replication-factor-override", "1")
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "differs  "+zone.TopicClearances+"  cleanup.policy: want compact")
	assert.Contains(t, out, "NOT in sync")

	out, code = topicsCmd(t, "--brokers", brokers, "--apply", file, "--replication-factor-override", "1", "--alter-configs")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "fixed    "+zone.TopicClearances+"  cleanup.policy")

	out, code = topicsCmd(t, "--brokers", brokers, "--apply", file, "--check", "--replication-factor-override", "1")
	assert.Equal(t, 0, code, out)
	for _, topic := range zone.Topics {
		assert.Contains(t, out, "ok       "+topic)
	}
	assert.Contains(t, out, "in sync with the file")

	// Without the override the single broker cannot hold RF 3: reported.
	out, code = topicsCmd(t, "--brokers", brokers, "--apply", file, "--check")
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "replication_factor: want 3, have 1")

	_, code = topicsCmd(t, "--brokers", brokers)
	assert.Equal(t, 2, code, "--apply is required")
}
