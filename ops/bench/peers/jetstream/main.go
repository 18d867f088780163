// Peer figure for the gate's ingest goal: NATS JetStream (embedded, file
// storage), what a team would pick for durable edge store-and-forward
// instead of writing a gate. `bondgate bench run` starts it beside the
// gate's rounds and reads its BENCH line.
//
//	jetstream [-sync] [-d 5s]
//
// -sync fsyncs every message (the promise of a gate's 202); without it the
// server's default (no fsync per message). It measures 64 synchronous
// publishers (each waits for its ack, like wrk's 64 connections) and then
// windows of 1,000 async publishes (the peer's batch), each for d.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func main() {
	syncAlways := flag.Bool("sync", false, "fsync every message (SyncAlways)")
	d := flag.Duration("d", 5*time.Second, "how long each measurement runs")
	flag.Parse()
	if err := run(*syncAlways, *d); err != nil {
		fmt.Fprintln(os.Stderr, "jetstream:", err)
		os.Exit(1)
	}
}

func run(syncAlways bool, d time.Duration) error {
	dir, err := os.MkdirTemp("", "bondgate-bench-js-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		SyncAlways: syncAlways, NoLog: true, NoSigs: true}
	s, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	if _, err := js.AddStream(&nats.StreamConfig{Name: "GATE", Subjects: []string{"gate.>"}, Storage: nats.FileStorage}); err != nil {
		return err
	}
	payload := make([]byte, 300) // about one camera detection
	var n, failed atomic.Int64
	stop := time.Now().Add(d)
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := js.Publish("gate.G-MRO-1", payload); err == nil {
					n.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	syncRate := float64(n.Load()) / time.Since(t0).Seconds()

	var m int64
	t1 := time.Now()
	for time.Since(t1) < d {
		for range 1000 {
			if _, err := js.PublishAsync("gate.G-MRO-1", payload); err != nil {
				return err
			}
		}
		<-js.PublishAsyncComplete()
		m += 1000
	}
	asyncRate := float64(m) / time.Since(t1).Seconds()
	out, _ := json.Marshal(map[string]any{"sync_always": syncAlways, "sync_publishers": syncRate,
		"async_windows": asyncRate, "errors": failed.Load()})
	fmt.Printf("BENCH %s\n", out)
	return nil
}
