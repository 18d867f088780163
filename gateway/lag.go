package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// How far ingest may run ahead of the decider before it waits for it. A
// gate hears a few events a second and its decider is never behind; a
// flood (100-event batches of new camera tracks, ~100,000 events a
// second) can log events faster than one decider goroutine takes them,
// and without a bound the gap grew by ~50,000 events a second. Past the
// bound each ingest commit waits for the decider's next step, at most
// maxLagWait, so a decider that has stopped (restoring after a failed
// step) slows ingest but never stops it: events are still recorded.
const (
	maxDecisionLag = 20_000
	maxLagWait     = 100 * time.Millisecond
)

// decisionLag is what ingest knows of the decider's progress.
type decisionLag struct {
	bound   uint64
	maxWait time.Duration
	decided atomic.Uint64 // highest seq the decider has taken, written or held

	mu       sync.Mutex
	progress chan struct{} // closed when decided moves
	waits    atomic.Uint64 // commits that waited
}

func newDecisionLag(bound uint64, maxWait time.Duration) *decisionLag {
	return &decisionLag{bound: bound, maxWait: maxWait, progress: make(chan struct{})}
}

// advanced records that the decider has taken the events through seq.
func (l *decisionLag) advanced(seq uint64) {
	for {
		cur := l.decided.Load()
		if seq <= cur {
			return
		}
		if l.decided.CompareAndSwap(cur, seq) {
			break
		}
	}
	l.mu.Lock()
	close(l.progress)
	l.progress = make(chan struct{})
	l.mu.Unlock()
}

// wait returns once the decider is within the bound of logged, after
// maxWait, or when ctx is done.
func (l *decisionLag) wait(ctx context.Context, logged uint64) {
	if logged <= l.decided.Load()+l.bound {
		return
	}
	l.waits.Add(1)
	timer := time.NewTimer(l.maxWait)
	defer timer.Stop()
	for logged > l.decided.Load()+l.bound {
		l.mu.Lock()
		ch := l.progress
		l.mu.Unlock()
		if logged <= l.decided.Load()+l.bound {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
