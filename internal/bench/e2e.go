package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/bondgate/bondgate/internal/kafka/kafkaraw"
	"github.com/bondgate/bondgate/internal/zone"
)

// declarationBody is a pre-declaration of engine i at the bench gate.
func declarationBody(i int, gate, tag string, now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"object":    map[string]any{"kind": "engine", "esn": fmt.Sprintf("956-%06d", i), "model": "GEnx-1B", "owner": "Qatar Airways"},
		"direction": "in", "gate": gate,
		"window":         map[string]any{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(6 * time.Hour).Format(time.RFC3339)},
		"regime":         "bonded_maintenance",
		"declared_value": map[string]any{"amount": "182000000.00", "currency": "CNY"},
		"hs_code":        "84111200",
		"conveyance":     map[string]any{"stand_tag": tag},
	})
	return b
}

// sensorEvents are a camera detection of tag and the A→B beam pair after it.
func sensorEvents(i int, tag string, at time.Time) (first, last []byte) {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	cam := map[string]any{"event_id": fmt.Sprintf("E2E-CAM-%d", i), "device_id": "CAM-1", "gate": benchGate, "time": ts(at),
		"type": "camera.detection", "object_class": "engine", "track_id": fmt.Sprintf("e2e-%d", i), "direction": "in",
		"reads": []map[string]any{{"kind": "stand_tag", "value": tag, "confidence": 0.97}}}
	a := map[string]any{"event_id": fmt.Sprintf("E2E-IR-%d-A", i), "device_id": "IR-1", "gate": benchGate, "time": ts(at.Add(500 * time.Millisecond)),
		"type": "infrared.break", "beam": "A", "segment": 1}
	b := map[string]any{"event_id": fmt.Sprintf("E2E-IR-%d-B", i), "device_id": "IR-1", "gate": benchGate, "time": ts(at.Add(800 * time.Millisecond)),
		"type": "infrared.break", "beam": "B", "segment": 1}
	first, _ = json.Marshal([]any{cam, a})
	last, _ = json.Marshal(b)
	return first, last
}

// rawRoundTrips is the baseline of figure 4: a kafka-go writer and a group
// reader with the consumer's own fetch settings (internal/kafka defaults)
// passing n messages one at a time through the same broker.
func rawRoundTrips(ctx context.Context, brokers string, n int) ([]time.Duration, error) {
	w := kafkaraw.NewWriter(kafkaraw.WriterConfig{Brokers: []string{brokers}, BatchTimeout: time.Millisecond, WriteTimeout: 10 * time.Second})
	defer w.Close()
	r := kafkaraw.NewGroupReader([]string{brokers}, "bench-raw-roundtrip", zone.TopicRecords)
	defer r.Close()
	// Join the group and pass a first message outside the clock.
	got := make(chan time.Time, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			m, err := r.Fetch(rctx)
			if err != nil {
				return
			}
			_ = r.Commit(rctx, m)
			got <- time.Now()
		}
	}()
	send := func(i int) (time.Time, error) {
		start := time.Now()
		err := w.Write(ctx, kafkaraw.Message{Topic: zone.TopicRecords, Key: []byte("bench"), Value: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		return start, err
	}
	// The reader starts at the end once it has joined: send until one arrives.
	joined := false
	for try := 0; try < 60 && !joined; try++ {
		if _, err := send(-1); err != nil {
			return nil, err
		}
		select {
		case <-got:
			joined = true
		case <-time.After(time.Second):
		}
	}
	if !joined {
		return nil, fmt.Errorf("raw reader got nothing within 60 s")
	}
	// Drop what else the warm-up left in flight.
	for drained := false; !drained; {
		select {
		case <-got:
		case <-time.After(500 * time.Millisecond):
			drained = true
		}
	}
	var out []time.Duration
	for i := 0; i < n; i++ {
		start, err := send(i)
		if err != nil {
			return nil, err
		}
		select {
		case t := <-got:
			out = append(out, t.Sub(start))
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("raw round trip %d lost", i)
		}
	}
	return out, nil
}

func benchEndToEnd(ctx context.Context, e *benchEnv, scale benchScale) ([]benchRow, error) {
	br, err := e.startBroker(ctx)
	if err != nil {
		return nil, err
	}
	api, _, err := e.startAPI(ctx, filepath.Join(e.dir, "api-e2e"), br.addr)
	if err != nil {
		return nil, err
	}
	g, _, err := e.startGate(ctx, "gate-e2e", filepath.Join(e.dir, "gate-e2e"), br.addr)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	apiURL, gateURL := "http://"+api.addr, "http://"+g.addr
	usable := func() (int, error) {
		var st struct {
			Clearances int `json:"clearances"`
		}
		err := httpJSON(ctx, client, http.MethodGet, gateURL+"/v1/status", benchGateToken, nil, http.StatusOK, &st)
		return st.Clearances, err
	}
	poll := func(what string, cond func() (bool, error)) error {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ok, err := cond()
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		return fmt.Errorf("%s: not within 30 s", what)
	}
	var clearLat, crossLat []time.Duration
	n := scale.E2ESamples
	for i := -1; i < n; i++ { // i = -1 warms up (consumer group joins) and is not counted
		now := time.Now().UTC()
		tag := fmt.Sprintf("STAND-E2E-%d-%d", now.UnixNano()%1e6, i+1)
		var d zone.PreDeclaration
		if err := httpJSON(ctx, client, http.MethodPost, apiURL+"/v1/predeclarations", benchMROToken, declarationBody(i+1, benchGate, tag, now), http.StatusCreated, &d); err != nil {
			return nil, err
		}
		before, err := usable()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := httpJSON(ctx, client, http.MethodPost, apiURL+"/v1/predeclarations/"+d.ID+"/decision", benchCustoms,
			[]byte(`{"decision":"clear","reason":"bench"}`), http.StatusOK, nil); err != nil {
			return nil, err
		}
		if err := poll("clearance usable at the gate", func() (bool, error) {
			n, err := usable()
			return n > before, err
		}); err != nil {
			return nil, err
		}
		t1 := time.Now()
		first, last := sensorEvents(i+1+int(now.UnixNano()%1e6)*1000, tag, time.Now().UTC())
		if err := httpJSON(ctx, client, http.MethodPost, gateURL+"/v1/events", benchGateToken, first, http.StatusAccepted, nil); err != nil {
			return nil, err
		}
		if err := httpJSON(ctx, client, http.MethodPost, gateURL+"/v1/events", benchGateToken, last, http.StatusAccepted, nil); err != nil {
			return nil, err
		}
		t2 := time.Now()
		if err := poll("declaration crossed in the API", func() (bool, error) {
			var got zone.PreDeclaration
			err := httpJSON(ctx, client, http.MethodGet, apiURL+"/v1/predeclarations/"+d.ID, benchCustoms, nil, http.StatusOK, &got)
			return got.Status == zone.StatusCrossed, err
		}); err != nil {
			return nil, err
		}
		t3 := time.Now()
		if i >= 0 {
			clearLat = append(clearLat, t1.Sub(t0))
			crossLat = append(crossLat, t3.Sub(t2))
		}
	}
	raw, err := rawRoundTrips(ctx, br.addr, n)
	if err != nil {
		return nil, err
	}
	slices.Sort(clearLat)
	slices.Sort(crossLat)
	slices.Sort(raw)
	rawP99 := pct(raw, 0.99)
	row := func(name string, lat []time.Duration) benchRow {
		p99 := pct(lat, 0.99)
		return benchRow{Figure: name, Measured: fmt.Sprintf("p50 %s, p99 %s (%d samples)", ms(pct(lat, 0.5)), ms(p99), len(lat)),
			Baseline: fmt.Sprintf("raw kafka-go produce→group consume p50 %s, p99 %s", ms(pct(raw, 0.5)), ms(rawP99)),
			Ratio:    fmt.Sprintf("%.1f× raw p99", float64(p99)/float64(max(rawP99, time.Microsecond))), Target: "p99 ≤ 1 s",
			Verdict: verdict(p99 <= time.Second)}
	}
	return []benchRow{row("4 clearance published → usable at the gate", clearLat),
		row("4 crossing → declaration crossed in the API", crossLat)}, nil
}
