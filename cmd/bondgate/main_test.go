package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// binary is bin/bondgate built once for these tests: they run the real
// process, as an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bondgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bondgate")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build bondgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string { return proctest.FreeAddr(t) }

// proc is a running bondgate process.
type proc struct {
	cmd  *exec.Cmd
	out  *proctest.Buffer
	done chan error
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, out: &proctest.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("bondgate %s output:\n%s", args[0], p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func writeTokens(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(path, fixtures.Tokens(), 0o600))
	return path
}

// engineBody is the contract's engine example with a window containing now
// (a window already over is refused).
var engineBody = `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B","owner":"Qatar Airways"},
 "direction":"in","gate":"G-MRO-1",
 "window":{"from":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `","to":"` +
	time.Now().UTC().Add(5*time.Hour).Format(time.RFC3339) + `"},
 "regime":"bonded_maintenance","declared_value":{"amount":"182000000.00","currency":"CNY"},
 "hs_code":"84111200","conveyance":{"stand_tag":"STAND-0042","vehicle_plate":"琼A·D1234"}}`

// TestClearanceSurvivesBrokerOutage: the API starts with no broker, a firm
// declares and customs clears; only then does the broker come up. Every
// event reaches Kafka once, the clearance after the declaration events, and
// both processes stop on SIGTERM with exit code 0. Flags come from the
// environment here, as systemd's env file would give them.
func TestClearanceSurvivesBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	brokerAddr, apiAddr := freeAddr(t), freeAddr(t)
	api := start(t, []string{
		"BONDGATE_ADDR=" + apiAddr, "BONDGATE_DATA=" + t.TempDir(), "BONDGATE_BROKERS=" + brokerAddr,
		"BONDGATE_TOKENS=" + writeTokens(t),
	}, "api")
	base := "http://" + apiAddr
	waitHTTP(t, base+"/healthz")

	code, ready := call(t, "GET", base+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, code, "readyz must say Kafka is down: %v", ready)

	code, d := call(t, "POST", base+"/v1/predeclarations", "mro-hna", engineBody)
	require.Equal(t, http.StatusCreated, code, "%v", d)
	id := d["id"].(string)
	code, d = call(t, "POST", base+"/v1/predeclarations/"+id+"/decision", "officer-1", `{"decision":"clear"}`)
	require.Equal(t, http.StatusOK, code, "%v", d)
	assert.Equal(t, "cleared", d["status"])

	broker := start(t, nil, "broker", "--addr", brokerAddr, "--data", t.TempDir())

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

	assert.Eventually(t, func() bool { c, _ := call(t, "GET", base+"/readyz", "", ""); return c == 200 },
		20*time.Second, 100*time.Millisecond, "readyz must recover once the broker is up")

	assert.Equal(t, 0, api.stop(t), "api exit code after SIGTERM")
	assert.Equal(t, 0, broker.stop(t), "broker exit code after SIGTERM")
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
