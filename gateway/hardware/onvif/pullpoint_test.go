package onvif

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
)

// fakeDevice is an ONVIF event service over real HTTP: it hands out a
// subscription, answers pulls from a queue of messages and counts renewals.
type fakeDevice struct {
	mu      sync.Mutex
	queue   [][]byte // NotificationMessage elements, one pull each
	renews  atomic.Int32
	creates atomic.Int32
}

var notificationRE = regexp.MustCompile(`(?s)<wsnt:NotificationMessage>.*</wsnt:NotificationMessage>`)

func (d *fakeDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/soap+xml")
	env := func(inner string) {
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" `+
			`xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsa="http://www.w3.org/2005/08/addressing" `+
			`xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics"><env:Body>`+inner+`</env:Body></env:Envelope>`)
	}
	switch s := string(body); {
	case strings.Contains(s, "CreatePullPointSubscription"):
		d.creates.Add(1)
		env(`<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>http://` + r.Host + `/sub/1</wsa:Address></tev:SubscriptionReference></tev:CreatePullPointSubscriptionResponse>`)
	case strings.Contains(s, "Renew"):
		d.renews.Add(1)
		env(`<wsnt:RenewResponse/>`)
	case strings.Contains(s, "PullMessages"):
		d.mu.Lock()
		var next []byte
		if len(d.queue) > 0 {
			next, d.queue = d.queue[0], d.queue[1:]
		}
		d.mu.Unlock()
		if next == nil {
			time.Sleep(50 * time.Millisecond) // the long poll, shortened
		}
		env(`<tev:PullMessagesResponse><tev:CurrentTime>2026-11-26T10:15:03Z</tev:CurrentTime>` + string(next) + `</tev:PullMessagesResponse>`)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

// The PullPoint client subscribes, pulls the replayed state (Initialized:
// no detection) and then a line crossing (a detection), and renews the
// subscription before its lease ends.
func TestPullPointSubscribesPullsAndRenews(t *testing.T) {
	dev := &fakeDevice{queue: [][]byte{
		notificationRE.Find(fixture(t, "notify-initialized.xml")),
		notificationRE.Find(fixture(t, "notify-line-crossed.xml")),
	}}
	srv := httptest.NewServer(dev)
	defer srv.Close()
	var mu sync.Mutex
	var got []decide.SensorEvent
	p := &PullPoint{URL: srv.URL + "/onvif/event_service", Camera: cam, Lease: 400 * time.Millisecond, Wait: time.Second,
		Submit: func(_ context.Context, evs []decide.SensorEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, evs...)
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return dev.renews.Load() > 0 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, decide.EventHeartbeat, got[0].Type)
	assert.Equal(t, decide.StateInitialized, got[0].State)
	assert.Equal(t, decide.EventDetection, got[1].Type)
	assert.Equal(t, int32(1), dev.creates.Load(), "one subscription, renewed")
}
