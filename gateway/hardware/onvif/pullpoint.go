package onvif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
)

// PullPoint is the gate's ONVIF PullPoint client for one camera: it
// creates a subscription on the device's event service, pulls messages in
// a loop, renews the subscription before it ends and subscribes again
// after any failure (the device then replays its state as Initialized,
// which maps to no new crossing evidence). Credentials, if the device
// wants HTTP Basic, go in the URL's user info.
type PullPoint struct {
	URL    string // the device's event service
	Camera hardware.Camera
	// Submit stores events durably; messages pulled are gone from the
	// device, so a refused batch is retried before the next pull.
	Submit func(context.Context, []decide.SensorEvent) error
	Client *http.Client
	Log    *slog.Logger
	// Lease is the subscription's requested lifetime (default 60s); it is
	// renewed at half of it. Wait is the pull's long-poll timeout (5s).
	Lease, Wait time.Duration
}

const soapHead = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
	`xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tev="http://www.onvif.org/ver10/events/wsdl"><s:Body>`
const soapTail = `</s:Body></s:Envelope>`

// Run pulls until ctx is done.
func (p *PullPoint) Run(ctx context.Context) error {
	if p.Client == nil {
		p.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if p.Log == nil {
		p.Log = slog.Default()
	}
	if p.Lease <= 0 {
		p.Lease = 60 * time.Second
	}
	if p.Wait <= 0 {
		p.Wait = 5 * time.Second
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.session(ctx)
		if ctx.Err() != nil {
			break
		}
		p.Log.Warn("ONVIF pull subscription lost; subscribing again", "device", p.Camera.Device, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	return nil
}

// session runs one subscription until it fails.
func (p *PullPoint) session(ctx context.Context) error {
	var created struct {
		Body struct {
			Address string `xml:"CreatePullPointSubscriptionResponse>SubscriptionReference>Address"`
		} `xml:"Body"`
	}
	if err := p.call(ctx, p.URL, `<tev:CreatePullPointSubscription><tev:InitialTerminationTime>`+duration(p.Lease)+
		`</tev:InitialTerminationTime></tev:CreatePullPointSubscription>`, &created); err != nil {
		return fmt.Errorf("create subscription: %w", err)
	}
	sub := strings.TrimSpace(created.Body.Address)
	if sub == "" {
		return errors.New("create subscription: no subscription address in the answer")
	}
	renewed := time.Now()
	for ctx.Err() == nil {
		if time.Since(renewed) >= p.Lease/2 {
			if err := p.call(ctx, sub, `<wsnt:Renew><wsnt:TerminationTime>`+duration(p.Lease)+`</wsnt:TerminationTime></wsnt:Renew>`, nil); err != nil {
				return fmt.Errorf("renew: %w", err)
			}
			renewed = time.Now()
		}
		raw, err := p.post(ctx, sub, `<tev:PullMessages><tev:Timeout>`+duration(p.Wait)+`</tev:Timeout><tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>`)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		msgs, err := ParseNotify(raw)
		if err != nil {
			return fmt.Errorf("pull answer: %w", err)
		}
		if evs := Events(p.Camera, msgs); len(evs) > 0 {
			if err := p.store(ctx, evs); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *PullPoint) store(ctx context.Context, evs []decide.SensorEvent) error {
	backoff := 10 * time.Millisecond
	for {
		err := p.Submit(ctx, evs)
		if err == nil {
			return nil
		}
		p.Log.Warn("pulled events not stored yet; retrying", "device", p.Camera.Device, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (p *PullPoint) call(ctx context.Context, url, body string, into any) error {
	raw, err := p.post(ctx, url, body)
	if err != nil || into == nil {
		return err
	}
	return hardware.Decode(raw, MaxBody, into)
}

func (p *PullPoint) post(ctx context.Context, url, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(soapHead+body+soapTail)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	res, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("device answered %s", res.Status)
	}
	return raw, nil
}

// duration writes an xs:duration in whole seconds.
func duration(d time.Duration) string { return fmt.Sprintf("PT%dS", max(1, int(d/time.Second))) }
