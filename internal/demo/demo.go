// Package demo tells the GEnx-1B direct-entry story against a running
// `bondgate dev`, over the public HTTP APIs only (`bondgate demo`).
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway/sim"
	"github.com/bondgate/bondgate/internal/zone"
)

// Options is what a demo runs against.
type Options struct {
	API, Gate                  string // base URLs
	MROToken, Officer, GateTok string
	Transit                    time.Duration // simulated tow, gate → workshop; 0: arrival is now
	Timeout                    time.Duration // for the crossing to come back
	Speed                      float64       // replay rate of the recording
	Client                     *http.Client
	Out                        io.Writer // where the story is told
	Recording                  string    // the sensor recording to replay; default genx-direct-entry
	// OtherMROToken is the firm the visit story (RunVisit) uses when
	// MROToken's firm has closed its books for today.
	OtherMROToken string
	// Hardware tells the recording through the gate's hardware adapters
	// (`bondgate dev --hardware`): ISAPI ANPR alerts from the dev cameras
	// and beam edges of a Modbus I/O module the demo serves on ModbusAddr
	// (default: the address in fixtures/hardware/dev-devices.json).
	Hardware   bool
	ModbusAddr string
}

// The identities the recording's cameras read; each run declares and reads
// its own in their place (see demo).
const (
	demoStandTag = "STAND-0042"
	demoPlate    = "琼A·D1234"
)

// Run tells the GEnx-1B direct-entry story over the public API: pre-declare,
// clear, the gate sees the stand and the beams, crossed, arrived; then
// prints the timeline and the transit time against the 40-minute mark.
//
// Every run stands on its own: it declares a conveyance identity of its own
// (the recording's stand tag and plate with the run ID appended) and replays
// the sensors with fresh event and track IDs, so neither a gate that has seen
// an earlier run's tracks nor a declaration an earlier run left cleared can
// take its crossing. A run that fails after declaring cancels its
// declaration and says what the gate decided.
func Run(ctx context.Context, o Options) (err error) {
	o.fill()
	out, step := o.Out, stepper(o.Out)
	c := Client{o: o}

	step("checking the zone API at %s and the gate at %s", o.API, o.Gate)
	if err := c.checkServices(ctx); err != nil {
		return err
	}

	now := time.Now().UTC()
	run := sim.NewRunID(now)
	tag, plate := demoStandTag+"-"+strings.ToUpper(run), demoPlate+"-"+strings.ToUpper(run)
	body := map[string]any{
		"object":    map[string]any{"kind": "engine", "esn": "956-482", "model": "GEnx-1B", "owner": "Qatar Airways"},
		"direction": "in", "gate": "G-MRO-1",
		"window":         map[string]any{"from": now.Add(-10 * time.Minute).Format(time.RFC3339), "to": now.Add(2 * time.Hour).Format(time.RFC3339)},
		"regime":         "bonded_maintenance",
		"declared_value": map[string]any{"amount": "182000000.00", "currency": "CNY"},
		"hs_code":        "84111200",
		"conveyance":     map[string]any{"stand_tag": tag, "vehicle_plate": plate},
	}
	var d zone.PreDeclaration
	hdr := map[string]string{"Idempotency-Key": fmt.Sprintf("demo-genx-%d", now.UnixNano())}
	if _, err := c.callH(ctx, http.MethodPost, o.API+"/v1/predeclarations", o.MROToken, hdr, body, &d); err != nil {
		return fmt.Errorf("pre-declare: %w", err)
	}
	step("HNA Technic pre-declares GEnx-1B ESN 956-482 for direct entry through G-MRO-1: %s (%s), stand %s, tow vehicle %s (this run's)", d.ID, d.Status, tag, plate)
	defer func() {
		if err != nil && d.Status != zone.StatusCrossed && d.Status != zone.StatusArrived {
			err = c.cancelLeftover(d.ID, err)
		}
	}()

	if _, err := c.Call(ctx, http.MethodPost, o.API+"/v1/predeclarations/"+d.ID+"/decision", o.Officer, map[string]any{"decision": "clear"}, &d); err != nil {
		return fmt.Errorf("clear: %w", err)
	}
	step("customs clears it on the 24-hour green channel (%s)", d.Status)

	// The clearance reaches the gate over Kafka.
	if err := c.waitHeld(ctx, d.ID); err != nil {
		return err
	}
	step("the gate holds the clearance in its own store")

	if o.Recording == "" {
		o.Recording = "genx-direct-entry"
	}
	file, cleanup, err := recordingFile(o.Recording)
	if err != nil {
		return err
	}
	defer cleanup()
	since, err := c.lastCrossingSeq(ctx)
	if err != nil {
		return fmt.Errorf("read the gate's crossings: %w", err)
	}
	reads := map[string]string{demoStandTag: tag, demoPlate: plate}
	var res sim.Result
	if o.Hardware {
		// The adapters name their own event IDs: this run's crossings are
		// every crossing after since (suffix "").
		stop, err := c.hardware(ctx, file, reads, step)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		res, err = sim.Replay(ctx, sim.Options{GateURL: o.Gate, Token: o.GateTok, File: file, Rebase: true, RunID: run,
			Reads: reads, Speed: o.Speed, HTTPClient: o.Client})
		if err != nil {
			return fmt.Errorf("replay the sensors: %w", err)
		}
		if res.Errors > 0 {
			return fmt.Errorf("replay the sensors: the gate refused %d of %d events: %s", res.Errors, res.Events, strings.Join(res.Problems, "; "))
		}
		step("cameras read stand %s and plate %s, beams A→B break: %d sensor events posted to the gate", tag, plate, res.Accepted)
	}

	// Wait for the zone to record the crossing; meanwhile watch what the
	// gate decided from this run's events, so a crossing the gate did not
	// authorize for this declaration fails at once, named.
	var mine []zone.Crossing
	err = poll(ctx, o.Timeout, func() (bool, error) {
		if _, err := c.Call(ctx, http.MethodGet, o.API+"/v1/predeclarations/"+d.ID, o.MROToken, nil, &d); err != nil {
			return false, err
		}
		switch d.Status {
		case zone.StatusCrossed:
			return true, nil
		case zone.StatusCleared:
		default:
			return false, fmt.Errorf("declaration %s is %s, not crossed", d.ID, d.Status)
		}
		xs, err := c.runCrossings(ctx, since, res.RunSuffix)
		if err != nil {
			return false, nil // the gate may be busy; the timeout still bounds the wait
		}
		mine = xs
		for _, x := range xs {
			if x.Decision != zone.DecisionAuthorized || x.ClearanceID != d.ID {
				return false, fmt.Errorf("the gate decided %s", describeCrossings(xs, d.ID))
			}
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			if len(mine) == 0 {
				err = fmt.Errorf("the gate decided no crossing from this run's %d events (seq %d..%d) within %s", res.Accepted, res.FirstSeq, res.LastSeq, o.Timeout)
			} else {
				err = fmt.Errorf("the gate decided %s, but the zone did not record it within %s: is the link up (GET %s/v1/status)?", describeCrossings(mine, d.ID), o.Timeout, o.Gate)
			}
		}
		return fmt.Errorf("waiting for %s to be crossed: %w", d.ID, err)
	}
	step("the gate decided the crossing locally and it flowed back: %s crossed at %s (crossing %s)", d.ID, d.CrossedAt.Format(time.RFC3339), d.CrossingID)

	// The API refuses an arrival later than now (2 minutes allowed for
	// skew) or before the crossing, and the replay stamps the crossing up to
	// the recording's length ahead of now: arrive at the later of the two.
	now = time.Now().UTC()
	at := d.CrossedAt.Add(o.Transit)
	note := fmt.Sprintf("crossing + %s, the simulated tow", o.Transit)
	if at.After(now) {
		at = now
		if d.CrossedAt.After(now) {
			at = *d.CrossedAt
		}
		note = "now"
		if o.Transit > 0 {
			note = fmt.Sprintf("now: crossing + %s, the simulated tow, would be in the future", o.Transit)
		}
	}
	arrival := map[string]any{"at": at.Format(time.RFC3339Nano)}
	if _, err := c.Call(ctx, http.MethodPost, o.API+"/v1/predeclarations/"+d.ID+"/arrival", o.MROToken, arrival, &d); err != nil {
		return fmt.Errorf("arrival: %w", err)
	}
	step("the engine reaches the workshop (%s)", note)

	printTimeline(out, &d)
	return nil
}

// cancelLeftover cancels a declaration a failed run leaves cleared, so no
// later crossing takes its clearance, and adds what happened to err.
func (c Client) cancelLeftover(id string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d zone.PreDeclaration
	if _, cerr := c.Call(ctx, http.MethodPost, c.o.API+"/v1/predeclarations/"+id+"/cancel", c.o.MROToken,
		map[string]any{"reason": "demo run failed"}, &d); cerr != nil {
		return fmt.Errorf("%w (and cancelling %s failed: %v)", err, id, cerr)
	}
	return fmt.Errorf("%w (%s is %s, so it is not left behind)", err, id, d.Status)
}

// lastCrossingSeq is the seq of the newest crossing the gate holds.
func (c Client) lastCrossingSeq(ctx context.Context) (uint64, error) {
	var last uint64
	for {
		var page struct {
			Items []zone.Crossing `json:"items"`
		}
		if _, err := c.Call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/crossings?since_seq=%d", c.o.Gate, last), c.o.Officer, nil, &page); err != nil {
			return 0, err
		}
		if len(page.Items) == 0 {
			return last, nil
		}
		last = page.Items[len(page.Items)-1].Seq
	}
}

// runCrossings returns the crossings after since that the gate decided from
// this run's events (their event IDs carry the run's suffix).
func (c Client) runCrossings(ctx context.Context, since uint64, suffix string) ([]zone.Crossing, error) {
	var out []zone.Crossing
	for {
		var page struct {
			Items []zone.Crossing `json:"items"`
		}
		if _, err := c.Call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/crossings?since_seq=%d", c.o.Gate, since), c.o.Officer, nil, &page); err != nil {
			return nil, err
		}
		if len(page.Items) == 0 {
			return out, nil
		}
		for _, x := range page.Items {
			for _, id := range x.EventIDs {
				if strings.HasSuffix(id, suffix) {
					out = append(out, x)
					break
				}
			}
		}
		since = page.Items[len(page.Items)-1].Seq
	}
}

// describeCrossings says in words what the gate decided, for an error.
func describeCrossings(xs []zone.Crossing, declID string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		what := string(x.Decision)
		switch {
		case x.Decision == zone.DecisionAuthorized && x.ClearanceID != declID:
			what = "authorized on the clearance of another declaration, " + x.ClearanceID + ", not " + declID
		case x.Decision == zone.DecisionAuthorized:
			what = "authorized on " + declID + "'s clearance"
		case x.Decision == zone.DecisionUnauthorized && x.Identity != nil:
			what = fmt.Sprintf("unauthorized: %s %s read, but no usable clearance for it", x.Identity.Kind, x.Identity.Value)
		case x.Decision == zone.DecisionUnidentified:
			what = "unidentified: no confident camera read"
		case x.Decision == zone.DecisionPerson:
			what = "a person on the line"
		}
		parts[i] = fmt.Sprintf("crossing %s (segment %d, %s, at %s) %s", x.ID, x.Segment, x.Direction, x.Time.UTC().Format(time.RFC3339), what)
	}
	return strings.Join(parts, "; ")
}

// printTimeline prints the declaration's facts (submitted, decided, crossed
// at the gate, arrived at the workshop) and its transit time against the
// source's 40-minute mark.
func printTimeline(w io.Writer, d *zone.PreDeclaration) {
	fmt.Fprintf(w, "\nTimeline of %s (GEnx-1B ESN %s, direct zone entry through %s)\n", d.ID, d.Object.ESN, d.Gate)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(what string, at *time.Time, note string) {
		if at == nil {
			return
		}
		fmt.Fprintf(tw, "  %s\t+%s\t%s\t%s\n", at.UTC().Format(time.RFC3339), at.Sub(d.CreatedAt).Round(time.Second), what, note)
	}
	created := d.CreatedAt
	row("pre-declared", &created, "by the MRO firm")
	row("cleared", d.DecidedAt, "customs, 24-hour green channel")
	row("crossed", d.CrossedAt, "dedicated gate "+d.Gate+", crossing "+d.CrossingID)
	row("arrived", d.ArrivedAt, "workshop")
	tw.Flush()
	if d.DecidedAt != nil {
		fmt.Fprintf(w, "\nGreen channel: decided %s after submission.\n", d.DecidedAt.Sub(d.CreatedAt).Round(time.Second))
	}
	if d.TransitMinutes != nil {
		m := *d.TransitMinutes
		verdict := "within"
		if m > zone.TransitTargetMinutes {
			verdict = fmt.Sprintf("%.1f min over", m-zone.TransitTargetMinutes)
		}
		fmt.Fprintf(w, "Transit gate → workshop: %.1f min (%s the %d-minute mark of the first GEnx-1B).\n", m, verdict, zone.TransitTargetMinutes)
	}
	fmt.Fprintf(w, "Avoided: a rented special vehicle (about ¥%d,%03d) and %d–%d days to arrange it.\n",
		zone.VehicleCostPerMoveCNY/1000, zone.VehicleCostPerMoveCNY%1000, zone.VehicleDaysMin, zone.VehicleDaysMax)
}

// recordingFile writes an embedded recording to a temporary file for sim.
func recordingFile(name string) (string, func(), error) {
	raw, err := fixtures.Stream(name)
	if err != nil {
		return "", nil, fmt.Errorf("recording %s: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "bondgate-demo-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, name+".jsonl")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// poll calls cond every 250 ms until it is true, fails, or d passes.
func poll(ctx context.Context, d time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Client speaks JSON to the API and the gate.
type Client struct{ o Options }

// fill sets the defaults of the options a story leaves empty.
func (o *Options) fill() {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
}

// stepper prints one line of a story, stamped with the time.
func stepper(out io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(out, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// NewClient is a client using hc.
func NewClient(hc *http.Client) Client { return Client{o: Options{Client: hc}} }

// Call sends in as JSON (when not nil) with token and decodes the answer
// into out; it returns the status code.
func (c Client) Call(ctx context.Context, method, url, token string, in, out any) (int, error) {
	return c.callH(ctx, method, url, token, nil, in, out)
}

func (c Client) callH(ctx context.Context, method, url, token string, hdr map[string]string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(raw, &p)
		msg := strings.TrimSpace(p.Title + ": " + p.Detail)
		if p.Title == "" {
			msg = strings.TrimSpace(string(raw))
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, msg)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, errors.Join(fmt.Errorf("%s %s: unexpected answer", method, url), err)
		}
	}
	return resp.StatusCode, nil
}

// checkServices checks that the API and the gate G-MRO-1 answer.
func (c Client) checkServices(ctx context.Context) error {
	o := c.o
	if _, err := c.Call(ctx, http.MethodGet, o.API+"/healthz", "", nil, nil); err != nil {
		return fmt.Errorf("the zone API at %s does not answer (%v): is `bondgate dev` running? Start it with `make run`", o.API, err)
	}
	var st struct {
		Gate string `json:"gate"`
	}
	if _, err := c.Call(ctx, http.MethodGet, o.Gate+"/v1/status", o.Officer, nil, &st); err != nil {
		return fmt.Errorf("the gate at %s does not answer (%v): is `bondgate dev` running? Start it with `make run`", o.Gate, err)
	}
	if st.Gate != "G-MRO-1" {
		return fmt.Errorf("%s is gate %q; the story needs the dedicated gate G-MRO-1", o.Gate, st.Gate)
	}
	return nil
}

// waitHeld waits until the gate holds the clearance id (a declaration's
// clearance has its ID). Asking for this one clearance, not watching the
// gate's count of usable clearances rise: the gate applies clearance
// events in batches, and another one leaving in the same batch as this
// one arriving left the count unchanged, and a run waiting forever.
func (c Client) waitHeld(ctx context.Context, id string) error {
	err := poll(ctx, c.o.Timeout, func() (bool, error) {
		_, err := c.Call(ctx, http.MethodGet, c.o.Gate+"/v1/clearances/"+url.PathEscape(id), c.o.Officer, nil, nil)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the clearance of %s did not reach the gate within %s: %w", id, c.o.Timeout, err)
	}
	return nil
}
