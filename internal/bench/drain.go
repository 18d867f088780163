package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka/kafkaraw"
	"github.com/bondgate/bondgate/internal/zone"
)

// backlogMessage is the i-th message of a synthetic backlog: a decided
// crossing as the gate would queue it (about 600 bytes of CloudEvents JSON).
func backlogMessage(i int, at time.Time) zone.OutboxMessage {
	id := fmt.Sprintf("%s-X%09d", benchGate, i)
	x := zone.Crossing{ID: id, Seq: uint64(i), Gate: benchGate, Segment: 1 + i%2, Decision: zone.DecisionAuthorized,
		Direction: zone.In, ObjectClass: "engine", ClearanceID: fmt.Sprintf("01JBENCH%018d", i),
		Identity: &zone.Identity{Kind: zone.ReadStandTag, Value: fmt.Sprintf("STAND-%06d", i)}, Time: at,
		TrackIDs: []string{"t-" + strconv.Itoa(i)}, Snapshot: "nvr://cam-1/t-" + strconv.Itoa(i) + ".jpg",
		EventIDs: []string{fmt.Sprintf("CAM-1-%09d", i), fmt.Sprintf("IR-1-%09d-A", i), fmt.Sprintf("IR-1-%09d-B", i)}, DecidedAt: at}
	ev, err := zone.NewEvent(id, "bondgate/gate/"+benchGate, zone.TypeCrossing, benchGate, at, x)
	if err != nil {
		panic(err)
	}
	m, err := ev.Message(zone.TopicCrossings, benchGate)
	if err != nil {
		panic(err)
	}
	return m
}

// seedBacklog writes n undelivered outbox messages into a gate's store
// directly, in large unsynced transactions with one sync at the end: the
// state of a gate that queued n crossings while its link was down.
func seedBacklog(dataDir string, n int) error {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(dataDir, "gate-"+benchGate+".db"), bolt.Options{SkipCheck: true, NoSync: true, Logger: benchQuietLog()})
	if err != nil {
		return err
	}
	defer db.Close()
	at := time.Now().UTC().Add(-time.Hour)
	const perTx = 20_000
	for from := 0; from < n; from += perTx {
		msgs := make([]*zone.OutboxMessage, 0, perTx)
		for i := from; i < min(n, from+perTx); i++ {
			m := backlogMessage(i, at)
			msgs = append(msgs, &m)
		}
		if err := db.Outbox().Append(context.Background(), msgs...); err != nil {
			return err
		}
	}
	return db.Close() // syncs once
}

// rawProduce writes the same n messages straight to the broker with a
// kafka-go Writer (acks=all, batches of 1,000, synchronous), the fastest a
// plain producer gets here: the drain's baseline.
func rawProduce(ctx context.Context, brokers string, n int) (time.Duration, error) {
	w := kafkaraw.NewWriter(kafkaraw.WriterConfig{Brokers: []string{brokers}, BatchSize: 1000, BatchBytes: 4 << 20,
		BatchTimeout: 5 * time.Millisecond, WriteTimeout: 30 * time.Second})
	defer w.Close()
	at := time.Now().UTC().Add(-time.Hour)
	// Warm up the connection and metadata outside the clock.
	m := backlogMessage(-1, at)
	if err := w.Write(ctx, kafkaraw.Message{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value}); err != nil {
		return 0, err
	}
	const chunk = 1000
	msgs := make([]kafkaraw.Message, 0, chunk)
	start := time.Now()
	for i := 0; i < n; i++ {
		m := backlogMessage(i, at)
		msgs = append(msgs, kafkaraw.Message{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value,
			Headers: []kafkaraw.Header{{Key: "bondgate-seq", Value: []byte(strconv.Itoa(i + 1))}}})
		if len(msgs) == chunk || i == n-1 {
			if err := w.Write(ctx, msgs...); err != nil {
				return 0, err
			}
			msgs = msgs[:0]
		}
	}
	return time.Since(start), nil
}

// gateDepth reads outbox_depth from a gate's /v1/status.
func gateDepth(ctx context.Context, client *http.Client, addr string) (int, error) {
	var st struct {
		OutboxDepth int `json:"outbox_depth"`
		Clearances  int `json:"clearances"`
	}
	err := httpJSON(ctx, client, http.MethodGet, "http://"+addr+"/v1/status", benchGateToken, nil, http.StatusOK, &st)
	return st.OutboxDepth, err
}

// drainResult is one backlog drain.
type drainResult struct {
	N        int
	Seed     time.Duration
	Startup  time.Duration // process start → /healthz 200
	Drain    time.Duration // /healthz → outbox empty
	Raw      time.Duration // the raw producer, same messages, same broker
	Mem      procMem
	StartMem procMem // right after /healthz answered
	FileSize int64
}

func (d drainResult) rate() float64    { return float64(d.N) / d.Drain.Seconds() }
func (d drainResult) rawRate() float64 { return float64(d.N) / d.Raw.Seconds() }

// measureDrain seeds n messages, measures the raw producer, then starts a
// gate on the backlog and waits until its outbox is empty.
func measureDrain(ctx context.Context, e *benchEnv, n int) (drainResult, error) {
	if r, ok := e.drains[n]; ok {
		return r, nil
	}
	r := drainResult{N: n}
	br, err := e.startBroker(ctx)
	if err != nil {
		return r, err
	}
	defer br.stop()
	dir := filepath.Join(e.dir, fmt.Sprintf("gate-drain-%d", n))
	defer os.RemoveAll(dir)
	t0 := time.Now()
	if err := seedBacklog(dir, n); err != nil {
		return r, fmt.Errorf("seed backlog: %w", err)
	}
	r.Seed = time.Since(t0)
	if fi, err := os.Stat(filepath.Join(dir, "gate-"+benchGate+".db")); err == nil {
		r.FileSize = fi.Size()
	}
	if r.Raw, err = rawProduce(ctx, br.addr, n); err != nil {
		return r, fmt.Errorf("raw producer: %w", err)
	}
	g, up, err := e.startGate(ctx, fmt.Sprintf("gate-drain-%d", n), dir, br.addr)
	if err != nil {
		return r, err
	}
	defer g.stop()
	r.Startup = up
	r.StartMem, _ = readProcMem(g.pid())
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	deadline := start.Add(15 * time.Minute)
	for {
		depth, err := gateDepth(ctx, client, g.addr)
		if err == nil && depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("outbox not drained after %v (depth %d, err %v)", time.Since(start), depth, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Drain = time.Since(start)
	r.Mem, err = readProcMem(g.pid())
	if err == nil {
		e.drains[n] = r
	}
	return r, err
}

func benchDrain(ctx context.Context, e *benchEnv, n int, _ bool) ([]benchRow, error) {
	r, err := measureDrain(ctx, e, n)
	if err != nil {
		return nil, err
	}
	ratio := r.rate() / r.rawRate()
	return []benchRow{
		{Figure: fmt.Sprintf("2 drain of %d messages", n), Measured: fmt.Sprintf("%.0f msg/s (%.1f s)", r.rate(), r.Drain.Seconds()),
			Baseline: fmt.Sprintf("%.0f msg/s raw kafka-go producer (%.1f s)", r.rawRate(), r.Raw.Seconds()),
			Ratio:    fmt.Sprintf("%.2f", ratio), Target: "≥ 0.50", Verdict: verdict(ratio >= 0.5)},
		{Figure: "2 drain, peak RSS of the gate", Measured: fmt.Sprintf("%s (VmHWM; %s at startup; at the end anon %s, file %s)", mib(r.Mem.HWM), mib(r.StartMem.HWM), mib(r.Mem.Anon), mib(r.Mem.File)),
			Baseline: fmt.Sprintf("store file %.0f MiB", float64(r.FileSize)/(1<<20)), Ratio: fmt.Sprintf("%.2f of target", float64(r.Mem.HWM)/1024/200),
			Target: "≤ 200 MiB", Verdict: verdict(r.Mem.HWM <= 200*1024)},
		{Figure: "2 startup with the backlog", Measured: ms(r.Startup) + " to /healthz", Baseline: "-",
			Ratio: fmt.Sprintf("%.2f of target", r.Startup.Seconds()/2), Target: "≤ 2 s", Verdict: verdict(r.Startup <= 2*time.Second)},
	}, nil
}
