package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// ReplicaConfig makes the API one node of a primary and warm standbys over
// the changelog topic (see README "Reliability").
type ReplicaConfig struct {
	// Changelog writes every committed transaction to the changelog and
	// acknowledges a write only once the log has it back. The node takes
	// the lease at start unless another node holds it.
	Changelog bool
	// Standby follows the changelog into the local file, serves reads,
	// refuses writes (503 + Location of the primary) and takes the lease
	// once the primary's lapses. Implies Changelog.
	Standby bool
	// NodeID names this node in the lease; default the advertised URL.
	NodeID string
	// AdvertiseURL is this node's base URL, given to clients of a standby
	// as the primary's Location.
	AdvertiseURL string
	// Lease is how long a primary's lease lasts without renewal (renewed
	// every third of it); default DefaultLease.
	Lease time.Duration
	// SnapshotEvery and SnapshotInterval: the primary writes a snapshot
	// of its file into the changelog after this many transactions or this
	// long, whichever comes first (defaults DefaultSnapshotEvery and
	// DefaultSnapshotInterval), so a rebuild reads the latest snapshot and
	// the tail after it, not the whole history.
	SnapshotEvery    int
	SnapshotInterval time.Duration
}

// DefaultLease is the primary's lease when ReplicaConfig.Lease is zero.
const DefaultLease = 10 * time.Second

const leaseKey = "lease"

type leaseRecord struct {
	Epoch  uint64 `json:"epoch"`
	Holder string `json:"holder"`
	URL    string `json:"url"`
}

func txKey(epoch, seq uint64) string { return fmt.Sprintf("tx/%016x/%016x", epoch, seq) }

// errDeposed ends a primary that another node has taken the lease from:
// its file may hold a write the log refused, so it restarts (as a standby
// on a checked file) instead of serving on.
var errDeposed = errors.New("changelog: another node took the lease; this node stops")

// replica is the node's view of the changelog. Every record is judged in
// log order, the same way on every node: a lease is valid when its epoch is
// above every epoch before it (a claim) or repeats the current holder's (a
// renewal); a transaction is valid when its epoch is not below the current
// one and its sequence follows the last valid one. Invalid records are
// ignored by everyone, so a deposed primary's late writes change nothing,
// and their writer, which waits to read its record back, answers 503.
type replica struct {
	cfg ReplicaConfig
	db  *bolt.DB
	cl  *kafka.Changelog
	log *slog.Logger

	mu        sync.Mutex
	maxEpoch  uint64
	lastSeq   uint64
	lastEpoch uint64 // epoch of the last valid transaction
	holder    string
	holderURL string
	leaseSeen time.Time // when the holder last showed it was alive
	caughtUp  bool
	myEpoch   uint64            // > 0 once this node's claim was read back
	unsure    bool              // a write's fate is unknown until the log is read to its end
	processed int64             // offset of the next record to judge
	appended  map[string]uint64 // records this node appended, by kind (metrics)
	applied   uint64            // transactions applied to the file from the log (metrics)
	waiters   map[bolt.Position]chan bool
	claims    map[uint64]chan bool
	progress  chan struct{} // closed and replaced each time processed moves
	snapSeq   uint64        // sequence of the latest snapshot manifest read from the log
	rebuild   rebuildStats

	ready    chan struct{} // closed once caught up with the log at start
	primary  chan struct{} // closed once this node holds the lease
	deposed  chan struct{}
	depOnce  sync.Once
	primOnce sync.Once
}

func newReplica(cfg ReplicaConfig, db *bolt.DB, cl *kafka.Changelog, log *slog.Logger) *replica {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = DefaultSnapshotInterval
	}
	if cfg.NodeID == "" {
		cfg.NodeID = cfg.AdvertiseURL
	}
	r := &replica{cfg: cfg, db: db, cl: cl, log: log, ready: make(chan struct{}),
		primary: make(chan struct{}), deposed: make(chan struct{}), appended: map[string]uint64{}}
	r.resetState()
	return r
}

func (r *replica) resetState() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxEpoch, r.lastSeq, r.lastEpoch, r.holder, r.holderURL = 0, 0, 0, "", ""
	r.snapSeq, r.rebuild = 0, rebuildStats{}
	r.processed, r.waiters, r.claims, r.progress = 0, map[bolt.Position]chan bool{}, map[uint64]chan bool{}, make(chan struct{})
	if r.cfg.Standby {
		r.leaseSeen = time.Now() // a standby waits one whole lease before it claims
	} else {
		r.leaseSeen = time.Time{}
	}
}

// Next implements bolt.Replicator: only the lease holder writes, never
// while the fate of an earlier write is unknown.
func (r *replica) Next(last bolt.Position) (bolt.Position, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.myEpoch == 0:
		return bolt.Position{}, zone.Errorf(zone.EUNAVAILABLE, "this node is a standby: write to the primary")
	case r.unsure || last.Seq != r.lastSeq:
		return bolt.Position{}, zone.Errorf(zone.EUNAVAILABLE, "changelog: catching up after a failed write; retry")
	}
	select {
	case <-r.deposed:
		return bolt.Position{}, zone.Errorf(zone.EUNAVAILABLE, "this node lost the lease")
	default:
	}
	return bolt.Position{Epoch: r.myEpoch, Seq: last.Seq + 1}, nil
}

// Replicate implements bolt.Replicator: the record goes to the log and the
// write is acknowledged only once this node has read it back as valid.
func (r *replica) Replicate(rec bolt.TxRecord) error {
	raw, err := rec.MarshalBinary()
	if err != nil {
		return zone.Internal(err)
	}
	pos := bolt.Position{Epoch: rec.Epoch, Seq: rec.Seq}
	verdict := make(chan bool, 1)
	r.mu.Lock()
	r.waiters[pos] = verdict
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, pos)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Lease)
	defer cancel()
	if _, err := r.cl.Append(ctx, txKey(rec.Epoch, rec.Seq), raw); err != nil {
		r.becomeUnsure()
		return err
	}
	r.countAppended("transaction")
	judged := func(ok bool) error {
		if ok {
			return nil
		}
		return zone.Errorf(zone.EUNAVAILABLE, "the changelog refused the write: this node is no longer the primary")
	}
	// claimed reports whether the follower has already taken this write's
	// waiter: it then skips applying the record (it is in the file), so its
	// verdict must stand even if a timeout or the deposition fired at the
	// same moment; undoing a write the log accepted would leave this file
	// without it.
	claimed := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, pending := r.waiters[pos]
		delete(r.waiters, pos)
		return !pending
	}
	select {
	case ok := <-verdict:
		return judged(ok)
	case <-r.deposed:
		if claimed() {
			return judged(<-verdict)
		}
		return zone.Errorf(zone.EUNAVAILABLE, "this node lost the lease")
	case <-ctx.Done():
		if claimed() {
			return judged(<-verdict)
		}
		r.becomeUnsure()
		return zone.Errorf(zone.EUNAVAILABLE, "the changelog did not confirm the write in time")
	}
}

// becomeUnsure stops writes until the log has been read to its end: a
// write whose append failed may still have reached the log, and then this
// node applies it from there like any other record.
func (r *replica) becomeUnsure() {
	r.mu.Lock()
	already := r.unsure
	r.unsure = true
	r.mu.Unlock()
	if already {
		return
	}
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Lease)
			end, err := r.cl.EndOffset(ctx)
			if err == nil {
				err = r.waitProcessed(ctx, end)
			}
			cancel()
			if err == nil {
				r.mu.Lock()
				r.unsure = false
				r.mu.Unlock()
				return
			}
			select {
			case <-r.deposed:
				return
			case <-time.After(r.cfg.Lease / 10):
			}
		}
	}()
}

func (r *replica) waitProcessed(ctx context.Context, offset int64) error {
	for {
		r.mu.Lock()
		done, ch := r.processed >= offset, r.progress
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// primaryURL is the current lease holder's URL, and whether this node is it.
func (r *replica) primaryURL() (string, bool) {
	if r == nil {
		return "", true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holderURL, r.myEpoch != 0
}

// state is for /readyz.
func (r *replica) state() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.caughtUp:
		return "catching up with the changelog"
	case r.unsure:
		return "catching up after a failed write"
	}
	return ""
}

// run follows the log and keeps the lease until ctx is done or this node
// is deposed. A file found ahead of the log at start (a primary that
// committed locally and died before the log took it) is emptied and
// rebuilt from the log.
func (r *replica) run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-r.deposed:
			stop()
		case <-ctx.Done():
		}
	}()
	go r.keepLease(ctx)
	go r.keepSnapshots(ctx)
	for {
		err := r.follow(ctx)
		select {
		case <-r.deposed:
			return errDeposed
		default:
		}
		if !errors.Is(err, bolt.ErrDiverged) {
			return err
		}
		r.mu.Lock()
		caught := r.caughtUp
		r.mu.Unlock()
		if caught {
			return err
		}
		r.log.Warn("local store is not a prefix of the changelog: emptying it and rebuilding from the log", "err", err)
		if err := r.db.Reset(); err != nil {
			return err
		}
		r.resetState()
	}
}

func (r *replica) follow(ctx context.Context) error {
	start := time.Now()
	end, err := r.cl.EndOffset(ctx)
	for err != nil {
		if kafka.IsAuth(err) {
			return err // wrong TLS or SASL settings: no retry cures them
		}
		r.log.Warn("changelog unreachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		end, err = r.cl.EndOffset(ctx)
	}
	r.log.Info("following the changelog", "records", end)
	check := func() error {
		pos, err := r.db.Position()
		if err != nil {
			return err
		}
		r.mu.Lock()
		want := bolt.Position{Epoch: r.lastEpoch, Seq: r.lastSeq}
		r.mu.Unlock()
		if pos != want {
			return fmt.Errorf("%w: file at %d/%d, log at %d/%d", bolt.ErrDiverged, pos.Epoch, pos.Seq, want.Epoch, want.Seq)
		}
		r.mu.Lock()
		r.caughtUp = true
		r.mu.Unlock()
		r.rebuild.Took = time.Since(start)
		r.log.Info("caught up with the changelog", "records", end, "read", r.rebuild.Records, "snapshot", r.rebuild.Snapshot,
			"seq", want.Seq, "took", r.rebuild.Took.Round(time.Millisecond))
		close(r.ready)
		return nil
	}
	if end == 0 {
		if err := check(); err != nil {
			return err
		}
	}
	// An empty file starts from the latest snapshot in the log, when
	// there is one; a file with data replays the log from its start, which
	// also tells whether it is a prefix of the log.
	if pos, err := r.db.Position(); err != nil {
		return err
	} else if pos.Seq == 0 && end > 0 {
		if _, err := r.restoreLatest(ctx, end); err != nil {
			return err
		}
	}
	r.mu.Lock()
	from := r.processed
	r.mu.Unlock()
	return r.cl.Follow(ctx, from, func(rec kafka.ChangelogRecord) error {
		r.countRead(rec)
		if err := r.judge(rec); err != nil {
			return err
		}
		r.mu.Lock()
		caught := r.caughtUp
		r.mu.Unlock()
		if !caught && rec.Offset >= end-1 {
			return check()
		}
		return nil
	})
}

// judge applies one record's verdict (see replica) and moves processed.
func (r *replica) judge(rec kafka.ChangelogRecord) error {
	defer func() {
		r.mu.Lock()
		r.processed = rec.Offset + 1
		close(r.progress)
		r.progress = make(chan struct{})
		r.mu.Unlock()
	}()
	seen := time.Now()
	r.mu.Lock()
	if !r.caughtUp {
		seen = rec.Time // replaying: when it was written, not now
	}
	r.mu.Unlock()
	switch {
	case rec.Key == leaseKey:
		var l leaseRecord
		if err := json.Unmarshal(rec.Value, &l); err != nil {
			r.log.Error("changelog: unreadable lease record ignored", "offset", rec.Offset, "err", err)
			return nil
		}
		r.mu.Lock()
		valid := l.Epoch > r.maxEpoch || (l.Epoch == r.maxEpoch && l.Holder == r.holder)
		if valid {
			r.maxEpoch, r.holder, r.holderURL = l.Epoch, l.Holder, l.URL
			if seen.After(r.leaseSeen) {
				r.leaseSeen = seen
			}
		}
		mine := l.Holder == r.cfg.NodeID
		claim := r.claims[l.Epoch]
		deposed := valid && !mine && r.myEpoch != 0
		if valid && mine && claim != nil {
			r.myEpoch = l.Epoch
		}
		r.mu.Unlock()
		if claim != nil && mine {
			claim <- valid
		}
		if deposed {
			r.depose(l.Epoch)
		}
		return nil
	case isManifest(rec.Key):
		var m snapshotManifest
		if json.Unmarshal(rec.Value, &m) == nil {
			r.mu.Lock()
			r.snapSeq = max(r.snapSeq, m.Seq)
			r.mu.Unlock()
		}
		return nil
	case strings.HasPrefix(rec.Key, "tx/"):
		var tx bolt.TxRecord
		if err := tx.UnmarshalBinary(rec.Value); err != nil {
			return fmt.Errorf("changelog offset %d: %w", rec.Offset, err)
		}
		pos := bolt.Position{Epoch: tx.Epoch, Seq: tx.Seq}
		r.mu.Lock()
		valid := tx.Epoch >= r.maxEpoch && tx.Seq == r.lastSeq+1
		if valid {
			r.maxEpoch, r.lastSeq, r.lastEpoch = tx.Epoch, tx.Seq, tx.Epoch
			if seen.After(r.leaseSeen) {
				r.leaseSeen = seen
			}
		}
		deposed := valid && r.myEpoch != 0 && tx.Epoch > r.myEpoch
		// Claiming the waiter under the lock is what lets Replicate tell
		// "judged" from "timed out" without a race (see claimed there).
		w := r.waiters[pos]
		if w != nil {
			delete(r.waiters, pos)
		}
		r.mu.Unlock()
		if deposed {
			r.depose(tx.Epoch)
		}
		if w != nil { // this node's own write, already in its file
			w <- valid
			return nil
		}
		if !valid {
			return nil
		}
		if _, err := r.db.Apply(tx); err != nil {
			return err
		}
		r.mu.Lock()
		r.applied++
		r.mu.Unlock()
		return nil
	}
	return nil
}

func (r *replica) depose(epoch uint64) {
	r.depOnce.Do(func() {
		r.log.Error("deposed: another node holds the lease", "epoch", epoch)
		close(r.deposed)
	})
}

// keepLease claims the lease when it has lapsed (at once for a node whose
// lease it was, or with none in the log) and renews it while held.
func (r *replica) keepLease(ctx context.Context) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(max(r.cfg.Lease/20, 10*time.Millisecond))
	defer tick.Stop()
	var renewed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.deposed:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		held, epoch := r.myEpoch, r.maxEpoch
		lapsed := time.Since(r.leaseSeen) > r.cfg.Lease
		if !r.cfg.Standby && (r.holder == "" || r.holder == r.cfg.NodeID) {
			lapsed = true // no lease yet, or this node's own from before a restart
		}
		r.mu.Unlock()
		if held != 0 {
			if time.Since(renewed) >= r.cfg.Lease/3 {
				if err := r.appendLease(ctx, held); err != nil {
					r.log.Warn("lease renewal failed", "err", err)
				} else {
					renewed = time.Now()
				}
			}
			continue
		}
		if !lapsed {
			continue
		}
		if r.claim(ctx, epoch+1) {
			renewed = time.Now()
			r.primOnce.Do(func() { close(r.primary) })
			r.log.Info("this node is the primary", "epoch", epoch+1, "url", r.cfg.AdvertiseURL)
		}
	}
}

func (r *replica) appendLease(ctx context.Context, epoch uint64) error {
	raw, _ := json.Marshal(leaseRecord{Epoch: epoch, Holder: r.cfg.NodeID, URL: r.cfg.AdvertiseURL})
	actx, cancel := context.WithTimeout(ctx, r.cfg.Lease/3)
	defer cancel()
	_, err := r.cl.Append(actx, leaseKey, raw)
	if err == nil {
		r.countAppended("lease")
	}
	return err
}

func (r *replica) countAppended(kind string) {
	r.mu.Lock()
	r.appended[kind]++
	r.mu.Unlock()
}

// replicaStats is what /metrics shows of the node's place in the changelog.
type replicaStats struct {
	appended   map[string]uint64
	applied    uint64
	epoch      uint64 // highest valid epoch read from the log
	holdsLease bool
	processed  int64 // offset of the next record to judge
}

func (r *replica) stats() replicaStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := replicaStats{appended: map[string]uint64{}, applied: r.applied, epoch: r.maxEpoch,
		holdsLease: r.myEpoch != 0, processed: r.processed}
	for k, v := range r.appended {
		st.appended[k] = v
	}
	select {
	case <-r.deposed:
		st.holdsLease = false
	default:
	}
	return st
}

// claim writes a lease for epoch and reports whether the log took it as
// valid (no other claim got there first).
func (r *replica) claim(ctx context.Context, epoch uint64) bool {
	ch := make(chan bool, 1)
	r.mu.Lock()
	r.claims[epoch] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.claims, epoch)
		r.mu.Unlock()
	}()
	if err := r.appendLease(ctx, epoch); err != nil {
		r.log.Warn("lease claim failed", "epoch", epoch, "err", err)
		return false
	}
	select {
	case ok := <-ch:
		return ok
	case <-time.After(r.cfg.Lease):
		return false
	case <-ctx.Done():
		return false
	}
}
