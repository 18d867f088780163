package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/record"
)

// BenchmarkDeciderPerEvent prints the decider's CPU per event (user+system,
// decision steps only: appends are not counted) with many devices and many
// tracks retained, on a real gate file. The gate clock is simulated: 2,000
// events a second, of which tracksPerSec camera detections each open a new
// track and the rest are heartbeats spread over devices; a warm-up of 40 s
// fills the correlator to what it retains in steady state (tracks are kept
// three windows). A step should cost what it takes, not what is retained:
// the figure should be flat across the rows.
func BenchmarkDeciderPerEvent(b *testing.B) {
	for _, c := range []struct{ devices, tracksPerSec int }{
		{10, 100}, {1000, 100}, {10000, 100}, {1000, 1}, {1000, 1000},
	} {
		b.Run(fmt.Sprintf("devices=%d/tracks=%d_per_s", c.devices, c.tracksPerSec), func(b *testing.B) {
			for range b.N {
				us := deciderCPUPerEvent(b, c.devices, c.tracksPerSec)
				b.ReportMetric(us, "µs_cpu/event")
			}
		})
	}
}

const deciderBenchRate = 2000 // simulated events a second

func deciderCPUPerEvent(b *testing.B, devices, tracksPerSec int) float64 {
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var nowNS atomic.Int64
	nowNS.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, nowNS.Load()).UTC() }
	s, err := New(Config{GateID: testGate, DataDir: b.TempDir(), Tokens: testTokens(b), Brokers: []string{"127.0.0.1:1"}, Now: now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.close() }()
	ctx := context.Background()
	n := 0
	// feed appends one simulated second of events and decides them.
	feed := func(measure bool) (cpu time.Duration, events int) {
		sec := time.Unix(0, nowNS.Load()).UTC()
		batch := make([]record.NewEvent, 0, deciderBenchRate)
		for i := range deciderBenchRate {
			n++
			at := sec.Add(time.Duration(i) * time.Second / deciderBenchRate).Format(time.RFC3339Nano)
			var raw string
			if i < tracksPerSec {
				raw = fmt.Sprintf(`{"event_id":"C-%d","device_id":"CAM-%d","gate":"`+testGate+`","time":%q,"type":"camera.detection",`+
					`"object_class":"engine","track_id":"t-%d","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}]}`,
					n, n%4, at, n, n%100000)
			} else {
				raw = fmt.Sprintf(`{"event_id":"H-%d","device_id":"HB-%d","gate":"`+testGate+`","time":%q,"type":"heartbeat"}`, n, n%devices, at)
			}
			batch = append(batch, record.NewEvent{Key: []byte(fmt.Sprint(n)), Raw: []byte(raw)})
		}
		if _, err := s.store.AppendEvents(batch); err != nil {
			b.Fatal(err)
		}
		nowNS.Store(sec.Add(time.Second).UnixNano())
		before := cpuTime()
		for {
			more, err := s.decider.step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if !more {
				break
			}
		}
		return cpuTime() - before, len(batch)
	}
	for range 40 { // warm-up: fill the correlator to its steady state
		feed(false)
	}
	var cpu time.Duration
	var events int
	for range 10 {
		c, e := feed(true)
		cpu += c
		events += e
	}
	return float64(cpu.Microseconds()) / float64(events)
}

// cpuTime is the process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
