package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// GET /v1/stream is the officer console's live feed, as Server-Sent Events.
//
// Its source is the audit trail: every change the zone makes (a declaration
// submitted or decided, a crossing or alarm received from a gate, an alarm
// acknowledged, a temporary entry changed) lands there in the same bbolt
// transaction as the change, with a dense sequence number. The stream's event
// ID is that sequence number, so an event is announced only once it is
// committed, IDs only grow, and a client that sends Last-Event-ID gets every
// change after it — even across an API restart — as long as it is not too far
// behind; otherwise it gets a "reset" event and reloads its lists.
//
// One Stream per server (a part the API application runs) reads the trail,
// while anyone listens, into a bounded ring of recent events, polls the
// gates' status once for all connections, and wakes the connections; each
// connection sends from the ring and the gate boards at its own pace.

// Stream event names (the SSE "event:" field).
const (
	StreamReady          = "ready"           // sent once the backlog is replayed: {"head":N,"resumed":bool}
	StreamReset          = "reset"           // the client is too far behind: reload lists, then go on
	StreamDeclaration    = "declaration"     // a pre-declaration changed
	StreamCrossing       = "crossing"        // a gate reported a crossing
	StreamAlarm          = "alarm"           // an alarm was raised or acknowledged
	StreamTemporaryEntry = "temporary_entry" // a temporary entry changed
	StreamGate           = "gate"            // a gate's polled status changed (no event ID)
	StreamVisit          = "visit"           // a maintenance visit changed
	StreamWriteOff       = "writeoff"        // a write-off period changed
)

// Defaults of ConsoleConfig.
const (
	DefaultStreamPoll      = 250 * time.Millisecond
	DefaultStreamBacklog   = 1024
	DefaultStreamHeartbeat = 15 * time.Second
	DefaultGatePoll        = 5 * time.Second
	DefaultMaxStreams      = 256
)

// streamWriteTimeout bounds one write to a stream client; a client that does
// not read for this long is dropped (it resumes with Last-Event-ID).
const streamWriteTimeout = 30 * time.Second

// streamJump is how many audit entries one catch-up reads before it gives up
// replaying and jumps to the head (clients behind it get a reset).
const streamJump = 20_000

// StreamChange is the data of a declaration, crossing, alarm, temporary_entry,
// visit or writeoff event: what happened, who did it and the record after it.
type StreamChange struct {
	Seq    uint64          `json:"seq"`
	Entity string          `json:"entity"`
	ID     string          `json:"id"`
	Action string          `json:"action"`
	Actor  string          `json:"actor"`
	Reason string          `json:"reason,omitempty"`
	Time   time.Time       `json:"time"`
	Record json.RawMessage `json:"record"`
}

// streamEvent is one event ready to send.
type streamEvent struct {
	id   uint64
	name string
	data []byte
}

// streamEntities maps audit entities to stream events; the record is decoded
// into its zone type and encoded again, so only the public fields go out.
var streamEntities = map[string]struct {
	name   string
	record func() any
}{
	"predeclaration":    {StreamDeclaration, func() any { return new(zone.PreDeclaration) }},
	"crossing":          {StreamCrossing, func() any { return new(zone.Crossing) }},
	"alarm":             {StreamAlarm, func() any { return new(zone.Alarm) }},
	"temporary_entry":   {StreamTemporaryEntry, func() any { return new(zone.TemporaryEntry) }},
	"maintenance_visit": {StreamVisit, func() any { return new(zone.Visit) }},
	"writeoff":          {StreamWriteOff, func() any { return new(zone.WriteOff) }},
}

// streamEventOf turns an audit entry into a stream event; ok=false for
// entities the console does not show, and for entries whose After is not
// the record itself (a temporary entry's reminder keeps the reminder there:
// it changes nothing on the record).
func streamEventOf(e zone.AuditEntry) (streamEvent, bool) {
	kind, ok := streamEntities[e.Entity]
	if !ok || len(e.After) == 0 {
		return streamEvent{}, false
	}
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(e.After, &head); err != nil || head.ID != e.EntityID {
		return streamEvent{}, false
	}
	rec := kind.record()
	if err := json.Unmarshal(e.After, rec); err != nil {
		return streamEvent{}, false
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return streamEvent{}, false
	}
	data, err := json.Marshal(StreamChange{Seq: e.Seq, Entity: e.Entity, ID: e.EntityID, Action: e.Action,
		Actor: e.Actor, Reason: e.Reason, Time: e.Time, Record: raw})
	if err != nil {
		return streamEvent{}, false
	}
	return streamEvent{id: e.Seq, name: kind.name, data: data}, true
}

// Stream is the live feed behind GET /v1/stream: it reads the audit trail
// into a ring of recent events and polls the gates, for every open stream
// at once, and wakes the connections. It is a long-running part: the API
// application runs it (Run); without it a stream gets its backlog and
// nothing live.
type Stream struct {
	trail    zone.AuditTrail
	log      *slog.Logger
	poll     time.Duration
	backlog  int
	max      int
	gatePoll time.Duration
	// pollGates reads every gate with an Authorization header; nil: no gates.
	pollGates func(ctx context.Context, auth string) []GateBoard

	readMu sync.Mutex // one reader of the trail at a time

	mu      sync.Mutex
	ready   bool   // head is known
	head    uint64 // last audit seq read
	floor   uint64 // ring holds every stream event with floor < id <= head
	ring    []streamEvent
	subs    map[chan struct{}]streamSub
	subSeq  uint64
	gates   []GateBoard   // the last poll of every gate, by ID; nil while nobody listens
	kick    chan struct{} // the first listener asks for a poll now
	closed  chan struct{}
	closing sync.Once
}

// streamSub is one open stream.
type streamSub struct {
	seq  uint64 // order of subscription
	auth string // its Authorization header
}

func newStream(trail zone.AuditTrail, cfg ConsoleConfig, log *slog.Logger,
	pollGates func(ctx context.Context, auth string) []GateBoard) *Stream {
	return &Stream{trail: trail, log: log, poll: cfg.StreamPoll, backlog: cfg.StreamBacklog, max: cfg.MaxStreams,
		gatePoll: cfg.GatePoll, pollGates: pollGates,
		subs: map[chan struct{}]streamSub{}, kick: make(chan struct{}, 1), closed: make(chan struct{})}
}

// close ends every stream and refuses new ones (server shutdown).
func (h *Stream) close() { h.closing.Do(func() { close(h.closed) }) }

// subscribe registers a connection with its Authorization header: it is
// woken on new events and gate changes until unsubscribe.
func (h *Stream) subscribe(auth string) (chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closed:
		return nil, zone.Errorf(zone.EUNAVAILABLE, "the server is shutting down")
	default:
	}
	if len(h.subs) >= h.max {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "too many live streams (%d); try again later", h.max)
	}
	ch := make(chan struct{}, 1)
	h.subSeq++
	h.subs[ch] = streamSub{seq: h.subSeq, auth: auth}
	if len(h.subs) == 1 {
		// The gates were not polled while nobody listened: poll now rather
		// than leave the first board empty for a whole interval.
		select {
		case h.kick <- struct{}{}:
		default:
		}
	}
	return ch, nil
}

func (h *Stream) unsubscribe(ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
	if len(h.subs) == 0 {
		h.gates = nil // stale by the time someone listens again
	}
}

// listening reports whether any stream is open.
func (h *Stream) listening() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// Run reads the audit trail every StreamPoll and the gates every GatePoll
// while any stream is open, until ctx is done; then it ends every stream
// and returns nil.
func (h *Stream) Run(ctx context.Context) error {
	defer h.close()
	var wg sync.WaitGroup
	wg.Go(func() { h.readTrail(ctx) })
	if h.pollGates != nil {
		wg.Go(func() { h.watchGates(ctx) })
	}
	wg.Wait()
	return nil
}

// readTrail catches up with the audit trail every poll interval.
func (h *Stream) readTrail(ctx context.Context) {
	t := time.NewTicker(h.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !h.listening() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := h.catchUp(rctx); err != nil && ctx.Err() == nil {
			h.log.Warn("stream: reading the audit trail failed; retrying", "err", err.Error())
		}
		cancel()
	}
}

// watchGates is the one gate poller of all streams: every GatePoll it reads
// every gate and hands the boards to the streams, each of which sends what
// changed for it. It polls with the Authorization of the longest-open
// stream: every stream is a customs officer's, and a gate accepts any
// customs token, so the gate still decides what the console may read.
func (h *Stream) watchGates(ctx context.Context) {
	t := time.NewTicker(h.gatePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		auth, ok := h.pollAuth()
		if !ok {
			continue
		}
		boards := h.pollGates(ctx, auth)
		h.mu.Lock()
		if len(h.subs) > 0 {
			h.gates = boards
		}
		h.mu.Unlock()
		h.wakeAll()
	}
}

// pollAuth is the Authorization of the longest-open stream; ok is false
// when none is open.
func (h *Stream) pollAuth() (auth string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var first uint64
	for _, sub := range h.subs {
		if !ok || sub.seq < first {
			first, auth, ok = sub.seq, sub.auth, true
		}
	}
	return auth, ok
}

// gateBoards returns the last poll of every gate (nil before the first).
func (h *Stream) gateBoards() []GateBoard {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gates
}

// catchUp reads the trail up to its end, keeps the new stream events in the
// ring and wakes the connections. The first call finds the head and loads the
// last backlog entries, so clients resume across a restart.
func (h *Stream) catchUp(ctx context.Context) error {
	h.readMu.Lock()
	defer h.readMu.Unlock()
	h.mu.Lock()
	ready, head := h.ready, h.head
	h.mu.Unlock()
	if !ready {
		end, err := auditHead(ctx, h.trail)
		if err != nil {
			return err
		}
		start := uint64(0)
		if end > uint64(h.backlog) {
			start = end - uint64(h.backlog)
		}
		h.mu.Lock()
		h.ready, h.head, h.floor, h.ring = true, start, start, nil
		h.mu.Unlock()
		head = start
	}
	const batch = 1000
	var read int
	for {
		entries, err := h.trail.AuditEntries(ctx, head, batch)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		read += len(entries)
		if read > streamJump {
			// Nobody listened for a long while: jump to the end.
			end, err := auditHead(ctx, h.trail)
			if err != nil {
				return err
			}
			h.mu.Lock()
			h.head, h.floor, h.ring = end, end, nil
			h.mu.Unlock()
			h.wakeAll()
			return nil
		}
		var add []streamEvent
		for _, e := range entries {
			if ev, ok := streamEventOf(e); ok {
				add = append(add, ev)
			}
		}
		head = entries[len(entries)-1].Seq
		h.mu.Lock()
		h.ring = append(h.ring, add...)
		if over := len(h.ring) - h.backlog; over > 0 {
			h.floor = h.ring[over-1].id
			h.ring = append([]streamEvent(nil), h.ring[over:]...)
		}
		h.head = head
		h.mu.Unlock()
		h.wakeAll()
		if len(entries) < batch {
			return nil
		}
	}
}

func (h *Stream) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// since returns the events after pos and the head. reset is true when pos is
// not in the ring's span (too far behind, or ahead of the trail: another
// store): the client must reload and go on from head.
func (h *Stream) since(pos uint64) (evs []streamEvent, head uint64, reset bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos < h.floor || pos > h.head {
		return nil, h.head, true
	}
	i := len(h.ring)
	for i > 0 && h.ring[i-1].id > pos {
		i--
	}
	return append([]streamEvent(nil), h.ring[i:]...), h.head, false
}

// auditHead finds the last audit sequence number. Sequence numbers are dense
// from 1, so it gallops and then bisects with one-entry reads.
func auditHead(ctx context.Context, trail zone.AuditTrail) (uint64, error) {
	if ht, ok := trail.(interface {
		AuditHead(context.Context) (uint64, error)
	}); ok {
		return ht.AuditHead(ctx)
	}
	exists := func(seq uint64) (bool, error) {
		es, err := trail.AuditEntries(ctx, seq-1, 1)
		return len(es) > 0, err
	}
	lo, hi := uint64(0), uint64(1) // lo exists (0 counts as existing), hi to probe
	for {
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // lo exists, hi does not
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// sseWriter writes Server-Sent Events with a deadline per write.
type sseWriter struct {
	c  echo.Context
	rc *nethttp.ResponseController
}

// write sends one event; id "" sends none (the client keeps its last).
func (w *sseWriter) write(id, name string, data []byte) error {
	var b bytes.Buffer
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	// JSON has no raw newlines, but be safe: one data line per line.
	for _, line := range strings.Split(string(data), "\n") {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteByte('\n')
	return w.raw(b.Bytes())
}

func (w *sseWriter) raw(p []byte) error {
	_ = w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := w.c.Response().Write(p); err != nil {
		return err
	}
	return w.rc.Flush()
}

func idOf(seq uint64) string { return strconv.FormatUint(seq, 10) }

// streamReady is the data of the ready and reset events.
type streamReady struct {
	Head    uint64 `json:"head"`
	Resumed bool   `json:"resumed"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) stream(c echo.Context) error {
	if s.cfg.Audit == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "the live stream needs the audit trail")
	}
	hub := s.streams
	ctx := c.Request().Context()
	wake, err := hub.subscribe(c.Request().Header.Get(echo.HeaderAuthorization))
	if err != nil {
		return err
	}
	defer hub.unsubscribe(wake)
	if err := hub.catchUp(ctx); err != nil {
		return err
	}

	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/event-stream; charset=utf-8")
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.Response().WriteHeader(nethttp.StatusOK)
	w := &sseWriter{c: c, rc: nethttp.NewResponseController(c.Response())}
	log := web.LoggerOf(c, s.log)
	if err := w.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		// Without it the server's WriteTimeout would cut every stream.
		log.Warn("stream: cannot set a write deadline", "err", err.Error())
	}

	// Where the client is: Last-Event-ID, or the head for a new client.
	evs, head, reset := hub.since(0)
	pos, resumed := head, false
	reason := ""
	if v := strings.TrimSpace(c.Request().Header.Get("Last-Event-ID")); v != "" {
		n, perr := strconv.ParseUint(v, 10, 64)
		switch {
		case perr != nil:
			reason = "Last-Event-ID is not an event ID of this stream"
		default:
			evs, head, reset = hub.since(n)
			if reset {
				reason = "too far behind: the recent events no longer cover Last-Event-ID"
				if n > head {
					reason = "Last-Event-ID is ahead of this server's history"
				}
			} else {
				pos, resumed = n, true
			}
		}
	}
	if err := w.raw([]byte("retry: 3000\n\n")); err != nil {
		return nil
	}
	if reason != "" {
		data, _ := json.Marshal(streamReady{Head: head, Reason: reason})
		if err := w.write(idOf(head), StreamReset, data); err != nil {
			return nil
		}
		log.Info("stream: client reset", "reason", reason)
	} else if resumed {
		for _, ev := range evs {
			if err := w.write(idOf(ev.id), ev.name, ev.data); err != nil {
				return nil
			}
			pos = ev.id
		}
		pos = max(pos, head)
	}
	data, _ := json.Marshal(streamReady{Head: head, Resumed: resumed})
	if err := w.write(idOf(head), StreamReady, data); err != nil {
		return nil
	}
	pos = head

	// Each gate at once (from the shared poller's last reading), then
	// again whenever its board changes.
	sentGates := map[string]string{}
	sendGates := func() error {
		for _, g := range hub.gateBoards() {
			key := g.Problem + "\x00" + string(g.Status)
			if g.BacklogSince != nil {
				key += g.BacklogSince.String()
			}
			if sentGates[g.ID] == key {
				continue
			}
			data, _ := json.Marshal(g)
			if err := w.write("", StreamGate, data); err != nil {
				return err
			}
			sentGates[g.ID] = key
		}
		return nil
	}
	if err := sendGates(); err != nil {
		return nil
	}

	hb := time.NewTicker(s.cfg.Console.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hub.closed:
			return nil
		case <-hb.C:
			if err := w.raw([]byte(": heartbeat\n\n")); err != nil {
				return nil
			}
		case <-wake:
			if err := sendGates(); err != nil {
				return nil
			}
			evs, head, reset := hub.since(pos)
			if reset {
				data, _ := json.Marshal(streamReady{Head: head, Reason: "too far behind: events were dropped before this client read them"})
				if err := w.write(idOf(head), StreamReset, data); err != nil {
					return nil
				}
				pos = head
				continue
			}
			for _, ev := range evs {
				if err := w.write(idOf(ev.id), ev.name, ev.data); err != nil {
					return nil
				}
				pos = ev.id
			}
		}
	}
}
