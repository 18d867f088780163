package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	bhttp "github.com/bondgate/bondgate/internal/http"
	"github.com/bondgate/bondgate/internal/kafka"
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
	events, perr := ParseEvents(body)
	if st == http.StatusAccepted {
		if perr != nil {
			t.Fatalf("202 for a body ParseEvents refuses (%v): %q", perr, body)
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
	if ct := rec.Header().Get("Content-Type"); ct != bhttp.ProblemContentType {
		t.Fatalf("status %d with content type %q", st, ct)
	}
	switch st {
	case http.StatusBadRequest:
		if perr == nil {
			t.Fatalf("400 for a body ParseEvents accepts: %q: %s", body, rec.Body.Bytes())
		}
		if len(zone.ErrorFields(perr)) == 0 {
			t.Fatalf("400 without a field list: %s", rec.Body.Bytes())
		}
	case http.StatusForbidden:
		if perr != nil {
			t.Fatalf("403 for a malformed body: %q", body)
		}
		other := false
		for _, e := range events {
			other = other || e.Gate != testGate
		}
		if !other {
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
		m := kafkago.Message{Topic: zone.TopicClearances, Key: []byte("k"), Value: value}
		err := svc.link.applyClearance(context.Background(), m)
		if err != nil && !isPoison(err) {
			t.Fatalf("apply returned a retriable error for %.300q: %.300v", value, err)
		}
		// Applying the same message again changes nothing and fails the same way.
		err2 := svc.link.applyClearance(context.Background(), m)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("re-delivery answered %v, first %v", err2, err)
		}
	})
}

func isPoison(err error) bool { return errors.Is(err, kafka.ErrPoison) }
