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

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/record"
)

// BenchmarkDeciderPerEvent prints the decider's CPU per event (user+system,
// decision steps only: appends are not counted) with many devices and many
// tracks retained, on a real gate file. The gate clock is simulated: 2,000
// events a second, of which tracksPerSec camera detections each open a new
// track and the rest are heartbeats spread over devices; a warm-up of 40 s
// fills the correlator to what it retains in steady state (tracks are kept
// three windows). A step should cost what it takes, not what is retained:
// the figure should be flat across the rows. The first row, heartbeats
// alone from eight devices, is the floor beside them: a step that retains
// nothing, parsing and writing what it took.
//
// The mix rows are a gate's traffic as ops/bench/events.lua MODE mix sends
// it (20 listed devices): half camera detections with a confident plate
// read on tracks of trackLen detections (round robin over six cameras),
// one infrared A/B pair every pairEvery events, the rest heartbeats. No
// clearance is held, so every crossing waits out its window while each
// nearby detection asks whether it can now be authorized. Shorter tracks
// mean more retained tracks, denser pairs more pending crossings.
func BenchmarkDeciderPerEvent(b *testing.B) {
	for _, c := range []struct{ devices, tracksPerSec int }{
		{8, 0}, {10, 100}, {1000, 100}, {10000, 100}, {1000, 1}, {1000, 1000},
	} {
		b.Run(fmt.Sprintf("devices=%d/tracks=%d_per_s", c.devices, c.tracksPerSec), func(b *testing.B) {
			for range b.N {
				us := deciderCPUPerEvent(b, func(n, i int, at time.Time) string {
					return cameraOrHeartbeat(n, i, at.Format(time.RFC3339Nano), c.devices, c.tracksPerSec)
				})
				b.ReportMetric(us, "µs_cpu/event")
			}
		})
	}
	// events.lua MODE camera in batches of 100, as figure 1 sends it: every
	// detection a new track, two cameras, whole-second stamps, at a rate
	// that holds the correlator at its track bound (three windows of it
	// are more than DefaultMaxTracks). The events reach the decider as
	// ingest parsed them, as when it keeps up.
	b.Run("camera/batch=100/new_tracks/rate=20000", func(b *testing.B) {
		for range b.N {
			us := deciderCPUPerEventAt(b, 20000, true, func(n, _ int, at time.Time) string {
				return newTrackDetection(n, at.Truncate(time.Second).Format(time.RFC3339Nano))
			})
			b.ReportMetric(us, "µs_cpu/event")
		}
	})
	for _, c := range []struct {
		trackLen, pairEvery int
		stamp               time.Duration
	}{
		{100, 500, 0}, {10, 500, 0}, {1, 500, 0}, {100, 50, 0}, {10, 50, 0}, {100, 500, time.Second},
	} {
		name := fmt.Sprintf("mix/track_len=%d/pair_every=%d", c.trackLen, c.pairEvery)
		if c.stamp > 0 {
			// events.lua stamps whole seconds: every event of a second
			// lies at the same instant, so each track ties with every
			// crossing of its second.
			name += "/stamp=" + c.stamp.String()
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				us := deciderCPUPerEvent(b, func(n, _ int, at time.Time) string {
					return mixEvent(n, at.Truncate(max(c.stamp, 1)).Format(time.RFC3339Nano), c.trackLen, c.pairEvery)
				})
				b.ReportMetric(us, "µs_cpu/event")
			}
		})
	}
}

// cameraOrHeartbeat is event n, the i-th of its simulated second: the
// first tracksPerSec of a second are camera detections each on a new
// track, the rest heartbeats spread over devices.
func cameraOrHeartbeat(n, i int, at string, devices, tracksPerSec int) string {
	if i < tracksPerSec {
		return fmt.Sprintf(`{"event_id":"C-%d","device_id":"CAM-%d","gate":"`+testGate+`","time":%q,"type":"camera.detection",`+
			`"object_class":"engine","track_id":"t-%d","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}]}`,
			n, n%4, at, n, n%100000)
	}
	return fmt.Sprintf(`{"event_id":"H-%d","device_id":"HB-%d","gate":"`+testGate+`","time":%q,"type":"heartbeat"}`, n, n%devices, at)
}

// newTrackDetection is event n of events.lua's camera mode: a detection
// on a track of its own, from one of two cameras (wrk's two threads).
func newTrackDetection(n int, at string) string {
	cam := n/100%2 + 1 // a batch of 100 comes from one thread
	return fmt.Sprintf(`{"event_id":"CAM-r1-%d-%d","device_id":"CAM-%d","gate":"`+testGate+`","time":%q,`+
		`"type":"camera.detection","object_class":"engine","track_id":"t-r1-%d-%d","direction":"in",`+
		`"reads":[{"kind":"stand_tag","value":"STAND-%05d","confidence":0.97}],"snapshot":"nvr://cam-%d/%d.jpg"}`,
		cam, n, cam, at, cam, n, n%100000, cam, n)
}

// mixEvent is event n of events.lua's mix: of every pairEvery events the
// first half are camera detections (six cameras, a track per trackLen
// events, one plate per track), then one A/B beam pair on one of six
// segments, the rest heartbeats from eight devices.
func mixEvent(n int, at string, trackLen, pairEvery int) string {
	k := n % pairEvery
	switch {
	case k < pairEvery/2:
		track := n / trackLen
		return fmt.Sprintf(`{"event_id":"C-%d","device_id":"CAM-%d","gate":"`+testGate+`","time":%q,"type":"camera.detection",`+
			`"object_class":"vehicle","track_id":"t-%d","direction":"in","reads":[{"kind":"vehicle_plate","value":"P-%05d","confidence":0.97}]}`,
			n, n%6+1, at, track, track%100000)
	case k < pairEvery/2+2:
		beam := "A"
		if k == pairEvery/2+1 {
			beam = "B"
		}
		seg := n/pairEvery%6 + 1
		return fmt.Sprintf(`{"event_id":"IR-%d","device_id":"IR-%d","gate":"`+testGate+`","time":%q,"type":"infrared.break","beam":%q,"segment":%d}`,
			n, seg, at, beam, seg)
	}
	return fmt.Sprintf(`{"event_id":"H-%d","device_id":"HB-%d","gate":"`+testGate+`","time":%q,"type":"heartbeat"}`, n, n%8+1, at)
}

const deciderBenchRate = 2000 // simulated events a second

// deciderCPUPerEvent is the decider's CPU per event when event n (the
// i-th of its simulated second, stamped at) is event(n, i, at).
func deciderCPUPerEvent(b *testing.B, event func(n, i int, at time.Time) string) float64 {
	return deciderCPUPerEventAt(b, deciderBenchRate, false, event)
}

// deciderCPUPerEventAt is deciderCPUPerEvent at rate simulated events a
// second; handOver gives the decider the events parsed, as ingest does
// (parsing is then not counted), instead of leaving it to parse the log.
func deciderCPUPerEventAt(b *testing.B, rate int, handOver bool, event func(n, i int, at time.Time) string) float64 {
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
		batch := make([]record.NewEvent, 0, rate)
		for i := range rate {
			n++
			raw := event(n, i, sec.Add(time.Duration(i)*time.Second/time.Duration(rate)))
			batch = append(batch, record.NewEvent{Key: []byte(fmt.Sprint(n)), Raw: []byte(raw)})
		}
		appended, err := s.store.AppendEvents(batch)
		if err != nil {
			b.Fatal(err)
		}
		if handOver {
			seqs, evs := make([]uint64, len(batch)), make([]*decide.SensorEvent, len(batch))
			for i, e := range batch {
				parsed, err := decide.ParseEvents(e.Raw)
				if err != nil {
					b.Fatal(err)
				}
				seqs[i], evs[i] = appended[i].Seq, &parsed[0]
			}
			s.decider.parsed.put(seqs, evs)
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
