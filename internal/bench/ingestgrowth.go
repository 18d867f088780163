package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/bolt"
)

// seedDevices are the cameras the seeded events come from, as events.lua
// MODE camera posts them (CAM-<wrk thread>).
var seedDevices = []string{"CAM-1", "CAM-2"}

// seedDevice is the camera of the i-th seeded event (from 1): the cameras
// take turns a transaction at a time, so that each transaction's seen keys
// (device first) are sequential. Interleaved, every key of the first
// camera lands in front of the second's in the same in-memory node and
// bbolt moves half the node per put (10 s for the first 100,000 here).
func seedDevice(i int) string { return seedDevices[(i-1)/seedEventsPerTx%len(seedDevices)] }

// seedEventsPerTx is one bulk-load transaction: large enough that commits
// are a small part of the load, small enough that bbolt's dirty nodes stay
// a few hundred MiB.
const seedEventsPerTx = 100_000

// appendSeedEvent appends the i-th seeded event (from 1) to arena and
// returns its seen key and raw bytes, both inside arena. The event is a
// camera detection on a track of its own, shaped as events.lua's, with a
// zero-padded ID so the seen index grows at its end like the log does.
func appendSeedEvent(arena []byte, i int, at string) (out, key, raw []byte) {
	dev := seedDevice(i)
	start := len(arena)
	arena = append(arena, dev...)
	arena = append(arena, 0)
	arena = appendPadded(append(arena, "CAM-SEED-"...), i, 10)
	keyEnd := len(arena)
	arena = appendPadded(append(arena, `{"event_id":"CAM-SEED-`...), i, 10)
	arena = append(arena, `","device_id":"`...)
	arena = append(arena, dev...)
	arena = append(arena, `","gate":"`+benchGate+`","time":"`...)
	arena = append(arena, at...)
	arena = appendPadded(append(arena, `","type":"camera.detection","object_class":"engine","track_id":"t-seed-`...), i, 10)
	arena = appendPadded(append(arena, `","direction":"in","reads":[{"kind":"stand_tag","value":"STAND-`...), i%100_000, 5)
	arena = append(arena, `","confidence":0.97}],"snapshot":"nvr://cam-`...)
	arena = append(arena, dev[len("CAM-"):]...)
	arena = append(arena, '/')
	arena = strconv.AppendInt(arena, int64(i), 10)
	arena = append(arena, `.jpg"}`...)
	return arena, arena[start:keyEnd], arena[keyEnd:]
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	num := strconv.AppendInt(d[:0], int64(v), 10)
	for range width - len(num) {
		b = append(b, '0')
	}
	return append(b, num...)
}

// seedResult is one seeded event log.
type seedResult struct {
	N        int
	Took     time.Duration // including the final sync
	FileSize int64
}

func (r seedResult) rate() float64 { return float64(r.N) / r.Took.Seconds() }

// gateFile is the gate's store in dataDir, as `bondgate gate` names it.
func gateFile(dataDir string) string { return filepath.Join(dataDir, "gate-"+benchGate+".db") }

// seedEvents writes n camera detections into a gate's store through the
// call ingest uses (GateStore.AppendEvents: the log and the seen index),
// then one decision step that records the decider's progress at n (and the
// cameras' states), so a gate started on the file has nothing to decide
// again: the file a gate has after taking n events. It is a bulk load:
// NoSync with one sync at the end, transactions of seedEventsPerTx events
// with sequential keys, and the next batch built while the store writes
// the last one. progress, when not nil, hears how far it got.
func seedEvents(dataDir string, n int, progress io.Writer) (seedResult, error) {
	r := seedResult{N: n}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return r, err
	}
	start := time.Now()
	db, err := bolt.Open(gateFile(dataDir), bolt.Options{SkipCheck: true, NoSync: true, Logger: benchQuietLog()})
	if err != nil {
		return r, err
	}
	defer db.Close()
	store, err := bolt.NewGateStore(db)
	if err != nil {
		return r, err
	}
	if last, _, err := store.Progress(); err != nil || last != 0 {
		return r, fmt.Errorf("seed into %s: the log holds %d events already (%v)", dataDir, last, err)
	}
	at := start.UTC().Truncate(time.Second)
	stamp := at.Format(time.RFC3339)
	// The next batch is built while the store writes this one.
	batches := make(chan []record.NewEvent, 1)
	go func() {
		defer close(batches)
		for from := 1; from <= n; from += seedEventsPerTx {
			to := min(n, from+seedEventsPerTx-1)
			evs := make([]record.NewEvent, 0, to-from+1)
			arena := make([]byte, 0, (to-from+1)*400)
			for i := from; i <= to; i++ {
				var key, raw []byte
				arena, key, raw = appendSeedEvent(arena, i, stamp)
				evs = append(evs, record.NewEvent{Key: key, Raw: raw})
			}
			batches <- evs
		}
	}()
	done, lastSaid := 0, time.Now()
	for evs := range batches {
		got, err := store.AppendEvents(evs)
		if err != nil {
			for range batches { // let the builder finish
			}
			return r, err
		}
		if got[len(got)-1].Seq != uint64(done+len(evs)) || got[len(got)-1].Duplicate {
			return r, fmt.Errorf("seed: event %d stored as %+v", done+len(evs), got[len(got)-1])
		}
		done += len(evs)
		if progress != nil && (time.Since(lastSaid) >= 5*time.Second || done == n) {
			el := time.Since(start)
			fmt.Fprintf(progress, "    seeding: %d of %d events (%.0f ev/s, %v elapsed; load %s)\n",
				done, n, float64(done)/el.Seconds(), el.Round(100*time.Millisecond), loadAverage())
			lastSaid = time.Now()
		}
	}
	// The decider's step after the last event: progress at n, nothing held
	// back (the seeded tracks are long decided), the cameras heard at n and
	// just now (heard at the start of a long load, a gate started on the
	// file would alarm them as silent at once).
	now := time.Now().UTC()
	sensors := map[string][]byte{}
	for _, dev := range seedDevices {
		last := n // the device's last event: the highest i ≤ n it sent
		for last > 0 && seedDevice(last) != dev {
			last--
		}
		if last == 0 {
			continue
		}
		raw, err := json.Marshal(decide.SensorState{DeviceID: dev, LastSeen: now, OK: true, LastSeq: uint64(last)})
		if err != nil {
			return r, err
		}
		sensors[dev] = raw
	}
	if _, err := store.CommitStep(record.Step{Sensors: sensors,
		Cursors: &record.Cursors{Processed: uint64(n), Clock: now}}); err != nil {
		return r, err
	}
	if err := db.Close(); err != nil { // syncs once
		return r, err
	}
	r.Took = time.Since(start)
	if fi, err := os.Stat(gateFile(dataDir)); err == nil {
		r.FileSize = fi.Size()
	}
	return r, nil
}

// freeBytes is the room left on the file system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// seedBytesPerEvent is about what one seeded event takes in the file (the
// log at 95 % fill, the seen index at half fill, and what ingest adds on
// top during the measurement), for the room check before seeding.
const seedBytesPerEvent = 700

// growthShapes are the loads of figure 1's growth rows: camera detections
// one per POST and in batches of 100, as figure 1's first two shapes.
var growthShapes = []ingestShape{
	{name: "single-event POSTs (camera)", batch: 1, mode: "camera", target: 0.5},
	{name: "100-event batches (camera)", batch: 100, mode: "camera", target: 0.25},
}

// ingestGrowth measures growthShapes on a gate whose file already holds n
// events (seeded by seedEvents), against the neutral ceiling in the same
// rounds; fresh holds each shape on a fresh file in this run (by shape
// name), for the ratio and CPU per event relative to it.
func ingestGrowth(ctx context.Context, e *benchEnv, bins ingestBins, wrk, lua, brokers string, n int, d time.Duration, fresh map[string]shapeResult) ([]benchRow, error) {
	label := fmt.Sprintf("1 growth, %s events in the file", thousands(n))
	dir := filepath.Join(e.dir, "gate-ingest-growth-"+strconv.Itoa(n))
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if free, err := freeBytes(dir); err == nil && free < uint64(n)*seedBytesPerEvent {
		return []benchRow{{Figure: label, Measured: fmt.Sprintf("skipped: %d MiB free in %s, seeding needs about %d MiB",
			free>>20, e.dir, uint64(n)*seedBytesPerEvent>>20), Target: "reported"}}, nil
	}
	fmt.Fprintf(e.out, "  seeding %s camera detections into a gate's store (AppendEvents, NoSync, %d a transaction)\n", thousands(n), seedEventsPerTx)
	seed, err := seedEvents(dir, n, e.out)
	if err != nil {
		return nil, fmt.Errorf("seed %d events: %w", n, err)
	}
	fmt.Fprintf(e.out, "    seeded in %v (%.0f ev/s), file %.0f MiB\n", seed.Took.Round(100*time.Millisecond), seed.rate(), float64(seed.FileSize)/(1<<20))
	g, up, err := e.startGate(ctx, "gate-ingest-growth-"+strconv.Itoa(n), dir, brokers)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	startMem, _ := readProcMem(g.pid())
	last, decided, err := gateProgress(ctx, g.addr)
	if err != nil {
		return nil, err
	}
	if last != uint64(n) || decided != uint64(n) {
		return nil, fmt.Errorf("gate on the seeded file: last event %d, last decided %d, want both %d", last, decided, n)
	}
	neutral, err := e.startNeutral(ctx, bins.neutral)
	if err != nil {
		return nil, err
	}
	defer neutral.stop()
	fmt.Fprintf(e.out, "    gate up in %s on the seeded file (last decided %d of %d at start), VmHWM %s; load %s\n",
		ms(up), decided, last, mib(startMem.HWM), loadAverage())
	rows := []benchRow{}
	for _, s := range growthShapes {
		res, err := measureShape(ctx, e, ingestBins{neutral: bins.neutral}, wrk, lua, g, neutral, s, d)
		if err != nil {
			return rows, err
		}
		mem, _ := readProcMem(g.pid())
		row := res.row(label+": "+s.name, s)
		row.Measured += fmt.Sprintf("; gate VmHWM %s", mib(mem.HWM))
		if f, ok := fresh[s.name]; ok {
			row.Ratio += fmt.Sprintf(" (%.2f of fresh %.2f)", res.ratio()/f.ratio(), f.ratio())
			row.Measured += fmt.Sprintf("; CPU/event %.2f of fresh %s", float64(res.gateCPU)/float64(max(1, f.gateCPU)), us(f.gateCPU))
		}
		rows = append(rows, row)
	}
	endMem, _ := readProcMem(g.pid())
	rows = append(rows, benchRow{Figure: label + ": seed and start",
		Measured: fmt.Sprintf("seeded in %.1f s (%.0f ev/s), file %.0f MiB; gate up in %s, decider at %d of %d on start; VmHWM %s at start, %s at end (anon %s, file %s)",
			seed.Took.Seconds(), seed.rate(), float64(seed.FileSize)/(1<<20), ms(up), decided, last, mib(startMem.HWM), mib(endMem.HWM), mib(endMem.Anon), mib(endMem.File)),
		Baseline: "-", Ratio: "-", Target: "reported"})
	return rows, nil
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
