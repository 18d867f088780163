// Package gateway is the gate service: it takes sensor events from the gate's
// cameras and infrared beams (fsynced before it answers), decides every
// crossing locally from its own copy of the clearances, and forwards the
// crossings and alarms to Kafka through a bbolt outbox that survives any
// link outage.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/labstack/echo/v4"
)

// Config configures one gate service.
type Config struct {
	// GateID is the gate this service guards, e.g. G-MRO-1.
	GateID string
	// Addr is where Run serves HTTP; empty runs the workers only (tests
	// then serve Handler themselves).
	Addr string
	// DataDir holds the gate's bbolt file (gate-<GateID>.db).
	DataDir string
	// Brokers are the Kafka bootstrap addresses; none leaves the link down
	// (the gate still accepts and decides).
	Brokers []string
	// KafkaSecurity is how the gate's Kafka clients reach the brokers (TLS,
	// SASL); the zero value is plaintext.
	KafkaSecurity kafka.Security
	// Tokens authenticates callers.
	Tokens *zone.Tokens
	// Window is the correlation window either side of a crossing; default
	// DefaultWindow.
	Window time.Duration
	// MinConfidence below which a camera read does not identify; default
	// DefaultMinConfidence.
	MinConfidence float64
	// SilentAfter is how long a device may go without a heartbeat before it
	// is alarmed as silent; default DefaultSilentAfter.
	SilentAfter time.Duration
	// MaxSize caps the bbolt file in bytes (0: no cap). Ingest is refused
	// (503) once three quarters of it is live data, so decisions and the
	// outbox still have room to drain.
	MaxSize int64
	// Log is the logger; default slog.Default().
	Log *slog.Logger
	// Now is the gate's wall clock; default time.Now.
	Now func() time.Time

	// Linger is how long the committer waits for more concurrent requests
	// before one commit; default 1ms, negative for none.
	Linger time.Duration
	// Tick is how often the gate clock advances the correlator; default 1s.
	Tick time.Duration
	// ShutdownTimeout bounds the flush at shutdown; default 5s.
	ShutdownTimeout time.Duration
	// KafkaWriteTimeout bounds one produce request to Kafka (default 10s):
	// past it a hanging broker counts as the link down and the write is
	// retried, so it is also how soon /v1/status says so.
	KafkaWriteTimeout time.Duration
	// TLS, when set, makes Run serve HTTPS only; with ClientCAs set, a
	// verified client certificate whose CN is this gate's ID stands for a
	// gate token (see internal/tlsconf).
	TLS *tls.Config
	// MaxConns bounds the HTTP server's open connections (default
	// web.DefaultMaxConns); IdleTimeout closes idle keep-alive
	// connections (default 120 s). See web.NewHTTPServer.
	MaxConns    int
	IdleTimeout time.Duration
	// DeviceRate is each device's sustained ingest rate in events per
	// second, DeviceBurst what it may send at once; beyond them its POSTs
	// are refused with 429 so one broken sensor cannot starve the others.
	// Defaults 200/s and 2,000; a negative DeviceRate turns the limit off.
	DeviceRate  float64
	DeviceBurst int
	// PprofAddr, when set, serves net/http/pprof there (loopback only; see
	// web.ListenProfiler) for as long as the gate runs.
	PprofAddr string
	// Devices is the gate's device list. When it is non-nil, an event from a
	// device it does not hold is refused (403, the whole batch, nothing
	// stored), and only listed devices get their own metric series. Nil
	// accepts every device.
	Devices []Device
	// Hardware tunes the ISAPI, ONVIF and Modbus adapters (hardware.go).
	Hardware HardwareOptions
}

// Service is one running gate.
type Service struct {
	cfg Config
	log *slog.Logger

	db        *bolt.DB // the file: outbox, backup, lifecycle
	store     Store    // the gate's records in it
	outbox    *bolt.Outbox
	clock     *decide.Clock
	book      *decide.Clearances
	committer *Committer
	decider   *Decider
	metrics   *gateMetrics
	echo      *echo.Echo
	link      *Link
	limiter   *deviceLimiter
	storeID   string // this database file's identity (see Store.StoreID)
	idTag     string // made at each open; in every crossing and alarm ID (see Decider.idTag)
	devices   deviceSet
	hw        *adapters     // the hardware adapters' state (hardware.go)
	prof      *web.Profiler // nil unless Config.PprofAddr

	ready  atomic.Bool
	closed sync.Once
}

func (cfg *Config) defaults() error {
	if cfg.GateID == "" {
		return zone.Errorf(zone.EINVALID, "gate ID is required")
	}
	if cfg.DataDir == "" {
		return zone.Errorf(zone.EINVALID, "data dir is required")
	}
	if cfg.Tokens == nil {
		return zone.Errorf(zone.EINVALID, "tokens are required")
	}
	if cfg.Window <= 0 {
		cfg.Window = decide.DefaultWindow
	}
	if cfg.MinConfidence <= 0 {
		cfg.MinConfidence = decide.DefaultMinConfidence
	}
	if cfg.SilentAfter <= 0 {
		cfg.SilentAfter = decide.DefaultSilentAfter
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Linger == 0 {
		cfg.Linger = time.Millisecond
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	return nil
}

// New opens the gate's store (moving a corrupt file aside and raising an
// alarm for it), loads the clearance cache and rebuilds the correlator from
// the saved replay point. It does not need the link.
func New(cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("gate", cfg.GateID)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "gate-"+cfg.GateID+".db")
	db, err := bolt.Open(path, bolt.Options{MaxSize: cfg.MaxSize, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, db: db, outbox: db.Outbox(), clock: decide.NewClock(cfg.Now), devices: newDeviceSet(cfg.Devices)}
	store, err := bolt.NewGateStore(db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.store, s.storeID = store, store.StoreID()
	if s.book, err = loadClearances(s.store, cfg.GateID, s.clock); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load clearances: %w", err)
	}
	s.committer = newCommitter(s.store, cfg.Linger, 0, nil)
	s.metrics = newGateMetrics(cfg.GateID, s.outbox, s.linkUp, func() float64 { return float64(s.committer.Stats().Commits) })
	s.link = newLink(s, cfg.Brokers, kafka.NewMetrics(s.metrics.reg))
	var tag [6]byte
	if _, err := rand.Read(tag[:]); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.idTag = hex.EncodeToString(tag[:])
	s.decider = &Decider{store: s.store, gate: cfg.GateID, source: "bondgate/gate/" + cfg.GateID, book: s.book, clock: s.clock, log: log,
		idTag: s.idTag, screen: screenEvent, tick: cfg.Tick, wake: make(chan struct{}, 1), sensors: map[string]decide.SensorState{},
		cfg: decide.CorrelatorConfig{Gate: cfg.GateID, Window: cfg.Window, MinConfidence: cfg.MinConfidence, SilentAfter: cfg.SilentAfter,
			MaxTracks: decide.DefaultMaxTracks, Logger: cfg.Log}, // the correlator adds the gate itself
		onOutbox:  s.link.Notify,
		onDecided: func(x zone.Crossing) { s.metrics.decisions.WithLabelValues(string(x.Decision)).Inc() },
		onAlarm:   func(a zone.Alarm) { s.metrics.alarms.WithLabelValues(string(a.Kind)).Inc() },
		onShed:    func(n uint64) { s.metrics.tracksShed.Add(float64(n)) },
	}
	s.committer.onCommit = func(int) { s.decider.Poke() }
	s.decider.parsed = newParsedEvents(maxParsed)
	s.committer.parsed = s.decider.parsed
	s.decider.lag = newDecisionLag(maxDecisionLag, maxLagWait)
	s.decider.quietEvery = quietStepsEvery
	s.committer.lag = s.decider.lag
	s.metrics.countLagWaits(cfg.GateID, s.decider.lag)
	if err := s.decider.restore(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("restore decisions: %w", err)
	}
	if moved, ok := db.Recovered(); ok {
		if err := s.raiseAlarm(zone.AlarmStoreCorrupt, zone.SeverityCritical,
			"the gate's store was corrupt; it was moved to "+moved+" and the gate started empty",
			map[string]string{"service": "gate", "moved_to": moved}, "store-corrupt-"+filepath.Base(moved)); err != nil {
			log.Error("could not queue the store-corrupt alarm", "err", err)
		}
	}
	if cfg.PprofAddr != "" {
		p, err := web.ListenProfiler(cfg.PprofAddr)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		s.prof = p
	}
	s.registerOpsMetrics()
	s.limiter = newDeviceLimiter(cfg.DeviceRate, cfg.DeviceBurst, nil)
	s.echo = s.routes()
	s.ready.Store(true)
	return s, nil
}

// Handler serves the gate's HTTP API.
func (s *Service) Handler() http.Handler { return s.echo }

// Ready reports whether the store is open and the service accepts events.
func (s *Service) Ready() bool { return s.ready.Load() }

// Committer exposes ingest group-commit counters (tests and benchmarks).
func (s *Service) Committer() *Committer { return s.committer }

// Status gathers GET /v1/status.
func (s *Service) Status(ctx context.Context) (Status, error) {
	depth, err := s.outbox.Depth(ctx)
	if err != nil {
		return Status{}, err
	}
	fwd, err := s.outbox.DeliveredThrough(ctx)
	if err != nil {
		return Status{}, err
	}
	lastEvent, lastDecided, err := s.store.Progress()
	if err != nil {
		return Status{}, err
	}
	st := Status{Gate: s.cfg.GateID, Link: "down", OutboxDepth: depth, Clearances: s.book.Usable(),
		LastForwardedSeq: fwd, LastEventSeq: lastEvent, LastDecidedSeq: lastDecided, Sensors: []SensorStatus{}}
	if s.linkUp() {
		st.Link = "up"
	}
	for _, ss := range s.decider.Sensors() {
		x := SensorStatus{DeviceID: ss.DeviceID, OK: ss.OK, Problem: ss.Problem}
		if !ss.LastSeen.IsZero() {
			x.LastSeen = ss.LastSeen.UTC().Format(time.RFC3339Nano)
		}
		st.Sensors = append(st.Sensors, x)
	}
	return st, nil
}

func (s *Service) linkUp() bool { return s.link != nil && s.link.Up() }

// raiseAlarm queues an alarm the gate raises about itself (a corrupt store,
// a quarantined message). id makes it idempotent within the file; the
// alarm's own ID also carries the open's tag, so it never repeats.
func (s *Service) raiseAlarm(kind zone.AlarmKind, severity zone.Severity, msg string, params map[string]string, id string) error {
	// The tag keeps the ID from repeating after a restore, where the
	// outbox seqs of quarantine alarms count again.
	key := s.cfg.GateID + "-" + id
	a := zone.Alarm{ID: s.cfg.GateID + "-" + s.idTag + "-" + id, Gate: s.cfg.GateID, Kind: kind, Severity: severity,
		Message: msg, Params: params, Time: s.clock.Now(), State: zone.AlarmOpen}
	_, err := s.store.CommitStep(record.Step{Announce: s.decider.announce,
		Outcomes: []record.Outcome{{Alarms: []record.Alarm{{Key: key, Alarm: a}}}}})
	if err != nil {
		return err
	}
	s.metrics.alarms.WithLabelValues(string(kind)).Inc()
	s.link.Notify()
	return nil
}

// Run serves HTTP on cfg.Addr (when set) and runs the committer, decider,
// forwarder and clearance consumer until ctx is done. Then it stops in this
// order: HTTP stops accepting and lets in-flight requests finish; the
// committer and decider stop, and one last decision step runs; the link
// stops, its forwarder flushing the outbox for at most ShutdownTimeout; the
// store closes. Each stage has its own context, cancelled when the one
// before it has returned, so none is a child of ctx.
func (s *Service) Run(ctx context.Context) error {
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var wg sync.WaitGroup
	wg.Go(func() { s.committer.run(workCtx) })
	wg.Go(func() { s.decider.run(workCtx) })
	wg.Go(func() { s.runHardware(workCtx) }) // Modbus pollers, ONVIF PullPoint clients
	if s.prof != nil {
		wg.Go(func() { _ = s.prof.Run(workCtx) })
	}
	// Keep bbolt's map of a large file (a drained backlog, the event log)
	// from counting whole in the resident set; see bolt.DB.TrimResident.
	wg.Go(func() { s.db.TrimResidentEvery(workCtx, 250*time.Millisecond) })
	linkCtx, stopLink := context.WithCancel(context.Background())
	defer stopLink()
	var lwg sync.WaitGroup
	lwg.Go(func() { s.link.run(linkCtx) })

	var srv *http.Server
	serveErr := make(chan error, 1)
	if s.cfg.Addr != "" {
		ln, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			stopWork()
			stopLink()
			wg.Wait()
			lwg.Wait()
			_ = s.close()
			return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
		}
		srv = web.NewHTTPServer(s.echo, web.ServerOptions{MaxConns: s.cfg.MaxConns, IdleTimeout: s.cfg.IdleTimeout, Log: s.log})
		if s.cfg.TLS != nil {
			srv.TLSConfig = s.cfg.TLS
			ln = tls.NewListener(ln, s.cfg.TLS)
		}
		s.log.Info("gate serving", "addr", ln.Addr().String())
		go func() { serveErr <- srv.Serve(ln) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	s.ready.Store(false)
	s.log.Info("gate shutting down")
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if srv != nil {
		// In-flight POSTs still reach the committer, which runs until after this.
		if err := srv.Shutdown(deadline); err != nil {
			s.log.Warn("http shutdown", "err", err)
			_ = srv.Close()
		}
	}
	stopWork()
	wg.Wait()
	// One last decision step so everything acked is decided (and written,
	// held quiet steps too) before the flush. The decider's goroutine has
	// returned, so its fields are this goroutine's now.
	s.decider.quietEvery = 0
	if _, err := s.decider.step(deadline); err != nil {
		s.log.Warn("final decision step", "err", err)
	}
	stopLink()
	lwg.Wait() // the forwarder's flush, bounded by ShutdownTimeout

	if err := s.close(); err != nil {
		s.log.Error("closing the store", "err", err)
	}
	s.log.Info("gate stopped")
	return runErr
}

// TuneProcess sets the Go runtime's collector target and soft memory limit
// for a process that runs a gate (`bondgate gate`), unless GOGC or
// GOMEMLIMIT say otherwise. They are the process's, not one service's, so
// the command calls it, not Run: a process that also runs the API
// (`bondgate dev`) or tests keep the runtime's defaults.
func TuneProcess() {
	if pct, ok := gateGCPercent(os.Getenv("GOGC")); ok {
		debug.SetGCPercent(pct)
	}
	if limit, ok := gateMemoryLimit(os.Getenv("GOMEMLIMIT")); ok {
		debug.SetMemoryLimit(limit)
	}
}

// gateGCPercent is the collector's target a gate process sets unless GOGC
// is set (which then decides, as the runtime read it).
// The gate's live heap is small (about 30 MB under full single-event load)
// and it allocates per request: collecting at three times the live heap
// instead of twice cut its CPU per request by about a tenth (115 to 99-103
// µs, camera detections, 64 connections) for about 30 MB more anonymous
// memory (65-78 to 94-118 MB).
func gateGCPercent(env string) (int, bool) {
	if env != "" {
		return 0, false
	}
	return 200, true
}

// gateMemoryLimit is the soft heap limit a gate process sets unless
// GOMEMLIMIT is set. The larger GC target above costs nothing when
// the live heap is small, but a flood of new camera tracks (each kept for
// three correlation windows) grows the live heap to a few hundred MB, and
// three times that is more than a gate box should give: under 100-event
// batches of new tracks the gate peaked at 866 MB anonymous memory without
// a limit and at 497 MB with this one, for about a tenth more CPU per event
// while the flood lasts. Past the limit the runtime collects more often, at
// most half the CPU, rather than failing.
func gateMemoryLimit(env string) (int64, bool) {
	if env != "" {
		return 0, false
	}
	return 512 << 20, true
}

func (s *Service) close() error {
	var err error
	s.closed.Do(func() { err = s.db.Close() })
	return err
}
