package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// binary is bin/bondgate built once for these tests: they run the real
// process, as an operator would.
var binary string

func TestMain(m *testing.M) {
	bin, remove, err := proctest.Build(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = bin
	code := m.Run()
	remove()
	os.Exit(code)
}

// TestClearanceSurvivesBrokerOutage: the API starts with no broker, a firm
// declares and customs clears; only then does the broker come up. Every
// event reaches Kafka once, the clearance after the declaration events, and
// both processes stop on SIGTERM with exit code 0. Flags come from the
// environment here, as systemd's env file would give them.
func TestClearanceSurvivesBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	brokerAddr, apiAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	api := proctest.Start(t, binary, []string{
		"BONDGATE_ADDR=" + apiAddr, "BONDGATE_DATA=" + t.TempDir(), "BONDGATE_BROKERS=" + brokerAddr,
		"BONDGATE_TOKENS=" + proctest.WriteTokens(t),
	}, "api")
	base := "http://" + apiAddr
	proctest.WaitHTTP(t, base+"/healthz", 30*time.Second)

	code, ready := proctest.Call(t, "GET", base+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, code, "readyz must say Kafka is down: %v", ready)

	code, d := proctest.Call(t, "POST", base+"/v1/predeclarations", "mro-hna", proctest.EngineBody())
	require.Equal(t, http.StatusCreated, code, "%v", d)
	id := d["id"].(string)
	code, d = proctest.Call(t, "POST", base+"/v1/predeclarations/"+id+"/decision", "officer-1", `{"decision":"clear"}`)
	require.Equal(t, http.StatusOK, code, "%v", d)
	assert.Equal(t, "cleared", d["status"])

	broker := proctest.Start(t, binary, nil, "broker", "--addr", brokerAddr, "--data", t.TempDir())

	decls := readTopic(t, brokerAddr, zone.TopicDeclarations, 2)
	clears := readTopic(t, brokerAddr, zone.TopicClearances, 1)
	require.Len(t, decls, 2)
	require.Len(t, clears, 1, "one clearance, delivered once")
	statuses := []string{}
	for _, m := range decls {
		assert.Equal(t, id, string(m.Key), "declaration events are keyed by declaration ID")
		var ev struct {
			SpecVersion string              `json:"specversion"`
			Data        zone.PreDeclaration `json:"data"`
		}
		require.NoError(t, json.Unmarshal(m.Value, &ev))
		assert.Equal(t, "1.0", ev.SpecVersion)
		statuses = append(statuses, string(ev.Data.Status))
	}
	assert.Equal(t, []string{"submitted", "cleared"}, statuses, "in order")
	var cev struct {
		Data zone.Clearance `json:"data"`
	}
	require.NoError(t, json.Unmarshal(clears[0].Value, &cev))
	assert.Equal(t, id, cev.Data.ID)
	assert.Equal(t, zone.ClearanceActive, cev.Data.State)
	assert.Equal(t, "G-MRO-1", cev.Data.Gate)
	// The clearance left the outbox after the cleared declaration event: the
	// outbox sequence (carried in a header) orders them across topics.
	assert.Greater(t, seqOf(t, clears[0]), seqOf(t, decls[1]))
	assert.Greater(t, seqOf(t, decls[1]), seqOf(t, decls[0]))

	assert.Eventually(t, func() bool { c, _ := proctest.Call(t, "GET", base+"/readyz", "", ""); return c == 200 },
		20*time.Second, 100*time.Millisecond, "readyz must recover once the broker is up")

	assert.Equal(t, 0, api.Stop(t), "api exit code after SIGTERM")
	assert.Equal(t, 0, broker.Stop(t), "broker exit code after SIGTERM")
}

func seqOf(t *testing.T, m kafkatest.Record) uint64 {
	t.Helper()
	for _, h := range m.Headers {
		if h.Key == kafka.HeaderSeq {
			n, err := strconv.ParseUint(string(h.Value), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("message without %s header", kafka.HeaderSeq)
	return 0
}

// readTopic reads every partition of topic until want messages arrived.
func readTopic(t *testing.T, broker, topic string, want int) []kafkatest.Record {
	t.Helper()
	return kafkatest.ReadAtLeast(t, broker, topic, want, 30*time.Second)
}

func TestHelpAndUsage(t *testing.T) {
	for _, c := range []string{"dev", "broker", "api", "gate", "sim"} {
		out, err := exec.Command(binary, c, "--help").CombinedOutput()
		assert.NoError(t, err, "%s --help exits 0", c)
		assert.Contains(t, string(out), "BONDGATE_", "%s --help names the env fallback", c)
	}
	err := exec.Command(binary, "nonsense").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	out, err := exec.Command(binary, "api", "--tokens", "/nonexistent").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "tokens")
}

func TestEnvFallbackAndFlagPrecedence(t *testing.T) {
	t.Setenv("BONDGATE_ADDR", "10.0.0.1:1")
	fs := flagSet("x", "", io.Discard)
	addr := fs.String("addr", "default", "")
	require.NoError(t, parse(fs, nil))
	assert.Equal(t, "10.0.0.1:1", *addr, "env fills an unset flag")
	fs = flagSet("x", "", io.Discard)
	addr = fs.String("addr", "default", "")
	require.NoError(t, parse(fs, []string{"--addr", "127.0.0.1:2"}))
	assert.Equal(t, "127.0.0.1:2", *addr, "the command line wins")
	t.Setenv("BONDGATE_WINDOW", "ten seconds")
	fs = flagSet("x", "", io.Discard)
	fs.Duration("window", time.Second, "")
	assert.ErrorContains(t, parse(fs, nil), "BONDGATE_WINDOW")
}
