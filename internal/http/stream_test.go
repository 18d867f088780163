package http

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// sse is one event as a client parses it.
type sse struct {
	ID, Event, Data string
	Comment         bool
}

func (e sse) change(t *testing.T) StreamChange {
	t.Helper()
	var c StreamChange
	require.NoError(t, json.Unmarshal([]byte(e.Data), &c), "data: %s", e.Data)
	return c
}

func (e sse) id(t *testing.T) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(e.ID, 10, 64)
	require.NoError(t, err, "event %s has id %q", e.Event, e.ID)
	return n
}

// streamClient reads GET /v1/stream as a browser would.
type streamClient struct {
	t      *testing.T
	resp   *nethttp.Response
	events chan sse
	cancel context.CancelFunc
}

func (a *api) openStream(lastID string) *streamClient {
	a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hr, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, a.url+"/v1/stream", nil)
	require.NoError(a.t, err)
	hr.Header.Set("Authorization", "Bearer "+tokOfficer)
	hr.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		hr.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := nethttp.DefaultClient.Do(hr)
	require.NoError(a.t, err)
	require.Equal(a.t, nethttp.StatusOK, resp.StatusCode)
	require.Equal(a.t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	c := &streamClient{t: a.t, resp: resp, events: make(chan sse, 1024), cancel: cancel}
	go c.read()
	a.t.Cleanup(c.close)
	return c
}

func (c *streamClient) read() {
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	var ev sse
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				ev.Data = strings.Join(data, "\n")
				c.events <- ev
			}
			ev, data = sse{}, nil
		case strings.HasPrefix(line, ":"):
			c.events <- sse{Comment: true, Data: line}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
}

func (c *streamClient) close() {
	c.cancel()
	_ = c.resp.Body.Close()
}

// next returns the next event that is not a comment.
func (c *streamClient) next() sse {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			require.True(c.t, ok, "the stream ended")
			if ev.Comment {
				continue
			}
			return ev
		case <-deadline:
			c.t.Fatal("no stream event within 20 s")
		}
	}
}

// ready reads up to and including the ready event and returns the events
// before it.
func (c *streamClient) ready() (before []sse, ready streamReady) {
	c.t.Helper()
	for {
		ev := c.next()
		if ev.Event == StreamReady {
			require.NoError(c.t, json.Unmarshal([]byte(ev.Data), &ready))
			assert.Equal(c.t, strconv.FormatUint(ready.Head, 10), ev.ID, "ready carries the head as its id")
			return before, ready
		}
		before = append(before, ev)
	}
}

func TestStreamAuth(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/v1/stream", "", nethttp.StatusUnauthorized},
		{"unknown token", "/v1/stream", "nope", nethttp.StatusUnauthorized},
		{"token in the query string is not read", "/v1/stream?access_token=" + tokOfficer, "", nethttp.StatusUnauthorized},
		{"firm", "/v1/stream", tokHNA, nethttp.StatusForbidden},
		{"gate", "/v1/stream", tokGate, nethttp.StatusForbidden},
		{"auditor", "/v1/stream", tokAuditor, nethttp.StatusForbidden},
		{"gates board, firm", "/v1/gates", tokHNA, nethttp.StatusForbidden},
		{"gates board, no token", "/v1/gates", "", nethttp.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.get(tc.path, tc.token)
			require.Equal(t, tc.want, r.Status, "body: %s", r.Body)
			r.problem(t)
		})
	}
}

func TestStreamLiveThenResumeWithLastEventID(t *testing.T) {
	a := newAPI(t)
	before := a.submit(tokHNA) // history before the client arrives is not replayed

	c := a.openStream("")
	evs, rd := c.ready()
	assert.Empty(t, evs, "a new client starts at the head")
	assert.False(t, rd.Resumed)
	assert.NotZero(t, rd.Head)

	// Live: a submission and the officer's clearance, in order, as committed.
	d := a.submit(tokHNA)
	ev := c.next()
	require.Equal(t, StreamDeclaration, ev.Event)
	ch := ev.change(t)
	assert.Equal(t, d.ID, ch.ID)
	assert.Equal(t, "submit", ch.Action)
	assert.Equal(t, "mro:HNA-TECHNIC", ch.Actor)
	var rec zone.PreDeclaration
	require.NoError(t, json.Unmarshal(ch.Record, &rec))
	assert.Equal(t, zone.StatusSubmitted, rec.Status)
	first := ev.id(t)
	assert.Greater(t, first, rd.Head)

	r := a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	ev = c.next()
	require.Equal(t, StreamDeclaration, ev.Event)
	require.NoError(t, json.Unmarshal(ev.change(t).Record, &rec))
	assert.Equal(t, zone.StatusCleared, rec.Status)
	assert.Equal(t, d.ID, rec.ID)
	second := ev.id(t)
	assert.Greater(t, second, first)
	c.close()

	// Offline: three changes happen; the client comes back with the last ID
	// it saw and gets exactly those, in order, then ready.
	missed := []string{a.submit(tokGAMECO).ID, a.submit(tokHNA).ID}
	r = a.post("/v1/predeclarations/"+before.ID+"/decision", tokOfficer, `{"decision":"reject","reason":"wrong HS code"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	missed = append(missed, before.ID)

	c2 := a.openStream(strconv.FormatUint(second, 10))
	evs, rd = c2.ready()
	assert.True(t, rd.Resumed)
	require.Len(t, evs, 3, "events: %+v", evs)
	last := second
	for i, ev := range evs {
		assert.Equal(t, StreamDeclaration, ev.Event)
		assert.Equal(t, missed[i], ev.change(t).ID)
		assert.Greater(t, ev.id(t), last, "IDs only grow")
		last = ev.id(t)
	}
	assert.Equal(t, "reject", evs[2].change(t).Action)
	assert.Equal(t, "wrong HS code", evs[2].change(t).Reason)
	assert.Equal(t, last, rd.Head)

	// Resuming from the head replays nothing.
	c3 := a.openStream(strconv.FormatUint(rd.Head, 10))
	evs, rd3 := c3.ready()
	assert.Empty(t, evs)
	assert.True(t, rd3.Resumed)
	assert.NotContains(t, a.logs.String(), "cannot set a write deadline")
	assert.NotContains(t, a.logs.String(), tokOfficer, "the token is never logged")
}

func TestStreamResetWhenTooFarBehind(t *testing.T) {
	a := newAPI(t, func(c *Config) { c.Console.StreamBacklog = 3 })
	c := a.openStream("")
	_, rd := c.ready()
	c.close()
	for range 5 {
		a.submit(tokHNA)
	}

	for _, tc := range []struct{ name, lastID string }{
		{"behind the kept backlog", strconv.FormatUint(rd.Head, 10)},
		{"ahead of this server's history (another store)", "999999"},
		{"not an ID of this stream", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := a.openStream(tc.lastID)
			ev := c.next()
			require.Equal(t, StreamReset, ev.Event, "data: %s", ev.Data)
			var reset streamReady
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &reset))
			assert.NotEmpty(t, reset.Reason)
			assert.Equal(t, strconv.FormatUint(reset.Head, 10), ev.ID, "the reset moves the client to the head")
			evs, ready := c.ready()
			assert.Empty(t, evs, "nothing is replayed after a reset")
			assert.False(t, ready.Resumed)
			assert.Equal(t, reset.Head, ready.Head)
		})
	}

	// Within the backlog a resume still works: the last 3 events are kept.
	c = a.openStream("")
	_, rd = c.ready()
	c.close()
	a.submit(tokHNA)
	a.submit(tokHNA)
	c = a.openStream(strconv.FormatUint(rd.Head, 10))
	evs, ready := c.ready()
	assert.True(t, ready.Resumed)
	assert.Len(t, evs, 2)
}

func TestStreamResumesAcrossRestart(t *testing.T) {
	a := newAPI(t)
	c := a.openStream("")
	_, rd := c.ready()
	c.close()
	d := a.submit(tokHNA)

	// A new server on the same store (the API restarted): the backlog is
	// loaded from the audit trail, so the client still resumes.
	srv2 := NewServer(a.srv.cfg)
	hs := httptest.NewServer(srv2.Handler())
	t.Cleanup(hs.Close)
	b := *a
	b.url, b.srv = hs.URL, srv2
	c2 := b.openStream(strconv.FormatUint(rd.Head, 10))
	evs, ready := c2.ready()
	assert.True(t, ready.Resumed)
	require.Len(t, evs, 1)
	assert.Equal(t, d.ID, evs[0].change(t).ID)
}

func TestStreamCrossingsAndAlarms(t *testing.T) {
	var alarms *zone.AlarmService
	a := newAPI(t, func(c *Config) {})
	alarms = &zone.AlarmService{Store: bolt.NewAlarmStore(a.db), Now: time.Now}
	a.srv.cfg.Alarms = alarms
	crossings := bolt.NewCrossingStore(a.db)

	c := a.openStream("")
	c.ready()
	ctx := context.Background()
	now := time.Now().UTC()
	x := &zone.Crossing{ID: "G-MRO-1-X-1", Seq: 1, Gate: "G-MRO-1", Segment: 1, Decision: zone.DecisionUnidentified,
		Direction: zone.In, Time: now, EventIDs: []string{"IR-1-000231", "IR-1-000232"}, DecidedAt: now}
	_, err := crossings.RecordCrossing(ctx, "ev-x-1", x, nil)
	require.NoError(t, err)
	_, err = crossings.RecordAlarm(ctx, "ev-a-1", &zone.Alarm{ID: "A-1", Gate: "G-MRO-1", Kind: zone.AlarmUnidentified,
		Severity: "critical", Message: "a crossing nobody could identify", CrossingID: x.ID, Time: now})
	require.NoError(t, err)

	ev := c.next()
	require.Equal(t, StreamCrossing, ev.Event)
	var got zone.Crossing
	require.NoError(t, json.Unmarshal(ev.change(t).Record, &got))
	assert.Equal(t, x.ID, got.ID)
	assert.Equal(t, zone.DecisionUnidentified, got.Decision)
	assert.Equal(t, x.EventIDs, got.EventIDs)

	ev = c.next()
	require.Equal(t, StreamAlarm, ev.Event)
	var al zone.Alarm
	require.NoError(t, json.Unmarshal(ev.change(t).Record, &al))
	assert.Equal(t, "A-1", al.ID)
	assert.Equal(t, zone.AlarmOpen, al.State)
	assert.NotContains(t, ev.Data, `"order"`, "only the alarm's public fields go out")

	r := a.post("/v1/alarms/A-1/ack", tokOfficer, `{"note":"tow tractor, checked on camera"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	ev = c.next()
	require.Equal(t, StreamAlarm, ev.Event)
	require.NoError(t, json.Unmarshal(ev.change(t).Record, &al))
	assert.Equal(t, zone.AlarmAcked, al.State)
	assert.Equal(t, "tow tractor, checked on camera", al.AckNote)
	assert.Equal(t, "customs:HK-0031", ev.change(t).Actor)
}

// gateStandIn answers GET /v1/status like a gate service, only for the
// bearer it expects, and counts what it was asked.
func gateStandIn(t *testing.T, id string, depth *atomic.Int64) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path != "/v1/status" {
			nethttp.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+tokOfficer {
			w.WriteHeader(nethttp.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"gate":"`+id+`","link":"up","outbox_depth":`+strconv.FormatInt(depth.Load(), 10)+
			`,"clearances":2,"last_forwarded_seq":7,"sensors":[{"device_id":"IR-1","last_seen":"2026-11-26T10:00:00Z","ok":true}]}`)
	}))
	t.Cleanup(hs.Close)
	return hs
}

func TestGatesBoardAndGateEvents(t *testing.T) {
	var depth atomic.Int64
	gate := gateStandIn(t, "G-MRO-1", &depth)
	a := newAPI(t, func(c *Config) {
		c.Console.GateURLs = map[string]string{"G-MRO-1": gate.URL, "G-MAIN": "http://127.0.0.1:1"}
		c.Console.GatePoll = 20 * time.Millisecond
	})

	r := a.get("/v1/gates", tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var list struct {
		Items []GateBoard `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &list))
	require.Len(t, list.Items, 2)
	main, mro := list.Items[0], list.Items[1]
	assert.Equal(t, "G-MAIN", main.ID)
	assert.False(t, main.Reachable)
	assert.Contains(t, main.Problem, "unreachable")
	assert.Equal(t, "G-MRO-1", mro.ID)
	assert.True(t, mro.Reachable, "the officer's token was forwarded: %s", mro.Problem)
	assert.JSONEq(t, `{"gate":"G-MRO-1","link":"up","outbox_depth":0,"clearances":2,"last_forwarded_seq":7,
		"sensors":[{"device_id":"IR-1","last_seen":"2026-11-26T10:00:00Z","ok":true}]}`, string(mro.Status))
	assert.Nil(t, mro.BacklogSince)

	// The stream sends each gate at once, then again when its status changes.
	c := a.openStream("")
	seen := map[string]GateBoard{}
	for len(seen) < 2 {
		ev := c.next()
		if ev.Event == StreamGate {
			var g GateBoard
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
			assert.Empty(t, ev.ID, "gate events are not resumable and carry no id")
			seen[g.ID] = g
		}
	}
	depth.Store(4)
	for {
		ev := c.next()
		if ev.Event != StreamGate {
			continue
		}
		var g GateBoard
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		require.Equal(t, "G-MRO-1", g.ID, "only the gate that changed is sent again")
		var st struct {
			OutboxDepth int `json:"outbox_depth"`
		}
		require.NoError(t, json.Unmarshal(g.Status, &st))
		assert.Equal(t, 4, st.OutboxDepth)
		require.NotNil(t, g.BacklogSince, "a backlog has an age")
		break
	}
}

// TestGatePollSharedByStreams: one poller serves every open stream, so N
// clients cost one status request per gate per interval, not N, and the
// gates are not polled while nobody listens.
func TestGatePollSharedByStreams(t *testing.T) {
	const clients = 6
	const interval = 50 * time.Millisecond
	var depth, polls atomic.Int64
	standIn := gateStandIn(t, "G-MRO-1", &depth)
	gate := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		polls.Add(1)
		standIn.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	a := newAPI(t, func(c *Config) {
		c.Console.GateURLs = map[string]string{"G-MRO-1": gate.URL}
		c.Console.GatePoll = interval
	})

	time.Sleep(3 * interval)
	assert.Zero(t, polls.Load(), "no stream open: the gates are not polled")
	var streams []*streamClient
	for range clients {
		c := a.openStream("")
		c.ready()
		streams = append(streams, c)
	}
	for i, c := range streams {
		ev := c.next()
		require.Equal(t, StreamGate, ev.Event, "client %d gets the gate board", i)
	}

	start, before := time.Now(), polls.Load()
	time.Sleep(40 * interval)
	n, elapsed := polls.Load()-before, time.Since(start)
	most := int64(elapsed/interval) + 2
	t.Logf("%d polls in %v", n, elapsed)
	assert.LessOrEqual(t, n, most, "%d streams polled the gate %d times in %v: one poller would at most %d", clients, n, elapsed, most)
	assert.GreaterOrEqual(t, n, int64(2), "the gate is polled while streams are open")

	// Every client still hears a change, from the one poll.
	depth.Store(3)
	for i, c := range streams {
		ev := c.next()
		require.Equal(t, StreamGate, ev.Event, "client %d", i)
		var g GateBoard
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		assert.Contains(t, string(g.Status), `"outbox_depth":3`, "client %d", i)
	}

	for _, c := range streams {
		c.close()
	}
	for deadline := time.Now().Add(10 * time.Second); a.srv.Stream().listening(); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the closed streams are still subscribed")
	}
	time.Sleep(2 * interval)
	idle := polls.Load()
	time.Sleep(6 * interval)
	assert.Equal(t, idle, polls.Load(), "the poller stops when the last stream closes")
}

func TestStreamHeartbeatAndShutdown(t *testing.T) {
	a := newAPI(t, func(c *Config) { c.Console.Heartbeat = 30 * time.Millisecond })
	c := a.openStream("")
	c.ready()
	deadline := time.After(20 * time.Second)
	for beat := false; !beat; {
		select {
		case ev := <-c.events:
			beat = ev.Comment && ev.Data == ": heartbeat"
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
	// Shutdown ends open streams instead of waiting for them.
	require.NoError(t, a.srv.Shutdown(context.Background()))
	deadline = time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				r := a.get("/v1/stream", tokOfficer)
				assert.Equal(t, nethttp.StatusServiceUnavailable, r.Status, "no new stream after shutdown")
				return
			}
		case <-deadline:
			t.Fatal("the stream stayed open after shutdown")
		}
	}
}

func TestConsoleServed(t *testing.T) {
	a := newAPI(t)
	r := a.get("/", "")
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	assert.Equal(t, ConsoleContentSecurityPolicy, r.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
	body := string(r.Body)
	assert.Contains(t, body, `<html lang="zh-CN">`)
	assert.Contains(t, body, `src="/console/app.js"`)
	assert.NotContains(t, body, "<script>", "no inline script: the CSP forbids it")
	assert.NotContains(t, body, "style=", "no inline style: the CSP forbids it")

	for path, ct := range map[string]string{
		"/console/app.js": "text/javascript; charset=utf-8", "/console/i18n.js": "text/javascript; charset=utf-8",
		"/console/app.css": "text/css; charset=utf-8",
	} {
		r := a.get(path, "")
		require.Equal(t, nethttp.StatusOK, r.Status, path)
		assert.Equal(t, ct, r.Header.Get("Content-Type"), path)
		assert.Equal(t, ConsoleContentSecurityPolicy, r.Header.Get("Content-Security-Policy"), path)
	}
	js := string(a.get("/console/app.js", "").Body)
	assert.NotContains(t, js, "access_token", "the token never travels in a URL")
	assert.NotContains(t, js, "innerHTML", "API text is set as text, never parsed as HTML")
	assert.NotContains(t, js, "console.log")

	for _, path := range []string{"/console/nope.js", "/console/../server.go", "/console/", "/console/index.html"} {
		assert.Equal(t, nethttp.StatusNotFound, a.get(path, "").Status, path)
	}
	// The JSON API keeps its own strict policy.
	assert.Equal(t, web.JSONContentSecurityPolicy, a.get("/healthz", "").Header.Get("Content-Security-Policy"))
}
