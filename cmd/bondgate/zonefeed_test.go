package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/internal/api"
	"github.com/bondgate/bondgate/internal/demo"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// zoneStack is the whole system in this process: a kfake broker keeping its
// log on disk, the zone API (serveAPI, the real wiring) and the dedicated
// gate G-MRO-1 (serveGate), each on its own loopback port.
type zoneStack struct {
	t          *testing.T // the running (sub)test
	root       *testing.T // owns the cleanups
	brokerAddr string
	brokerDir  string
	broker     *kafka.Broker
	api, gate  string
	c          demo.Client
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
}

func startZoneStack(t *testing.T) *zoneStack {
	t.Helper()
	s := &zoneStack{t: t, root: t, brokerAddr: proctest.FreeAddr(t), brokerDir: t.TempDir()}
	s.startBroker()
	toks, err := zone.ParseTokens(bytes.NewReader(fixtures.Tokens()))
	require.NoError(t, err)
	apiAddr, gateAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	s.api, s.gate = "http://"+apiAddr, "http://"+gateAddr
	s.c = demo.NewClient(&http.Client{Timeout: 10 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	data := t.TempDir()
	wg.Go(func() {
		errs <- serveAPI(ctx, api.Config{Addr: apiAddr, DataDir: filepath.Join(data, "api"), Brokers: []string{s.brokerAddr},
			Tokens: toks, Gates: []string{"G-MRO-1", "G-MAIN"}, DedicatedGates: []string{"G-MRO-1"}, Log: quietLogger(),
			ExpiryInterval: 300 * time.Millisecond})
	})
	wg.Go(func() {
		errs <- serveGate(ctx, gateway.Config{GateID: "G-MRO-1", Addr: gateAddr, DataDir: filepath.Join(data, "gate"),
			Brokers: []string{s.brokerAddr}, Tokens: toks, Window: 3 * time.Second, Tick: 50 * time.Millisecond,
			KafkaWriteTimeout: 2 * time.Second, Log: quietLogger()})
	})
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("API and gate did not stop")
		}
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
	proctest.Eventually(s.t, 30*time.Second, "API and gate serving", func() bool {
		_, e1 := s.c.Call(ctx, http.MethodGet, s.api+"/healthz", "", nil, nil)
		_, e2 := s.c.Call(ctx, http.MethodGet, s.gate+"/healthz", "", nil, nil)
		return e1 == nil && e2 == nil
	})
	return s
}

func (s *zoneStack) startBroker() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: s.brokerAddr, DataDir: s.brokerDir}, quietLogger())
	require.NoError(s.t, err)
	s.broker = b
	s.root.Cleanup(b.Close)
}

func (s *zoneStack) do(method, url, token string, in, out any) {
	s.t.Helper()
	_, err := s.c.Call(context.Background(), method, url, token, in, out)
	require.NoError(s.t, err)
}

// declare pre-declares an engine on stand tag, with its window, and clears
// it; it returns once the gate holds the clearance.
func (s *zoneStack) declareCleared(tag string, from, to time.Time) *zone.PreDeclaration {
	s.t.Helper()
	before := s.gateStatus().Clearances
	var d zone.PreDeclaration
	s.do(http.MethodPost, s.api+"/v1/predeclarations", "mro-hna", map[string]any{
		"object":    map[string]any{"kind": "engine", "esn": "E2E-" + tag, "model": "GEnx-1B"},
		"direction": "in", "gate": "G-MRO-1",
		"window":         map[string]any{"from": from.UTC().Format(time.RFC3339Nano), "to": to.UTC().Format(time.RFC3339Nano)},
		"regime":         "bonded_maintenance",
		"declared_value": map[string]any{"amount": "182000000.00", "currency": "CNY"},
		"hs_code":        "84111200", "conveyance": map[string]any{"stand_tag": tag},
	}, &d)
	s.do(http.MethodPost, s.api+"/v1/predeclarations/"+d.ID+"/decision", "officer-1", map[string]any{"decision": "clear"}, &d)
	require.Equal(s.t, zone.StatusCleared, d.Status)
	proctest.Eventually(s.t, 60*time.Second, "the clearance reaches the gate", func() bool { return s.gateStatus().Clearances > before })
	return &d
}

type gateStatusBody struct {
	Link       string `json:"link"`
	Clearances int    `json:"clearances"`
}

func (s *zoneStack) gateStatus() gateStatusBody {
	var st gateStatusBody
	s.do(http.MethodGet, s.gate+"/v1/status", "officer-1", nil, &st)
	return st
}

// pass posts what the gate's sensors see when an engine on stand tag
// crosses inbound at t: the camera read, then beams A and B on segment 1.
func (s *zoneStack) pass(tag string, t time.Time) {
	s.t.Helper()
	id := strings.ToLower(tag) + fmt.Sprint(t.UnixNano())
	ts := func(d time.Duration) string { return t.Add(d).UTC().Format(time.RFC3339Nano) }
	events := []map[string]any{
		{"event_id": "CAM-1-" + id, "device_id": "CAM-1", "gate": "G-MRO-1", "time": ts(0), "type": "camera.detection",
			"object_class": "engine", "track_id": "t-" + id, "direction": "in",
			"reads": []map[string]any{{"kind": "stand_tag", "value": tag, "confidence": 0.97}}},
		{"event_id": "IR-1-" + id + "-a", "device_id": "IR-1", "gate": "G-MRO-1", "time": ts(500 * time.Millisecond), "type": "infrared.break", "beam": "A", "segment": 1},
		{"event_id": "IR-1-" + id + "-b", "device_id": "IR-1", "gate": "G-MRO-1", "time": ts(time.Second), "type": "infrared.break", "beam": "B", "segment": 1},
	}
	code, err := s.c.Call(context.Background(), http.MethodPost, s.gate+"/v1/events", "gate-mro-1", events, nil)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusAccepted, code)
}

// gateCrossing waits for the gate's crossing of stand tag and returns it.
func (s *zoneStack) gateCrossing(tag string) zone.Crossing {
	s.t.Helper()
	var found zone.Crossing
	proctest.Eventually(s.t, 60*time.Second, "the gate decides the crossing of "+tag, func() bool {
		var page struct {
			Items []zone.Crossing `json:"items"`
		}
		s.do(http.MethodGet, s.gate+"/v1/crossings?since_seq=0", "officer-1", nil, &page)
		for _, x := range page.Items {
			if x.Identity != nil && x.Identity.Value == tag {
				found = x
				return true
			}
		}
		return false
	})
	return found
}

func (s *zoneStack) declaration(id string) *zone.PreDeclaration {
	s.t.Helper()
	var d zone.PreDeclaration
	s.do(http.MethodGet, s.api+"/v1/predeclarations/"+id, "officer-1", nil, &d)
	return &d
}

func (s *zoneStack) waitStatus(id string, want zone.Status, d time.Duration) *zone.PreDeclaration {
	s.t.Helper()
	var got *zone.PreDeclaration
	proctest.Eventually(s.t, d, fmt.Sprintf("declaration %s becomes %s", id, want), func() bool {
		got = s.declaration(id)
		return got.Status == want
	})
	return got
}

// TestZoneFeedEndToEnd runs declaration → clearance → gate decision → zone
// state through a real broker, API and gate, with the link down in the
// middle, a revocation reaching an online gate, an expiry honoured by an
// offline one, and the demo's story.
func TestZoneFeedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end through a broker restart")
	}
	s := startZoneStack(t)

	t.Run("crossing decided with the link down reaches the zone after the broker returns", func(t *testing.T) {
		s.t = t
		now := time.Now()
		d := s.declareCleared("STAND-E2E-1", now.Add(-10*time.Minute), now.Add(time.Hour))

		s.broker.Close()
		proctest.Eventually(s.t, 60*time.Second, "the gate sees its link down", func() bool { return s.gateStatus().Link == "down" })
		s.pass("STAND-E2E-1", time.Now())
		x := s.gateCrossing("STAND-E2E-1")
		require.Equal(t, zone.DecisionAuthorized, x.Decision, "the gate decides from its own copy, no link needed")
		require.Equal(t, d.ID, x.ClearanceID)
		require.Equal(t, zone.StatusCleared, s.declaration(d.ID).Status, "the zone cannot know yet")

		s.startBroker()
		got := s.waitStatus(d.ID, zone.StatusCrossed, 90*time.Second)
		require.Equal(t, x.ID, got.CrossingID)
		require.Equal(t, "gate:G-MRO-1", got.History[len(got.History)-1].Actor)

		var list struct {
			Items []zone.Crossing `json:"items"`
		}
		s.do(http.MethodGet, s.api+"/v1/crossings?gate=G-MRO-1", "officer-1", nil, &list)
		require.Len(t, list.Items, 1)
		require.Equal(t, x.ID, list.Items[0].ID)

		// The arrival is now: one later than now is refused.
		arrived := time.Now().UTC()
		s.do(http.MethodPost, s.api+"/v1/predeclarations/"+d.ID+"/arrival", "mro-hna",
			map[string]any{"at": arrived.Format(time.RFC3339Nano)}, &got)
		require.Equal(t, zone.StatusArrived, got.Status)
		require.InDelta(t, arrived.Sub(*got.CrossedAt).Minutes(), *got.TransitMinutes, 0.01)
	})

	t.Run("revocation reaches an online gate: the crossing is then unauthorized", func(t *testing.T) {
		s.t = t
		now := time.Now()
		before := s.gateStatus().Clearances
		d := s.declareCleared("STAND-E2E-2", now.Add(-10*time.Minute), now.Add(time.Hour))
		var r zone.PreDeclaration
		s.do(http.MethodPost, s.api+"/v1/predeclarations/"+d.ID+"/decision", "officer-1",
			map[string]any{"decision": "revoke", "reason": "ESN on the stand does not match the paperwork"}, &r)
		require.Equal(t, zone.StatusRevoked, r.Status)
		proctest.Eventually(s.t, 60*time.Second, "the gate drops the revoked clearance", func() bool { return s.gateStatus().Clearances == before })

		s.pass("STAND-E2E-2", time.Now())
		x := s.gateCrossing("STAND-E2E-2")
		require.Equal(t, zone.DecisionUnauthorized, x.Decision)

		var alarm zone.Alarm
		proctest.Eventually(s.t, 60*time.Second, "the unauthorized-crossing alarm reaches the officers", func() bool {
			var page struct {
				Items []zone.Alarm `json:"items"`
			}
			s.do(http.MethodGet, s.api+"/v1/alarms?state=open&gate=G-MRO-1", "officer-1", nil, &page)
			for _, a := range page.Items {
				if a.CrossingID == x.ID {
					alarm = a
					return true
				}
			}
			return false
		})
		require.Equal(t, zone.AlarmUnauthorized, alarm.Kind)
		require.Equal(t, zone.StatusRevoked, s.declaration(d.ID).Status, "a crossing changes nothing on a revoked declaration")

		var acked zone.Alarm
		s.do(http.MethodPost, s.api+"/v1/alarms/"+alarm.ID+"/ack", "officer-1", map[string]any{"note": "stand turned back at the apron"}, &acked)
		require.Equal(t, zone.AlarmAcked, acked.State)
	})

	t.Run("expiry is honoured by an offline gate from its own copy", func(t *testing.T) {
		s.t = t
		now := time.Now()
		end := now.Add(4 * time.Second)
		d := s.declareCleared("STAND-E2E-3", now.Add(-10*time.Minute), end)

		s.broker.Close()
		proctest.Eventually(s.t, 60*time.Second, "the gate sees its link down", func() bool { return s.gateStatus().Link == "down" })
		proctest.Eventually(s.t, 30*time.Second, "the window passes", func() bool { return time.Now().After(end.Add(500 * time.Millisecond)) })
		s.pass("STAND-E2E-3", time.Now())
		x := s.gateCrossing("STAND-E2E-3")
		require.Equal(t, zone.DecisionUnauthorized, x.Decision, "past its window the clearance is refused with no word from the zone")

		got := s.waitStatus(d.ID, zone.StatusExpired, 30*time.Second)
		require.Equal(t, zone.System, got.History[len(got.History)-1].Actor)
		s.startBroker()
	})

	t.Run("the demo tells the GEnx-1B story", func(t *testing.T) {
		s.t = t
		var out bytes.Buffer
		err := demo.Run(context.Background(), demo.Options{API: s.api, Gate: s.gate, MROToken: "mro-hna", Officer: "officer-1",
			GateTok: "gate-mro-1", Transit: 40 * time.Minute, Timeout: 90 * time.Second, Out: &out})
		require.NoError(t, err, out.String())
		t.Log("\n" + out.String())
		// The crossing just happened: a 40-minute tow would end in the
		// future, which the API refuses, so the arrival is now.
		require.Contains(t, out.String(), "would be in the future")
		require.Contains(t, out.String(), "within the 40-minute mark")
		require.Contains(t, out.String(), "arrived")
	})
}

// TestDemoSaysWhenDevIsNotRunning: a clear error, not a stack of dial errors.
func TestDemoSaysWhenDevIsNotRunning(t *testing.T) {
	var out bytes.Buffer
	err := demo.Run(context.Background(), demo.Options{API: "http://" + proctest.FreeAddr(t), Gate: "http://" + proctest.FreeAddr(t), Out: &out})
	require.Error(t, err)
	require.Contains(t, err.Error(), "is `bondgate dev` running?")
}
