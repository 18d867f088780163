package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
)

// Secrets that must never reach a log. The wrong tokens contain the right
// ones, so a log that echoed any Authorization header would be caught.
const (
	logGateToken    = "gate-secret-5b1e0c9a7d"
	logOfficerToken = "officer-secret-c4d2e81f06"
	logMROToken     = "mro-secret-91aa3b7e52"
)

func writeSecretTokens(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.json")
	body := fmt.Sprintf(`[{"token":%q,"role":"gate","gate":"G-LOG-1"},
 {"token":%q,"role":"customs","officer":"HK-0099"},
 {"token":%q,"role":"mro","firm":"HNA-TECHNIC"}]`, logGateToken, logOfficerToken, logMROToken)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

// jsonLines parses every line of out as one JSON object; any other line
// fails the test (a JSON log must be machine-readable end to end).
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if !assert.NoError(t, json.Unmarshal(sc.Bytes(), &m), "not a JSON log line: %s", sc.Text()) {
			continue
		}
		lines = append(lines, m)
	}
	require.NoError(t, sc.Err())
	return lines
}

func assertNoSecrets(t *testing.T, out string) {
	t.Helper()
	for _, secret := range []string{logGateToken, logOfficerToken, logMROToken} {
		assert.NotContains(t, out, secret, "a bearer token reached the log")
	}
}

func send(t *testing.T, method, url, auth, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestGateLogsAreJSONWithGateAndNoSecrets runs `bondgate gate` with JSON
// logs, a broker that is not there (so the link logs) and a mix of good and
// refused requests. Every line parses, every line names the gate, a line
// about a beam names its device, and no token appears anywhere.
func TestGateLogsAreJSONWithGateAndNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	addr := proctest.FreeAddr(t)
	gate := proctest.Start(t, binary, nil, "gate", "--id", "G-LOG-1", "--addr", addr, "--data", t.TempDir(),
		"--brokers", proctest.FreeAddr(t), "--tokens", writeSecretTokens(t), "--window", "1s",
		"--log-format", "json", "--log-level", "debug")
	base := "http://" + addr
	proctest.WaitHTTP(t, base+"/healthz", 30*time.Second)

	now := time.Now().UTC()
	events := fmt.Sprintf(`[{"event_id":"IR-9-000001","device_id":"IR-9","gate":"G-LOG-1","time":%q,"type":"infrared.break","beam":"A","segment":1},
 {"event_id":"IR-9-000002","device_id":"IR-9","gate":"G-LOG-1","time":%q,"type":"heartbeat"}]`,
		now.Add(-5*time.Second).Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	assert.Equal(t, http.StatusAccepted, send(t, "POST", base+"/v1/events", "Bearer "+logGateToken, events))
	assert.Equal(t, http.StatusAccepted, send(t, "POST", base+"/v1/events", "Bearer "+logGateToken, events), "a re-send")
	assert.Equal(t, http.StatusOK, send(t, "GET", base+"/v1/status", "Bearer "+logOfficerToken, ""))
	assert.Equal(t, http.StatusUnauthorized, send(t, "GET", base+"/v1/status", "Bearer "+logGateToken+"-wrong", ""))
	assert.Equal(t, http.StatusUnauthorized, send(t, "GET", base+"/v1/status", "Basic "+logOfficerToken, ""))
	assert.Equal(t, http.StatusUnauthorized, send(t, "GET", base+"/v1/status", "", ""))
	assert.Equal(t, http.StatusForbidden, send(t, "POST", base+"/v1/events", "Bearer "+logMROToken, events))
	assert.Equal(t, http.StatusBadRequest, send(t, "POST", base+"/v1/events", "Bearer "+logGateToken, `[{"event_id":"`+logOfficerToken+`"}]`))

	// The lone beam break is logged as noise once the window has passed.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(gate.Output(), "no partner") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 0, gate.Stop(t), "exit code after SIGTERM")

	out := gate.Output()
	assertNoSecrets(t, out)
	assertEachKeyOnce(t, out)
	lines := jsonLines(t, out)
	require.NotEmpty(t, lines)
	var beamLine map[string]any
	for _, l := range lines {
		assert.Equal(t, "G-LOG-1", l["gate"], "every gate log line names the gate: %v", l)
		if strings.Contains(fmt.Sprint(l["msg"]), "no partner") {
			beamLine = l
		}
	}
	require.NotNil(t, beamLine, "the unpartnered beam break was logged")
	assert.Equal(t, "IR-9", beamLine["device"], "a line about a sensor names the device")
}

// TestAPILogsAreJSONWithRequestIDsAndNoSecrets does the same for `bondgate
// api`: JSON lines, one per request with its request ID (the caller's when
// it sent one), and no token.
func TestAPILogsAreJSONWithRequestIDsAndNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	addr := proctest.FreeAddr(t)
	api := proctest.Start(t, binary, nil, "api", "--addr", addr, "--data", t.TempDir(), "--brokers", proctest.FreeAddr(t),
		"--tokens", writeSecretTokens(t), "--log-format", "json", "--log-level", "debug")
	base := "http://" + addr
	proctest.WaitHTTP(t, base+"/healthz", 30*time.Second)

	assert.Equal(t, http.StatusCreated, send(t, "POST", base+"/v1/predeclarations", "Bearer "+logMROToken, proctest.EngineBody()))
	assert.Equal(t, http.StatusOK, send(t, "GET", base+"/v1/predeclarations", "Bearer "+logOfficerToken, ""))
	assert.Equal(t, http.StatusUnauthorized, send(t, "GET", base+"/v1/predeclarations", "Bearer "+logOfficerToken+"x", ""))
	assert.Equal(t, http.StatusUnauthorized, send(t, "GET", base+"/v1/predeclarations", "", ""))
	assert.Equal(t, http.StatusForbidden, send(t, "POST", base+"/v1/predeclarations", "Bearer "+logGateToken, proctest.EngineBody()))

	req, err := http.NewRequest("GET", base+"/v1/predeclarations", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+logOfficerToken)
	req.Header.Set("X-Request-ID", "trace-42")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "trace-42", resp.Header.Get("X-Request-ID"))

	require.Equal(t, 0, api.Stop(t), "exit code after SIGTERM")
	out := api.Output()
	assertNoSecrets(t, out)
	assertEachKeyOnce(t, out)
	requests := 0
	sawTrace := false
	for _, l := range jsonLines(t, out) {
		if l["msg"] != "http request" {
			continue
		}
		requests++
		assert.NotEmpty(t, l["request_id"], "%v", l)
		if l["request_id"] == "trace-42" {
			sawTrace = true
		}
	}
	assert.GreaterOrEqual(t, requests, 6, "one line per request")
	assert.True(t, sawTrace, "the caller's request ID is the one logged")
}
