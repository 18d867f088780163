package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bondgate/bondgate/internal/kafka"
)

func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("broker", "--addr HOST:PORT [--data DIR]", stderr)
	addr := fs.String("addr", "127.0.0.1:9092", "listen address of the broker")
	data := fs.String("data", "", "keep the log on disk in this folder (fsync per batch); empty keeps it in memory")
	partitions := fs.Int("partitions", 6, "partitions per bondgate topic")
	brokers := fs.Int("brokers-count", 1, "number of brokers in the embedded cluster (ports follow --addr)")
	security := brokerSecurityFlags(fs)
	newLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := newLog(stderr).With("component", "broker")
	cfg := kafka.BrokerConfig{Addr: *addr, DataDir: *data, Partitions: int32(*partitions), NumBrokers: *brokers}
	if err := security(&cfg); err != nil {
		return err
	}
	b, err := kafka.StartBroker(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("start broker on %s: %w", *addr, err)
	}
	log.Info("broker ready", "addrs", strings.Join(b.Addrs(), ","), "data", *data)
	fmt.Fprintf(stdout, "broker listening on %s\n", strings.Join(b.Addrs(), ","))
	<-ctx.Done()
	log.Info("broker stopping")
	b.Close()
	return nil
}
