package kafka

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func TestBrokerTopicsHaveSixPartitions(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	conn, err := kafkago.Dial("tcp", b.Addrs()[0])
	require.NoError(t, err)
	defer conn.Close()
	for _, topic := range zone.Topics {
		parts, err := conn.ReadPartitions(topic)
		require.NoError(t, err, topic)
		assert.Len(t, parts, 6, topic)
	}
	// No auto-creation: an unknown topic stays unknown.
	w := &kafkago.Writer{Addr: kafkago.TCP(b.Addrs()...), RequiredAcks: kafkago.RequireAll, MaxAttempts: 1,
		AllowAutoTopicCreation: true, BatchTimeout: time.Millisecond}
	defer w.Close()
	err = w.WriteMessages(context.Background(), kafkago.Message{Topic: "not.a.bondgate.topic", Value: []byte("x")})
	assert.Error(t, err)
}

func TestBrokerListensOnGivenAddr(t *testing.T) {
	b := startBroker(t, BrokerConfig{NumBrokers: 3})
	addrs := b.Addrs()
	require.Len(t, addrs, 3)
	for _, a := range addrs {
		require.NoError(t, Ping(context.Background(), []string{a}))
	}
	// Restart on the exact address the first run picked.
	addr := addrs[0]
	b.Close()
	b2 := startBroker(t, BrokerConfig{Addr: addr})
	assert.Equal(t, addr, b2.Addrs()[0])
}

// TestPingWaitsForASlowBroker: Ping must give a healthy broker the whole
// probe deadline. It used to bound the metadata request by the transport's
// 1 ms MetadataTTL, which failed TestBrokerListensOnGivenAddr under -race.
func TestPingWaitsForASlowBroker(t *testing.T) {
	b := startBroker(t, BrokerConfig{})
	slow := slowProxy(t, b.Addrs()[0], 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, Ping(ctx, []string{slow}))
}

// slowProxy forwards TCP to target, holding each chunk from the broker for
// delay: a broker on a loaded machine.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c) }()
				buf := make([]byte, 64<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestBrokerRestartKeepsLogAndOffsets is the experiment the design leans on:
// kfake with a DataDir keeps messages and committed group offsets across
// Close and a restart, and kafka-go produces, consumes and commits against it.
func TestBrokerRestartKeepsLogAndOffsets(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, BrokerConfig{DataDir: dir})
	addr := b.Addrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	w := &kafkago.Writer{Addr: kafkago.TCP(addr), RequiredAcks: kafkago.RequireAll, Balancer: &kafkago.Hash{},
		BatchTimeout: 5 * time.Millisecond}
	var msgs []kafkago.Message
	for i := 0; i < 200; i++ {
		msgs = append(msgs, kafkago.Message{Topic: zone.TopicCrossings, Key: []byte(fmt.Sprintf("G-%d", i%7)),
			Value: []byte(fmt.Sprintf("v-%03d", i))})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())

	// Consume the first 120 with a group and commit them.
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, GroupID: "exp", Topic: zone.TopicCrossings,
		StartOffset: kafkago.FirstOffset, MinBytes: 1, MaxBytes: 10e6, MaxWait: 100 * time.Millisecond})
	seen := map[string]bool{}
	for len(seen) < 120 {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err)
		seen[string(m.Value)] = true
		require.NoError(t, r.CommitMessages(ctx, m))
	}
	require.NoError(t, r.Close())

	b.Close()
	b2 := startBroker(t, BrokerConfig{Addr: addr, DataDir: dir})

	// Everything is still in the log.
	all := readAll(t, b2.Addrs(), zone.TopicCrossings)
	var vals []string
	for _, m := range all {
		vals = append(vals, string(m.Value))
	}
	sort.Strings(vals)
	require.Len(t, vals, 200)
	assert.Equal(t, "v-000", vals[0])
	assert.Equal(t, "v-199", vals[199])

	// The group resumes after its commits: it gets exactly the other 80.
	r2 := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, GroupID: "exp", Topic: zone.TopicCrossings,
		StartOffset: kafkago.FirstOffset, MinBytes: 1, MaxBytes: 10e6, MaxWait: 100 * time.Millisecond})
	defer r2.Close()
	rest := map[string]bool{}
	for len(rest) < 80 {
		m, err := r2.FetchMessage(ctx)
		require.NoError(t, err)
		assert.False(t, seen[string(m.Value)], "re-delivered committed %s", m.Value)
		rest[string(m.Value)] = true
	}
	assert.Len(t, rest, 80)
}
