package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/tlsconf/tlstest"
)

// securedBroker starts `bondgate broker` speaking mTLS only, with SASL
// users api (SCRAM-SHA-512) and gate (SCRAM-SHA-256), and returns its
// address and a folder holding ca.pem, client.crt/.key and a password
// file per user (api.pw, gate.pw).
func securedBroker(t *testing.T) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	ca := tlstest.NewCA(t, "kafka-ca")
	srvCert, srvKey := ca.Server(t).WriteFiles(t, dir, "broker")
	ca.Client(t, "bondgate").WriteFiles(t, dir, "client")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	write("ca.pem", string(ca.PEM))
	write("api.pw", "api-secret\n")
	write("gate.pw", "gate-secret\n")
	users := write("users.json", `[{"user":"api","password":"api-secret","mechanism":"SCRAM-SHA-512"},
		{"user":"gate","password":"gate-secret","mechanism":"SCRAM-SHA-256"}]`)
	addr = proctest.FreeAddr(t)
	b := proctest.Start(t, binary, nil, "broker", "--addr", addr, "--tls-cert", srvCert, "--tls-key", srvKey,
		"--client-ca", filepath.Join(dir, "ca.pem"), "--sasl-users", users)
	require.Eventually(t, func() bool { return strings.Contains(b.Output(), "broker listening") },
		20*time.Second, 50*time.Millisecond, "broker never started")
	return addr, dir
}

// kafkaArgs are the client flags for user over mTLS to the broker of dir.
func kafkaArgs(dir, mech, user string) []string {
	return []string{"--kafka-tls-ca", filepath.Join(dir, "ca.pem"),
		"--kafka-tls-cert", filepath.Join(dir, "client.crt"), "--kafka-tls-key", filepath.Join(dir, "client.key"),
		"--kafka-sasl-mechanism", mech, "--kafka-username", user}
}

// TestClearanceFlowsOverMTLSAndSCRAM: broker, API and gate as real
// processes, Kafka spoken over mTLS with SCRAM-SHA-512 (API) and
// SCRAM-SHA-256 (gate), the passwords from files named in the
// environment: a clearance customs gives reaches the gate, and both
// services are ready.
func TestClearanceFlowsOverMTLSAndSCRAM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	broker, dir := securedBroker(t)
	tokens := proctest.WriteTokens(t)
	apiAddr, gateAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	proctest.Start(t, binary, []string{"BONDGATE_KAFKA_PASSWORD_FILE=" + filepath.Join(dir, "api.pw")},
		append([]string{"api", "--addr", apiAddr, "--data", t.TempDir(), "--brokers", broker, "--tokens", tokens},
			kafkaArgs(dir, "SCRAM-SHA-512", "api")...)...)
	proctest.Start(t, binary, []string{"BONDGATE_KAFKA_PASSWORD_FILE=" + filepath.Join(dir, "gate.pw")},
		append([]string{"gate", "--id", "G-MRO-1", "--addr", gateAddr, "--data", t.TempDir(), "--brokers", broker, "--tokens", tokens},
			kafkaArgs(dir, "SCRAM-SHA-256", "gate")...)...)
	api, gate := "http://"+apiAddr, "http://"+gateAddr
	proctest.WaitHTTP(t, api+"/healthz", 30*time.Second)
	proctest.WaitHTTP(t, gate+"/healthz", 30*time.Second)

	code, d := proctest.Call(t, "POST", api+"/v1/predeclarations", "mro-hna", proctest.EngineBody())
	require.Equal(t, http.StatusCreated, code, "%v", d)
	code, d = proctest.Call(t, "POST", api+"/v1/predeclarations/"+d["id"].(string)+"/decision", "officer-1", `{"decision":"clear"}`)
	require.Equal(t, http.StatusOK, code, "%v", d)

	assert.Eventually(t, func() bool {
		_, st := proctest.Call(t, "GET", gate+"/v1/status", "officer-1", "")
		n, _ := st["clearances"].(float64)
		return n == 1
	}, 60*time.Second, 200*time.Millisecond, "the clearance never reached the gate")
	assert.Eventually(t, func() bool { c, _ := proctest.Call(t, "GET", api+"/readyz", "", ""); return c == http.StatusOK },
		20*time.Second, 100*time.Millisecond, "the API is ready over mTLS and SCRAM")
	_, st := proctest.Call(t, "GET", gate+"/readyz", "", "")
	assert.Equal(t, "up", st["link"])
}

// TestKafkaRefusalIsNamedOnceAndInReadyz: an API with the wrong password
// and a gate that does not trust the broker's certificate keep running
// (the gate decides alone), say why in /readyz — "auth failed: " and the
// cause — and log the refusal once per client, not on every retry.
func TestKafkaRefusalIsNamedOnceAndInReadyz(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	broker, dir := securedBroker(t)
	tokens := proctest.WriteTokens(t)
	apiAddr, gateAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	api := proctest.Start(t, binary, []string{"BONDGATE_KAFKA_PASSWORD_FILE=" + filepath.Join(dir, "gate.pw")}, // not api's
		append([]string{"api", "--addr", apiAddr, "--data", t.TempDir(), "--brokers", broker, "--tokens", tokens, "--log-format", "json"},
			kafkaArgs(dir, "SCRAM-SHA-512", "api")...)...)
	gateArgs := kafkaArgs(dir, "SCRAM-SHA-256", "gate")
	gateArgs[1] = filepath.Join(dir, "client.crt") // a CA file that is not the broker's CA
	proctest.Start(t, binary, []string{"BONDGATE_KAFKA_PASSWORD_FILE=" + filepath.Join(dir, "gate.pw")},
		append([]string{"gate", "--id", "G-MRO-1", "--addr", gateAddr, "--data", t.TempDir(), "--brokers", broker, "--tokens", tokens},
			gateArgs...)...)
	proctest.WaitHTTP(t, "http://"+apiAddr+"/healthz", 30*time.Second)
	proctest.WaitHTTP(t, "http://"+gateAddr+"/healthz", 30*time.Second)

	readyz := func(url, key string) string {
		_, body := proctest.Call(t, "GET", url+"/readyz", "", "")
		if c, ok := body["components"].(map[string]any); ok { // the API nests its checks
			body = c
		}
		s, _ := body[key].(string)
		return s
	}
	var apiSays string
	require.Eventually(t, func() bool {
		apiSays = readyz("http://"+apiAddr, "kafka")
		return strings.HasPrefix(apiSays, "auth failed: ")
	},
		20*time.Second, 100*time.Millisecond, "API readyz never named the refusal: %q", apiSays)
	assert.Contains(t, apiSays, `SASL SCRAM-SHA-512 as "api" refused (wrong user or password?)`)
	code, _ := proctest.Call(t, "GET", "http://"+apiAddr+"/readyz", "", "")
	assert.Equal(t, http.StatusServiceUnavailable, code)

	var gateSays string
	require.Eventually(t, func() bool { gateSays = readyz("http://"+gateAddr, "kafka"); return gateSays != "" },
		20*time.Second, 100*time.Millisecond, "gate readyz never named the refusal")
	assert.Contains(t, gateSays, "auth failed: the broker's TLS certificate is not trusted (check --kafka-tls-ca)")
	code, _ = proctest.Call(t, "GET", "http://"+gateAddr+"/readyz", "", "")
	assert.Equal(t, http.StatusOK, code, "the gate stays ready: it decides alone")

	// Several probe rounds (5 s apart) later, still one line per client
	// (the publisher and the gate-feed consumer).
	time.Sleep(11 * time.Second)
	refusals := 0
	for _, line := range strings.Split(api.Output(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "kafka refuses this client" {
			refusals++
			assert.Equal(t, "ERROR", m["level"])
		}
	}
	assert.Equal(t, 2, refusals, "logged once per client, not per retry:\n%s", api.Output())
}

// TestTopicsOverMTLSAndSASL: `bondgate topics` checks the secured broker
// with the right settings (exit 3: the seeded topics lack their configs)
// and names the refusal with a wrong password (exit 1).
func TestTopicsOverMTLSAndSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	broker, dir := securedBroker(t)
	args := append([]string{"--brokers", broker, "--apply", "../../ops/kafka/topics.json", "--check",
		"--replication-factor-override", "1", "--timeout", "5s"}, kafkaArgs(dir, "SCRAM-SHA-512", "api")...)
	out, code := topicsCmd(t, append(args, "--kafka-password-file", filepath.Join(dir, "api.pw"))...)
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "NOT in sync")

	out, code = topicsCmd(t, append(args, "--kafka-password-file", filepath.Join(dir, "gate.pw"))...)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, `auth failed: SASL SCRAM-SHA-512 as "api" refused (wrong user or password?)`)
}
