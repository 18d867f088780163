package decide

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// BenchmarkCorrelatorNewTrackFlood is the correlator's part of
// ops/bench/events.lua's camera mode in batches of 100: every detection a
// new track (two cameras, one confident read, a snapshot), stamped whole
// seconds, 20,000 a second, each batch followed by an Advance, held at
// DefaultMaxTracks (filled before timing), so every detection also sheds
// one. An op is one detection with its share of the Advance. Each event's
// text is one string, as ParseEvents leaves it, made here in one
// allocation (counted). cpu-ns/op is the process's CPU, the collector's
// background work included, which ns/op (wall time on a spare core) is
// not; B/op and allocs/op are what a track costs it.
func BenchmarkCorrelatorNewTrackFlood(b *testing.B) {
	const batch, rate = 100, 20_000
	c := newQuiet(CorrelatorConfig{Gate: corrGate, MaxTracks: DefaultMaxTracks})
	book := newCorrBook()
	n := 0
	var buf []byte
	evs := make([]SensorEvent, batch)
	reads := make([]Read, batch)
	next := func() []SensorEvent {
		for i := range evs {
			n++
			cam := strconv.Itoa(n/batch%2 + 1)
			id := strconv.Itoa(n)
			buf = append(buf[:0], "CAM-r1-"+cam+"-"...)
			buf = append(buf, id...)
			eventID := len(buf)
			buf = append(buf, "CAM-"+cam...)
			device := len(buf)
			buf = append(buf, "t-r1-"+cam+"-"...)
			buf = append(buf, id...)
			track := len(buf)
			buf = strconv.AppendInt(append(buf, "STAND-"...), int64(100000+n%100000), 10)
			value := len(buf)
			buf = append(append(buf, "nvr://cam-"+cam+"/"...), id...)
			buf = append(buf, ".jpg"...)
			text := string(buf)
			reads[i] = Read{Kind: zone.ReadStandTag, Value: text[track:value], Confidence: 0.97}
			evs[i] = SensorEvent{EventID: text[:eventID], DeviceID: text[eventID:device], Gate: corrGate,
				Time: corrT0.Add(time.Duration(n/rate) * time.Second), Type: EventDetection, ObjectClass: ClassEngine,
				TrackID: text[device:track], Direction: zone.In, Reads: reads[i : i+1 : i+1], Snapshot: text[value:]}
		}
		return evs
	}
	seq := uint64(0)
	step := func(evs []SensorEvent) {
		for _, ev := range evs {
			seq++
			c.ObserveAt(seq, ev, book, ev.Time)
		}
		c.Advance(evs[len(evs)-1].Time, book)
	}
	for range DefaultMaxTracks/batch + 100 {
		step(next())
	}
	if c.TracksShed() == 0 {
		b.Fatal("the bound was not reached")
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	ops := 0
	for ; ops < b.N; ops += batch {
		step(next())
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(ops), "cpu-ns/op")
}

// processCPU is the process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
