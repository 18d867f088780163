package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// The fuzz targets of the gate. `go test` replays the seeds below and the
// corpus under testdata/fuzz/<Name>/; `go test -fuzz=^Name$ -fuzztime=60s`
// looks for more (see README "Reliability").

// fuzzGate runs one gate for a whole fuzz target (a gate per input would be
// far too slow) with the device limit off, so every answer is about the
// input alone.
func fuzzGate(f *testing.F) *Service {
	f.Helper()
	svc, err := New(Config{GateID: testGate, DataDir: f.TempDir(), Tokens: testTokens(f), Log: quietLog(),
		Tick: time.Hour, DeviceRate: -1, Linger: -1})
	require.NoError(f, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-done
	})
	return svc
}

// addStreamSeeds adds every event of the recorded fixture streams, one per
// seed, so the fuzzer starts from what real hardware sends.
func addStreamSeeds(f *testing.F, add func(line []byte)) {
	f.Helper()
	files, err := filepath.Glob("../fixtures/streams/*.jsonl")
	require.NoError(f, err)
	for _, name := range files {
		raw, err := os.ReadFile(name)
		require.NoError(f, err)
		for line := range bytes.Lines(raw) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				add(line)
			}
		}
	}
}

var fuzzSingleSeeds = []string{
	`{"event_id":"CAM-1-000017","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:00Z","type":"camera.detection","object_class":"engine","track_id":"t-17","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-0042","confidence":0.97}],"snapshot":"nvr://cam-1/2026/11/26/t-17.jpg"}`,
	`{"event_id":"IR-1-000231","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:01Z","type":"infrared.break","beam":"A","segment":1}`,
	`{"event_id":"IR-1-000232","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat"}`,
	`{"event_id":"IR-1-000233","device_id":"IR-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"infrared.fault","code":"137","state":"changed"}`,
	`{"event_id":"X","device_id":"CAM-1","gate":"G-MAIN","time":"2026-11-26T10:00:02Z","type":"heartbeat"}`,
	`{"event_id":"X","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat","extra":1}`,
	`{"event_id":"X","device_id":"CAM 1","gate":"G-MRO-1","time":"yesterday","type":"heartbeat"}`,
	`{"event_id":"Y","device_id":"C","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"infrared.break","beam":"C","segment":-1}`,
	`{} {}`, `null`, `"x"`, `[]`, ``, `{"reads":[1,2]}`, `{"time":null}`, "\xff\xfe",
	// Bodies ParseEvents leaves to its strict path (decide/parse.go): names
	// in another case or escaped, a name twice, invalid UTF-8 in a value.
	`{"EVENT_ID":"K1","Device_Id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat"}`,
	`{"event\u005fid":"K2","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat"}`,
	`{"event_id":"K3","device_id":"CAM-1","gate":"G-MRO-1","time":"2026-11-26T10:00:02Z","type":"heartbeat","event_id":"K4"}`,
	"{\"event_id\":\"K5\xff\",\"device_id\":\"CAM-1\",\"gate\":\"G-MRO-1\",\"time\":\"2026-11-26T10:00:02Z\",\"type\":\"heartbeat\"}",
	// Times at and past the bounds: years 2000–2199 in UTC, at most 5
	// minutes ahead of the gate's clock.
	`{"event_id":"T1","device_id":"IR-1","gate":"G-MRO-1","time":"9999-12-31T23:30:00-01:00","type":"heartbeat"}`,
	`{"event_id":"T2","device_id":"IR-1","gate":"G-MRO-1","time":"1999-12-31T23:59:59.999Z","type":"heartbeat"}`,
	`{"event_id":"T3","device_id":"IR-1","gate":"G-MRO-1","time":"2000-01-01T00:30:00+01:00","type":"heartbeat"}`,
	`{"event_id":"T4","device_id":"IR-1","gate":"G-MRO-1","time":"2199-12-31T23:59:59Z","type":"heartbeat"}`,
	`{"event_id":"T5","device_id":"IR-1","gate":"G-MRO-1","time":"0000-01-01T00:00:00Z","type":"heartbeat"}`,
	`{"event_id":"T6","device_id":"IR-1","gate":"G-MRO-1","time":"2000-01-01T00:00:00Z","type":"heartbeat"}`,
}

// timeRefused is what the gate must say of parsed events' times: an event
// outside 2000–2199 (UTC) or more than 5 minutes ahead of now refuses the
// batch. unsure marks a time too near the "ahead" bound to judge from here.
func timeRefused(events []decide.SensorEvent, now time.Time) (refused, unsure bool) {
	for _, e := range events {
		if y := e.Time.UTC().Year(); y < 2000 || y > 2199 {
			return true, false
		}
		ahead := e.Time.Sub(now)
		if ahead > 5*time.Minute-2*time.Second && ahead < 5*time.Minute+2*time.Second {
			unsure = true
		} else if ahead > 5*time.Minute {
			refused = true
		}
	}
	return refused, unsure && !refused
}

// checkIngestAnswer checks one POST /v1/events answer against what
// ParseEvents says of the body: a 202 only for a body it accepts, whose
// events are all for this gate, with one accepted entry per event; a
// refused body answers 400 (or 403 for another gate, 413 too large) as
// problem+json; never a 5xx.
func checkIngestAnswer(t *testing.T, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	st := rec.Code
	if st >= 500 {
		t.Fatalf("status %d for body %q: %s", st, body, rec.Body.Bytes())
	}
	events, perr := decide.ParseEvents(body)
	otherGate := false
	for _, e := range events {
		otherGate = otherGate || e.Gate != testGate
	}
	badTime, unsure := timeRefused(events, time.Now())
	if st == http.StatusAccepted {
		if perr != nil {
			t.Fatalf("202 for a body ParseEvents refuses (%v): %q", perr, body)
		}
		if badTime {
			t.Fatalf("202 for an event time out of bounds: %q", body)
		}
		var ab struct {
			Accepted []Accepted `json:"accepted"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ab); err != nil {
			t.Fatalf("202 body is not JSON: %v", err)
		}
		if len(ab.Accepted) != len(events) {
			t.Fatalf("202 accepted %d of %d events", len(ab.Accepted), len(events))
		}
		for i, a := range ab.Accepted {
			if a.EventID != events[i].EventID || a.Seq == 0 {
				t.Fatalf("accepted[%d] = %+v for event %q", i, a, events[i].EventID)
			}
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != web.ProblemContentType {
		t.Fatalf("status %d with content type %q", st, ct)
	}
	switch st {
	case http.StatusBadRequest:
		if perr == nil && !badTime && !unsure {
			t.Fatalf("400 for a body ParseEvents accepts, times in bounds: %q: %s", body, rec.Body.Bytes())
		}
		if perr == nil && otherGate {
			t.Fatalf("400 for a batch with another gate's event (403 first): %q", body)
		}
		if perr == nil && !bytes.Contains(rec.Body.Bytes(), []byte(`].time"`)) {
			t.Fatalf("400 for times that does not name a time field: %s", rec.Body.Bytes())
		}
		if perr != nil && len(zone.ErrorFields(perr)) == 0 {
			t.Fatalf("400 without a field list: %s", rec.Body.Bytes())
		}
	case http.StatusForbidden:
		if perr != nil {
			t.Fatalf("403 for a malformed body: %q", body)
		}
		if !otherGate {
			t.Fatalf("403 though every event is for %s", testGate)
		}
	case http.StatusRequestEntityTooLarge:
		if len(body) <= maxBodyBytes {
			t.Fatalf("413 for %d bytes", len(body))
		}
	default:
		t.Fatalf("unexpected status %d: %s", st, rec.Body.Bytes())
	}
}

func postToHandler(h http.Handler, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokGate)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzEventIngest posts one body (usually one event object) to the real
// handler on a real bbolt file.
func FuzzEventIngest(f *testing.F) {
	for _, s := range fuzzSingleSeeds {
		f.Add([]byte(s))
	}
	addStreamSeeds(f, func(line []byte) { f.Add(line) })
	h := fuzzGate(f).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		checkIngestAnswer(t, body, postToHandler(h, body))
	})
}

// FuzzEventIngestBatch posts batches made of fuzzed events, and the same
// batch twice: the second answer must repeat the first's seqs as duplicates.
func FuzzEventIngestBatch(f *testing.F) {
	for i := 0; i+1 < len(fuzzSingleSeeds); i++ {
		f.Add(fuzzSingleSeeds[i], fuzzSingleSeeds[i+1], uint8(i))
	}
	f.Add(fuzzSingleSeeds[0], fuzzSingleSeeds[0], uint8(3))
	f.Add(`{"event_id":"A"`, `"device_id":"B"}`, uint8(1))
	h := fuzzGate(f).Handler()
	f.Fuzz(func(t *testing.T, a, b string, shape uint8) {
		var body string
		switch shape % 4 {
		case 0:
			body = "[" + a + "," + b + "]"
		case 1:
			body = "[" + a + b + "]"
		case 2:
			body = "[" + a + "," + a + "," + b + "]" // a duplicate inside the batch
		case 3:
			body = " [ " + strings.Repeat(a+",", 10) + b + " ] "
		}
		first := postToHandler(h, []byte(body))
		checkIngestAnswer(t, []byte(body), first)
		if first.Code != http.StatusAccepted {
			return
		}
		again := postToHandler(h, []byte(body))
		checkIngestAnswer(t, []byte(body), again)
		if again.Code != http.StatusAccepted {
			t.Fatalf("re-sending an accepted batch got %d", again.Code)
		}
		var x, y struct {
			Accepted []Accepted `json:"accepted"`
		}
		require.NoError(t, json.Unmarshal(first.Body.Bytes(), &x))
		require.NoError(t, json.Unmarshal(again.Body.Bytes(), &y))
		for i := range y.Accepted {
			if !y.Accepted[i].Duplicate || y.Accepted[i].Seq != x.Accepted[i].Seq {
				t.Fatalf("re-sent event %d: first %+v, again %+v", i, x.Accepted[i], y.Accepted[i])
			}
		}
	})
}

// FuzzClearanceApply feeds message values to the gate's clearance consumer
// apply function. It must never fail with anything but ErrPoison: any other
// error is retried forever and would stop every clearance behind it.
func FuzzClearanceApply(f *testing.F) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i, cl := range []zone.Clearance{
		engineClearance("D-1", "STAND-0042", 1, zone.ClearanceActive, now),
		engineClearance("D-2", "STAND-0043", 2, zone.ClearanceRevoked, now),
	} {
		e, err := zone.NewEvent("ev-"+cl.ID, "bondgate/api", zone.TypeClearance, cl.ID, now, cl)
		require.NoError(f, err)
		raw, err := json.Marshal(e)
		require.NoError(f, err)
		f.Add(raw)
		if i == 0 {
			f.Add(bytes.Replace(raw, []byte(`"version":1`), []byte(`"version":"1"`), 1))
			f.Add(bytes.Replace(raw, []byte(`"G-MRO-1"`), []byte(`"G-MAIN"`), 1))
			// A clearance ID too long to be a bbolt key must be poison, not
			// an error retried forever.
			f.Add(bytes.Replace(raw, []byte(`"id":"D-1"`), []byte(`"id":"`+strings.Repeat("D", 33000)+`"`), 1))
			f.Add(bytes.Replace(raw, []byte(`"id":"ev-D-1"`), []byte(`"id":"`+strings.Repeat("E", 33000)+`"`), 1))
		}
	}
	for _, s := range []string{`{"id":"1","source":"s","type":"bondgate.clearance.changed","data":null}`,
		`{"id":"1","source":"s","type":"bondgate.clearance.changed","data":"x"}`,
		`{"id":"1","source":"s","type":"bondgate.clearance.changed"}`,
		`{"id":"2","source":"s","type":"bondgate.clearance.changed","data":{"id":"D","gate":"G-MRO-1","window":{"from":"bad"}}}`,
		`{"id":"","source":"s","type":"t"}`, `[]`, `nul`, ``} {
		f.Add([]byte(s))
	}
	svc := fuzzGate(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		err := kafka.Apply(context.Background(), svc.link.applyClearance, value)
		if err != nil && !isPoison(err) {
			t.Fatalf("apply returned a retriable error for %.300q: %.300v", value, err)
		}
		// Applying the same message again changes nothing and fails the same way.
		err2 := kafka.Apply(context.Background(), svc.link.applyClearance, value)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("re-delivery answered %v, first %v", err2, err)
		}
	})
}

// FuzzDeciderStoredEvent stores one event exactly as given in the gate's
// log, as if ingest had let it through (a file from an older version, a
// bug, a change of rules), between two good crossings, and runs the
// decider's steps as its loop would. Whatever the event holds, the decider
// must get past it: every event decided, nothing but it set aside, and no
// step failing with anything but a retriable store error.
func FuzzDeciderStoredEvent(f *testing.F) {
	for _, s := range fuzzSingleSeeds {
		f.Add(s)
	}
	f.Add("") // what the store hands for an event it cannot read (gate_blocks.go)
	for _, at := range []string{"9999-12-31T23:30:00-01:00", "0000-01-01T00:00:00+00:01", "2026-11-26T10:00:01Z", "2026-11-26T10:00:01.5+14:00"} {
		f.Add(`{"event_id":"IR-1-f","device_id":"IR-1","gate":"G-MRO-1","time":"` + at + `","type":"infrared.break","beam":"A","segment":1}`)
		f.Add(`{"event_id":"CAM-1-f","device_id":"CAM-1","gate":"G-MRO-1","time":"` + at + `","type":"camera.detection","object_class":"engine","track_id":"t-f","direction":"in"}`)
	}
	// One gate for the whole target, its decider driven here as run drives
	// it; each input is a minute after the last on the gate's clock.
	var clock atomic.Int64
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock.Store(t0.UnixNano())
	svc, err := New(Config{GateID: testGate, DataDir: f.TempDir(), Tokens: testTokens(f), Log: quietLog(),
		Window: time.Second, Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	require.NoError(f, err)
	f.Cleanup(func() { _ = svc.close() })
	n := 0
	f.Fuzz(func(t *testing.T, raw string) {
		n++
		at := t0.Add(time.Duration(n) * time.Minute)
		clock.Store(at.UnixNano())
		good := func(id string, at time.Time) {
			for _, e := range unidentifiedCrossing(id, at) {
				b, err := json.Marshal(e)
				require.NoError(t, err)
				storeRaw(t, svc, string(b))
			}
		}
		good(fmt.Sprintf("g%d-1", n), at)
		fuzzed := storeRaw(t, svc, raw)
		good(fmt.Sprintf("g%d-2", n), at.Add(3*time.Second))
		clock.Store(at.Add(30 * time.Second).UnixNano())
		d := svc.decider
		ctx := context.Background()
		for i := 0; ; i++ {
			if i > 100 {
				t.Fatalf("the decider did not get past %q: decided up to %d", raw, d.processed)
			}
			more, err := d.step(ctx)
			if err != nil {
				if !d.isolate(err) {
					t.Fatalf("step failed for %q and was not isolated: %v", raw, err)
				}
				require.NoError(t, d.restore())
				continue
			}
			if !more && d.processed == fuzzed+3 {
				break
			}
		}
		for _, seq := range asideSeqs(t, svc) {
			if seq > fuzzed-3 && seq != fuzzed {
				t.Fatalf("good event %d set aside because of %q", seq, raw)
			}
		}
	})
}

func isPoison(err error) bool { return errors.Is(err, kafka.ErrPoison) }
