package gateway

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/record"
	"github.com/bondgate/bondgate/internal/zone"
)

// Accepted is the answer for one posted event.
type Accepted struct {
	EventID   string `json:"event_id"`
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
}

// ingestRequest is one POST waiting for the committer.
type ingestRequest struct {
	events []decide.SensorEvent
	reply  chan ingestResult
}

type ingestResult struct {
	accepted []Accepted
	err      error
}

// Committer turns concurrent ingest requests into few fsyncs: a single
// goroutine gathers whatever requests are waiting (and, briefly, whatever
// arrives next), appends them all to the store at once (one write and one
// fdatasync of the event log) and answers every request only after that
// returned. One fsync then pays for many
// POSTs, which is what makes "202 only after fsync" affordable.
type Committer struct {
	store     Store
	reqs      chan *ingestRequest
	done      chan struct{} // closed when run has returned: nothing more is answered
	linger    time.Duration
	maxEvents int
	onCommit  func(events int)
	// parsed receives each newly stored event under its seq (nil: none).
	parsed    *parsedEvents
	lastGroup int // requests in the last group (committer goroutine only)
	// lag holds commits back while the decider is far behind (nil: never).
	lag    *decisionLag
	logged uint64 // the highest seq committed (committer goroutine only)

	requests atomic.Uint64
	commits  atomic.Uint64
}

// CommitterStats counts requests and the transactions that carried them.
type CommitterStats struct {
	Requests uint64 // ingest requests answered
	Commits  uint64 // store transactions committed for them
}

func newCommitter(store Store, linger time.Duration, maxEvents int, onCommit func(int)) *Committer {
	if maxEvents <= 0 {
		maxEvents = 5000
	}
	return &Committer{store: store, reqs: make(chan *ingestRequest, 1024), done: make(chan struct{}), linger: linger,
		maxEvents: maxEvents, onCommit: onCommit}
}

// Stats returns the request and commit counters.
func (c *Committer) Stats() CommitterStats {
	return CommitterStats{Requests: c.requests.Load(), Commits: c.commits.Load()}
}

// Submit hands events to the committer and waits until they are on disk (or
// refused). A full store refuses the whole group with EUNAVAILABLE and
// nothing of it is stored.
func (c *Committer) Submit(ctx context.Context, events []decide.SensorEvent) ([]Accepted, error) {
	r := ingestRequests.Get().(*ingestRequest)
	r.events = events
	select {
	case c.reqs <- r:
	default:
		// The queue is full: wait, but not past shutdown or the client.
		// (Only here: a request context makes its done channel on first
		// use, an allocation the common path does without.)
		select {
		case c.reqs <- r:
		case <-c.done:
			return nil, errShuttingDown()
		case <-ctx.Done():
			return nil, errShuttingDown()
		}
	}
	// A queued request is answered by the committer, so its events are
	// either written or not before this returns, whether or not the client
	// is still there. Only a committer that has stopped answers nothing
	// more: a request queued after its last drain was never seen, so
	// nothing of it was written.
	select {
	case res := <-r.reply:
		r.release()
		return res.accepted, res.err
	case <-c.done:
		select {
		case res := <-r.reply: // answered just before it stopped
			r.release()
			return res.accepted, res.err
		default:
			// Never answered, maybe still queued: not reused.
			return nil, errShuttingDown()
		}
	}
}

// ingestRequests keeps answered requests, each with its reply channel, for
// the next Submit: two allocations fewer per POST. The committer touches a
// request only until it sends the reply (see commit), so once the reply is
// received the request is free.
var ingestRequests = sync.Pool{New: func() any { return &ingestRequest{reply: make(chan ingestResult, 1)} }}

func (r *ingestRequest) release() {
	r.events = nil // do not keep the batch alive
	ingestRequests.Put(r)
}

func errShuttingDown() error { return zone.Errorf(zone.EUNAVAILABLE, "the gate is shutting down") }

// run serves requests until ctx is done, then answers what is still queued.
// It runs once per Committer.
func (c *Committer) run(ctx context.Context) {
	defer close(c.done)
	var timer *time.Timer
	for {
		if c.lag != nil {
			c.lag.wait(ctx, c.logged)
		}
		var first *ingestRequest
		select {
		case first = <-c.reqs:
		case <-ctx.Done():
			c.drainRefusing()
			return
		}
		group := []*ingestRequest{first}
		n := len(first.events)
	gather:
		// Take what is already waiting; it costs no latency.
		for n < c.maxEvents {
			select {
			case r := <-c.reqs:
				group = append(group, r)
				n += len(r.events)
				continue
			default:
			}
			// Linger only under concurrency (the last group had company):
			// a lone client should not pay for batching it cannot use. And
			// only until the group is as large as the last one: clients
			// that wait for their answers come back about as many as were
			// answered, and waiting past them leaves the CPU and the disk
			// idle.
			if c.linger <= 0 || c.lastGroup <= 1 || len(group) >= c.lastGroup {
				break gather
			}
			// Then wait a moment for stragglers: concurrent clients whose
			// requests are a few microseconds behind share this fsync.
			if timer == nil {
				timer = time.NewTimer(c.linger)
			} else {
				timer.Reset(c.linger)
			}
			select {
			case r := <-c.reqs:
				// Since Go 1.23 a stopped timer delivers nothing stale.
				timer.Stop()
				group = append(group, r)
				n += len(r.events)
			case <-timer.C:
				break gather
			}
		}
		c.lastGroup = len(group)
		c.commit(group, n)
	}
}

// drainRefusing answers requests still queued at shutdown: nothing of theirs
// was written, so the client may safely retry elsewhere or later.
func (c *Committer) drainRefusing() {
	for {
		select {
		case r := <-c.reqs:
			r.reply <- ingestResult{err: errShuttingDown()}
		default:
			return
		}
	}
}

func (c *Committer) commit(group []*ingestRequest, n int) {
	events := make([]record.NewEvent, 0, n)
	for _, r := range group {
		for j := range r.events {
			ev := &r.events[j]
			events = append(events, record.NewEvent{Key: seenKey(ev.DeviceID, ev.EventID), Raw: ev.Raw})
		}
	}
	appended, err := c.store.AppendEvents(events)
	all := appended
	if err == nil {
		c.commits.Add(1)
		for _, a := range appended {
			c.logged = max(c.logged, a.Seq)
		}
	}
	// Taken before the replies: an answered request goes back to
	// ingestRequests and is no longer the committer's to read. (The events
	// themselves are the poster's and outlive the request.)
	var seqs []uint64
	var evs []*decide.SensorEvent
	if err == nil && c.parsed != nil {
		seqs, evs = make([]uint64, 0, n), make([]*decide.SensorEvent, 0, n)
		i := 0
		for _, r := range group {
			for j := range r.events {
				if a := all[i]; !a.Duplicate {
					seqs, evs = append(seqs, a.Seq), append(evs, &r.events[j])
				}
				i++
			}
		}
	}
	for _, r := range group {
		c.requests.Add(1)
		if err != nil {
			r.reply <- ingestResult{err: err}
			continue
		}
		acc := make([]Accepted, len(r.events))
		for j := range r.events {
			acc[j] = Accepted{EventID: r.events[j].EventID, Seq: appended[j].Seq, Duplicate: appended[j].Duplicate}
		}
		appended = appended[len(r.events):]
		r.reply <- ingestResult{accepted: acc}
	}
	if err == nil && c.parsed != nil {
		c.parsed.put(seqs, evs)
	}
	if err == nil && c.onCommit != nil {
		c.onCommit(n)
	}
}

// Event times the gate accepts: inside these years (UTC), and at most
// maxAhead past the gate's own clock. The years keep every time writable
// and comparable (past 9999 it cannot even be encoded as JSON); the bound
// ahead keeps a device with a wrong clock from stamping crossings into a
// clearance window that has not begun.
const (
	minEventYear = 2000
	maxEventYear = 2199
	maxAhead     = 5 * time.Minute
)

// timeProblem says what is wrong with an event time, "" when nothing.
func timeProblem(t time.Time) string {
	if y := t.UTC().Year(); y < minEventYear || y > maxEventYear {
		return "must lie in the years " + strconv.Itoa(minEventYear) + " to " + strconv.Itoa(maxEventYear) + " (UTC)"
	}
	return ""
}

// checkTimes refuses the batch (400, nothing stored) when any event's time
// is outside the accepted years or more than maxAhead past now, naming each
// index and field.
func checkTimes(events []decide.SensorEvent, now time.Time) error {
	var fields []zone.FieldError
	for i := range events {
		field := func() string { return "[" + strconv.Itoa(i) + "].time" } // only for a refusal
		if why := timeProblem(events[i].Time); why != "" {
			fields = append(fields, zone.FieldError{Field: field(), Message: why})
		} else if events[i].Time.After(now.Add(maxAhead)) {
			fields = append(fields, zone.FieldError{Field: field(),
				Message: "is more than " + maxAhead.String() + " ahead of the gate's clock (" + now.UTC().Format(time.RFC3339) + ")"})
		}
	}
	if len(fields) > 0 {
		return zone.Invalid(fields...)
	}
	return nil
}

// admit checks a parsed batch against what this gate accepts beyond the
// event format: it is refused whole, and nothing of it is stored.
func (s *Service) admit(events []decide.SensorEvent) error {
	if err := s.devices.checkDevices(events); err != nil {
		s.metrics.unknownDevice.Inc()
		s.log.Warn("batch refused: device not in the gate's device list", "devices", devicesOf(events))
		return err
	}
	return checkTimes(events, s.clock.Now())
}
