package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/tlsconf/tlstest"
	"github.com/bondgate/bondgate/internal/web"
)

func heartbeats(device string, n, from int, at time.Time) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = ev(fmt.Sprintf("%s-%06d", device, from+i), device, "heartbeat", at, nil)
	}
	return out
}

func TestFloodingDeviceIsRefusedWhileOthersGetThrough(t *testing.T) {
	// Nearly no refill, so the test does not depend on how fast it runs.
	g := startGate(t, t.TempDir(), func(c *Config) { c.DeviceRate, c.DeviceBurst = 0.001, 10 })
	now := time.Now()

	st, _, raw := g.post(tokGate, heartbeats("CAM-BROKEN", 10, 0, now))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	before := g.storedEvents()

	// One over: refused whole, with a mixed batch too, and nothing stored.
	req, err := http.NewRequest(http.MethodPost, g.http.URL+"/v1/events",
		bytes.NewReader(mustJSON(t, append(heartbeats("IR-2", 1, 0, now), heartbeats("CAM-BROKEN", 1, 10, now)...))))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tokGate)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, string(body))
	assert.Equal(t, web.ProblemContentType, res.Header.Get("Content-Type"))
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After must be whole seconds: %q", res.Header.Get("Retry-After"))
	assert.Positive(t, secs)
	var p web.Problem
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, "too_many_requests", p.Code)
	assert.Equal(t, before, g.storedEvents(), "a refused batch stores nothing")

	// The other devices are not starved: the refused batch took none of
	// IR-2's tokens either.
	for i := range 10 {
		st, acc, raw := g.post(tokGate, heartbeats("IR-2", 1, i, now))
		require.Equal(t, http.StatusAccepted, st, "IR-2 event %d: %s", i, raw)
		assert.False(t, acc.Accepted[0].Duplicate)
	}
	st, _, _ = g.post(tokGate, heartbeats("CAM-BROKEN", 1, 11, now))
	assert.Equal(t, http.StatusTooManyRequests, st, "the flooding device stays limited")
	_, metrics := g.do(http.MethodGet, "/metrics", "", nil)
	assert.Contains(t, string(metrics), `bondgate_gate_rate_limited_requests_total{gate="`+testGate+`"} 2`,
		"refusals are counted for the operator")
}

func TestDeviceLimiterRefillsAndAllowsABigBatchFromAFullBucket(t *testing.T) {
	clock := time.Unix(1_800_000_000, 0)
	l := newDeviceLimiter(10, 5, func() time.Time { return clock })
	_, ok := l.take(map[string]int{"CAM-1": 50})
	require.True(t, ok, "a full bucket admits a batch bigger than the burst")
	wait, ok := l.take(map[string]int{"CAM-1": 1})
	require.False(t, ok)
	assert.InDelta(t, 4.6, wait.Seconds(), 0.01, "45 tokens of debt plus one at 10/s")
	clock = clock.Add(5 * time.Second)
	_, ok = l.take(map[string]int{"CAM-1": 1})
	assert.True(t, ok)
	_, ok = newDeviceLimiter(-1, 0, nil).take(map[string]int{"X": 1e6})
	assert.True(t, ok, "a negative rate turns the limit off")
}

func TestIngestBodyLimitIs413(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	big := `[` + strings.Repeat(`{"event_id":"x"},`, (maxBodyBytes/17)+10) + `{}]`
	st, raw := g.do(http.MethodPost, "/v1/events", tokGate, big)
	require.Equal(t, http.StatusRequestEntityTooLarge, st, string(raw[:min(len(raw), 300)]))
	var p web.Problem
	require.NoError(t, json.Unmarshal(raw, &p))
	assert.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	assert.Zero(t, g.storedEvents())

	// A full batch of 1,000 realistic camera events fits well within it.
	now := time.Now()
	batch := make([]any, decide.MaxBatch)
	for i := range batch {
		batch[i] = ev(fmt.Sprintf("CAM-1-%06d", i), "CAM-1", decide.EventDetection, now, map[string]any{
			"object_class": "engine", "track_id": "t-" + strconv.Itoa(i), "direction": "in",
			"reads":    []any{map[string]any{"kind": "stand_tag", "value": "STAND-0042", "confidence": 0.97}},
			"snapshot": "nvr://cam-1/2026/11/26/t-" + strconv.Itoa(i) + ".jpg"})
	}
	assert.Less(t, len(mustJSON(t, batch)), maxBodyBytes/8)
	st2, _, raw2 := g.post(tokGate, batch)
	require.Equal(t, http.StatusAccepted, st2, string(raw2[:min(len(raw2), 300)]))
}

func TestGateSecurityHeaders(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	for _, path := range []string{"/v1/status", "/v1/nope", "/healthz"} {
		req, err := http.NewRequest(http.MethodGet, g.http.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tokGate)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"), path)
		assert.Equal(t, web.JSONContentSecurityPolicy, res.Header.Get("Content-Security-Policy"), path)
		assert.Empty(t, res.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
		if strings.HasPrefix(path, "/v1/") {
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), path)
		}
	}
}

// startTLSGate runs a gate through Run on a real TLS listener with client
// certificates of ca accepted.
func startTLSGate(t *testing.T, ca *tlstest.CA) string {
	t.Helper()
	addr := freeAddr(t)
	cfg := tlsconf.ServerConfig(ca.Server(t).TLS)
	tlsconf.RequestClientCerts(cfg, ca.Pool())
	svc, err := New(Config{GateID: testGate, DataDir: t.TempDir(), Tokens: testTokens(t), Log: quietLog(),
		Addr: addr, TLS: cfg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("gate did not stop")
		}
	})
	url := "https://" + addr
	eventually(t, "the gate serves HTTPS", func() bool {
		_, _, err := tlsPost(url+"/healthz", tlstest.ClientConfig(ca), "", nil)
		return err == nil
	})
	return url
}

// tlsPost sends body (GET when nil) over a fresh connection with cfg.
func tlsPost(url string, cfg *tls.Config, token string, body []byte) (int, http.Header, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header, nil
}

func TestGateOverTLSWithClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "bondgate gate hardware CA")
	url := startTLSGate(t, ca)
	now := time.Now()
	body := func(i int) []byte { return mustJSON(t, heartbeats("IR-1", 1, i, now)) }

	st, h, err := tlsPost(url+"/v1/events", tlstest.ClientConfig(ca), tokGate, body(1))
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, st, "HTTPS with a token")
	assert.Contains(t, h.Get("Strict-Transport-Security"), "max-age=")

	st, _, err = tlsPost(url+"/v1/events", tlstest.ClientConfig(ca, ca.Client(t, testGate).TLS), "", body(2))
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, st, "a client certificate naming this gate stands for its token")

	st, _, err = tlsPost(url+"/v1/events", tlstest.ClientConfig(ca, ca.Client(t, "G-MAIN").TLS), "", body(3))
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, st, "a certificate for another gate")

	st, _, err = tlsPost(url+"/v1/events", tlstest.ClientConfig(ca, ca.Client(t, testGate).TLS), "wrong-token", body(4))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, st, "a token, when sent, is judged on its own")

	st, _, err = tlsPost(url+"/v1/events", tlstest.ClientConfig(ca), "", body(5))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, st, "neither token nor certificate")

	other := tlstest.NewCA(t, "someone else's CA")
	_, _, err = tlsPost(url+"/v1/events", tlstest.ClientConfig(ca, other.Client(t, testGate).TLS), "", body(6))
	require.Error(t, err, "a certificate from another CA is refused in the handshake")

	res, err := (&http.Client{Timeout: 10 * time.Second}).Get("http" + strings.TrimPrefix(url, "https") + "/healthz")
	if err == nil {
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "plain HTTP to the TLS port must not be served")
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// Paths under /v1 that no route serves still ask for a token first (401),
// and only an authenticated caller learns they do not exist (404), also
// for a known path with a method it does not serve.
func TestGateUnknownV1PathsAuthenticateFirst(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/v1/nope", "", http.StatusUnauthorized},
		{http.MethodGet, "/v1/nope", "wrong", http.StatusUnauthorized},
		{http.MethodGet, "/v1", "", http.StatusUnauthorized},
		{http.MethodGet, "/v1/nope", tokGate, http.StatusNotFound},
		{http.MethodGet, "/v1", tokGate, http.StatusNotFound},
		{http.MethodGet, "/nope", "", http.StatusNotFound},
		{http.MethodGet, "/v1/status", "", http.StatusUnauthorized},
		{http.MethodPost, "/v1/events", "", http.StatusUnauthorized},
		{http.MethodPost, "/v1/events", tokCustoms, http.StatusForbidden},
		{http.MethodDelete, "/v1/events", tokGate, http.StatusNotFound},
		{http.MethodDelete, "/v1/events", "", http.StatusUnauthorized},
	} {
		st, raw := g.do(tc.method, tc.path, tc.token, nil)
		assert.Equal(t, tc.want, st, "%s %s with %q: %s", tc.method, tc.path, tc.token, raw)
		assert.Contains(t, string(raw), `"status":`+strconv.Itoa(tc.want), "problem+json body")
	}
}

// Every answer carries a request ID: the caller's when it is sane, else a
// ULID the gate made; a problem body names the same ID.
func TestGateRequestIDOnAnswersAndProblems(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	send := func(path, token, id string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, g.http.URL+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if id != "" {
			req.Header.Set(web.HeaderRequestID, id)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, raw
	}
	res, _ := send("/v1/status", tokGate, "cam-req-7")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, []string{"cam-req-7"}, res.Header.Values(web.HeaderRequestID))

	res, raw := send("/v1/status", "", "cam-req-8")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	var p web.Problem
	require.NoError(t, json.Unmarshal(raw, &p), string(raw))
	assert.Equal(t, "cam-req-8", p.RequestID)
	assert.Equal(t, []string{"cam-req-8"}, res.Header.Values(web.HeaderRequestID))

	seen := map[string]bool{}
	for _, bad := range []string{"", "has space", strings.Repeat("x", 129)} {
		res, raw = send("/v1/nope", tokGate, bad)
		assert.Equal(t, http.StatusNotFound, res.StatusCode)
		id := res.Header.Get(web.HeaderRequestID)
		assert.Len(t, id, 26, "a ULID")
		assert.False(t, seen[id], "a new ID for each request")
		seen[id] = true
		p = web.Problem{}
		require.NoError(t, json.Unmarshal(raw, &p), string(raw))
		assert.Equal(t, id, p.RequestID)
	}
}
