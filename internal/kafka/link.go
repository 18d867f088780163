package kafka

import (
	"errors"
	"log/slog"
	"sync"
	"time"
)

// link tracks whether the last contact with Kafka worked, for /readyz,
// the gate's status and the link_up gauge.
type link struct {
	name    string
	log     *slog.Logger
	metrics *Metrics

	mu    sync.Mutex
	up    bool
	err   error
	since time.Time
	// refused is the cause of the AuthError last logged, so a refusal is
	// logged once (and again only when its cause changes), not per retry
	// (the probe and the client's own calls word the same refusal apart).
	refused string
}

func newLink(name string, log *slog.Logger, m *Metrics) *link {
	l := &link{name: name, log: log, metrics: m, since: time.Now()}
	m.link(name, false)
	return l
}

// set records the outcome of a contact. Transitions are logged once, not
// every failed retry, so a long outage does not flood the log.
func (l *link) set(up bool, err error) {
	l.mu.Lock()
	changed := up != l.up
	if changed {
		l.up = up
		l.since = time.Now()
	}
	if err != nil {
		l.err = err
	}
	var refusal error
	var ae *AuthError
	switch {
	case up:
		l.refused = ""
	case errors.As(err, &ae) && ae.Cause != l.refused:
		l.refused, refusal = ae.Cause, err
	}
	l.mu.Unlock()
	l.metrics.link(l.name, up)
	if refusal != nil {
		// Not a network blip: nothing works until an operator fixes the
		// certificate, password or ACL the error names.
		l.log.Error("kafka refuses this client", "err", refusal)
		return
	}
	if !changed {
		return
	}
	// l.log already carries the name (publisher's and consumer's loggers).
	if up {
		l.log.Info("kafka link up")
	} else {
		l.log.Warn("kafka link down", "err", err)
	}
}

// Problem is what /readyz should say of a link that is down for a reason
// no retry cures (an AuthError's text, "auth failed: …"), or "".
func Problem(up bool, lastErr error) string {
	if up || !IsAuth(lastErr) {
		return ""
	}
	return lastErr.Error()
}

func (l *link) get() (up bool, lastErr error, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up, l.err, l.since
}
