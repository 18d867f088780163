// Package kafka connects bondgate to Kafka: an embedded Kafka-protocol broker
// for dev and tests, the outbox publisher that drains a zone.Outbox in order,
// and the consume-apply-commit loop that gates and the API run.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/bondgate/bondgate/internal/zone"
)

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Addr is the host:port the first broker listens on; port 0 picks any.
	// Further brokers (NumBrokers > 1) listen on the following ports, or on
	// any port when Addr's port is 0.
	Addr string
	// DataDir keeps the log and group offsets on disk, fsynced per batch,
	// so a restarted broker comes back with them. Empty keeps all in memory.
	DataDir string
	// Partitions per bondgate topic; default 6.
	Partitions int32
	// NumBrokers in the fake cluster; default 1.
	NumBrokers int
	// BrokerConfigs are passed to kfake as broker-level configs
	// (e.g. "message.max.bytes"); tests use it to provoke refusals.
	BrokerConfigs map[string]string
	// TLS, when set, makes the brokers speak TLS only (server side; with
	// ClientCAs and RequireAndVerifyClientCert, mTLS).
	TLS *tls.Config
	// Users, when any, make the brokers require SASL (see SASLUser).
	Users []SASLUser
}

// Broker is a running embedded Kafka-protocol broker (kfake).
type Broker struct {
	cluster *kfake.Cluster
	addrs   []string // cached: kfake's ListenAddrs blocks forever once closed
	log     *slog.Logger
	once    sync.Once
}

// StartBroker starts kfake on cfg.Addr with bondgate's topics created. It
// never auto-creates topics, as production does not.
func StartBroker(ctx context.Context, cfg BrokerConfig, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.NumBrokers <= 0 {
		cfg.NumBrokers = 1
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, zone.Errorf(zone.EINVALID, "broker address %q: %v", cfg.Addr, err)
	}
	basePort, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, zone.Errorf(zone.EINVALID, "broker address %q: bad port", cfg.Addr)
	}

	// kfake always asks for 127.0.0.1:<port>; ListenFn lets us bind the exact
	// host the operator named, one port per broker in order.
	var (
		mu sync.Mutex
		n  int
	)
	listen := func(network, _ string) (net.Listener, error) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.NumBrokers),
		kfake.ListenFn(listen),
		kfake.ClusterID("bondgate"),
		kfake.SeedTopics(cfg.Partitions, zone.Topics...),
		kfake.WithLogger(slogAdapter{log}),
	}
	if len(cfg.BrokerConfigs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(cfg.BrokerConfigs))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir), kfake.SyncWrites())
	}
	sec, err := securityOpts(cfg)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "start broker on %s: %v", cfg.Addr, err)
	}
	b := &Broker{cluster: c, addrs: c.ListenAddrs(), log: log}

	// SeedTopics only applies to a fresh data dir; a dir written by an older
	// build may lack a topic, so create whatever is missing, in process (no
	// client: the brokers may demand TLS and SASL of every connection).
	for _, t := range zone.Topics {
		if ctx.Err() != nil {
			b.Close()
			return nil, ctx.Err()
		}
		if c.TopicInfo(t) != nil {
			continue
		}
		if err := c.CreateTopic(t, cfg.Partitions, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			b.Close()
			return nil, unavailable(err, "create topic "+t)
		}
	}
	// The API's changelog: one partition, compacted per key.
	if c.TopicInfo(zone.TopicChangelog) == nil {
		if err := c.CreateTopic(zone.TopicChangelog, 1, map[string]string{"cleanup.policy": "compact"}); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			b.Close()
			return nil, unavailable(err, "create topic "+zone.TopicChangelog)
		}
	}
	log.Info("kafka broker started", "addrs", b.Addrs(), "data_dir", cfg.DataDir,
		"partitions", cfg.Partitions, "brokers", cfg.NumBrokers, "tls", cfg.TLS != nil, "sasl_users", len(cfg.Users))
	return b, nil
}

// Addrs returns the host:port of every broker, first one first.
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Cluster exposes the kfake cluster so tests can inject faults.
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker; with a DataDir it saves its state first.
func (b *Broker) Close() {
	b.once.Do(func() {
		b.cluster.Close()
		b.log.Info("kafka broker stopped")
	})
}

// slogAdapter sends kfake's log lines to slog. kfake is chatty (a line per
// request at its info level), so only its warnings and errors are logged
// above debug.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, msg string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	default:
		l = slog.LevelDebug
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, l) {
		return
	}
	a.log.Log(ctx, l, "kfake: "+fmt.Sprintf(msg, args...))
}
