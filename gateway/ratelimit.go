package gateway

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/labstack/echo/v4"
)

// Default per-device ingest limits: far above any healthy sensor (a camera
// at 25 detections a second, heartbeats), low enough that a sensor stuck in
// a loop cannot take the committer from the others.
const (
	DefaultDeviceRate  = 200.0
	DefaultDeviceBurst = 2000
	// maxIdleBuckets is how many device buckets are kept before full
	// (idle) ones are forgotten; a forgotten device starts full again.
	maxIdleBuckets = 4096
)

// deviceLimiter is a token bucket per device_id. A batch is admitted whole
// or refused whole: every device in it must have the tokens for its events.
type deviceLimiter struct {
	rate  float64 // tokens per second; <0 off
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newDeviceLimiter makes a limiter; rate 0 and burst 0 take the defaults,
// a negative rate turns it off. now defaults to time.Now (monotonic, so a
// wall-clock step neither refills nor drains a bucket).
func newDeviceLimiter(rate float64, burst int, now func() time.Time) *deviceLimiter {
	if rate == 0 {
		rate = DefaultDeviceRate
	}
	if burst <= 0 {
		burst = DefaultDeviceBurst
	}
	if now == nil {
		now = time.Now
	}
	return &deviceLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take admits counts (events per device) at once, or returns how long the
// caller should wait before the most starved device has the tokens. A
// device whose bucket is full may send a batch larger than the burst; the
// bucket then goes into debt, which keeps the long-run rate.
func (l *deviceLimiter) take(counts map[string]int) (wait time.Duration, ok bool) {
	if l == nil || l.rate < 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for dev, n := range counts {
		b := l.refill(dev, now)
		need := math.Min(float64(n), l.burst)
		if b.tokens < need {
			w := time.Duration((need - b.tokens) / l.rate * float64(time.Second))
			wait = max(wait, w)
		}
	}
	if wait > 0 {
		return wait, false
	}
	for dev, n := range counts {
		l.buckets[dev].tokens -= float64(n)
	}
	if len(l.buckets) > maxIdleBuckets {
		for dev, b := range l.buckets {
			if _, busy := counts[dev]; !busy && b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
				delete(l.buckets, dev)
			}
		}
	}
	return 0, true
}

// refill returns dev's bucket brought up to now; the caller holds mu.
func (l *deviceLimiter) refill(dev string, now time.Time) *bucket {
	b, ok := l.buckets[dev]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[dev] = b
		return b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	return b
}

// admit checks a parsed batch against the limits. Refused, it sets
// Retry-After (whole seconds, at least 1) and returns a 429 the error
// handler renders as problem+json; nothing of the batch is stored.
func (l *deviceLimiter) admit(c echo.Context, events []decide.SensorEvent) error {
	if l == nil || l.rate < 0 {
		return nil
	}
	counts := make(map[string]int, 2)
	for i := range events {
		counts[events[i].DeviceID]++
	}
	wait, ok := l.take(counts)
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(secs))
	return echo.NewHTTPError(http.StatusTooManyRequests,
		"a device in this batch is over its event rate; the batch was not stored, retry after "+strconv.Itoa(secs)+"s")
}
