package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/web"
)

func runGate(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("gate", "--id GATE --addr A --data DIR --brokers LIST --tokens FILE", stderr)
	id := fs.String("id", "", "gate ID this service guards, e.g. G-MRO-1 (required)")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	data := fs.String("data", "", "data folder (default ./data/gate-<ID>)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	tokensFile := fs.String("tokens", "", "tokens file (JSON array; see README)")
	window := fs.Duration("window", decide.DefaultWindow, "correlation window either side of an infrared crossing")
	minConf := fs.Float64("min-confidence", decide.DefaultMinConfidence, "camera reads below this confidence do not identify")
	silent := fs.Duration("silent-after", decide.DefaultSilentAfter, "a sensor without heartbeat for this long raises an alarm")
	maxSize := fs.Int64("max-size", 0, "cap on the gate's database file in bytes (0: none); ingest answers 503 near it")
	deviceRate := fs.Float64("device-rate", gateway.DefaultDeviceRate, "events per second each device may post on average (negative: no limit)")
	deviceBurst := fs.Int("device-burst", gateway.DefaultDeviceBurst, "events each device may post at once")
	maxConns := fs.Int("max-conns", web.DefaultMaxConns, "open HTTP connections at most; past it the longest-idle one is closed")
	devicesFile := fs.String("devices", "", "device list (JSON array of {\"id\",\"kind\":json|isapi|onvif|modbus,…}, README \"Gate hardware\"); with it, events from other devices are refused (403)")
	tlsFiles := tlsFlags(fs)
	kafkaSecurity := kafkaSecurityFlags(fs)
	kafkaTimeout := fs.Duration("kafka-write-timeout", 10*time.Second, "bound on one produce request; past it a hanging broker counts as the link down")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060); off when empty")
	newLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fs.Usage()
		return fmt.Errorf("--id is required")
	}
	if *data == "" {
		*data = "./data/gate-" + *id
	}
	toks, err := loadTokens(*tokensFile)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsconf.Load(*tlsFiles)
	if err != nil {
		return err
	}
	ksec, err := kafkaSecurity()
	if err != nil {
		return err
	}
	var devices []gateway.Device
	if *devicesFile != "" {
		if devices, err = gateway.LoadDevices(*devicesFile); err != nil {
			return err
		}
	}
	gateway.TuneProcess() // this process runs one gate and nothing else
	return serveGate(ctx, gateway.Config{GateID: *id, Addr: *addr, DataDir: *data, Brokers: splitList(*brokers), KafkaSecurity: ksec,
		Tokens: toks, Window: *window, MinConfidence: *minConf, SilentAfter: *silent, MaxSize: *maxSize, KafkaWriteTimeout: *kafkaTimeout,
		TLS: tlsCfg, MaxConns: *maxConns, DeviceRate: *deviceRate, DeviceBurst: *deviceBurst, Devices: devices, PprofAddr: *pprofAddr,
		Log: gateLogger(newLog(stderr))})
}

// tlsFlags adds --tls-cert, --tls-key and --client-ca to fs.
func tlsFlags(fs *flag.FlagSet) *tlsconf.Files {
	f := &tlsconf.Files{}
	fs.StringVar(&f.Cert, "tls-cert", "", "PEM certificate chain: serve HTTPS only (with --tls-key)")
	fs.StringVar(&f.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.ClientCA, "client-ca", "", "PEM CA certificates of gate hardware's client certificates (mTLS; CN = gate ID)")
	return f
}

func serveGate(ctx context.Context, cfg gateway.Config) error {
	svc, err := gateway.New(cfg)
	if err != nil {
		return fmt.Errorf("gate %s: %w", cfg.GateID, err)
	}
	return svc.Run(ctx)
}

// gateLogger is a gate service's logger; gateway.New adds the gate ID.
func gateLogger(base *slog.Logger) *slog.Logger {
	return base.With("component", "gate")
}

// fixtureDevices is the device list of a dev gate: the devices its fixture
// names, all posting JSON events.
func fixtureDevices(g fixtures.Gate) []gateway.Device {
	ds := make([]gateway.Device, 0, len(g.Devices))
	for _, d := range g.Devices {
		x := gateway.Device{ID: d.ID, Kind: gateway.DeviceJSON}
		if len(d.Segments) == 1 {
			x.Segment = d.Segments[0]
		}
		ds = append(ds, x)
	}
	return ds
}

// hardwareGate is the dev gate `bondgate dev --hardware` equips.
const hardwareGate = "G-MRO-1"

// devHardware is the dev hardware's device list, its Modbus module at
// modbusAddr when given.
func devHardware(modbusAddr string) ([]gateway.Device, error) {
	ds, err := gateway.ParseDevices(fixtures.HardwareDevices())
	if err != nil {
		return nil, fmt.Errorf("fixtures/hardware/dev-devices.json: %w", err)
	}
	for i := range ds {
		if ds[i].Kind == gateway.DeviceModbus && modbusAddr != "" {
			ds[i].Address = modbusAddr
		}
	}
	return ds, nil
}
