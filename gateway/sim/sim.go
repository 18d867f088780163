// Package sim replays a recorded sensor stream (one JSON event per line, as
// in fixtures/streams) against a running gate's POST /v1/events, for demos
// and load. It is what `bondgate sim` runs; hardware.go plays recordings
// and fixtures through the hardware protocols instead (ISAPI, ONVIF, a
// Modbus TCP I/O module).
package sim

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options says what to replay and where.
type Options struct {
	GateURL string // e.g. http://127.0.0.1:8081
	Token   string // a gate token for the gate the recording names
	File    string // the recording (.jsonl)
	// Rebase shifts every time so the first event is now, keeping the
	// spacing, and gives event IDs and camera track IDs a run-unique suffix:
	// a second replay is not answered as duplicates, and its tracks are new
	// objects to the gate (a track the gate saw identify a crossing never
	// identifies another). The CLI turns it on by default; without it the
	// recording is posted byte for byte.
	Rebase bool
	// RunID, if set, is the run's suffix (without the leading dash) instead
	// of one made from the clock and a random number; with Rebase only.
	RunID string
	// Reads maps identity values the recording's cameras read to the values
	// to post instead (a demo gives each run its own conveyance identity);
	// with Rebase only.
	Reads map[string]string
	// Speed is the replay rate: 0 posts as fast as the gate takes it, 1 keeps
	// the recording's own pace, 10 runs ten times faster.
	Speed float64
	// BatchSize is the most events per POST (default 100, at most 1,000).
	BatchSize int
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// Progress, if set, gets one line per batch.
	Progress io.Writer
	// MaxAttempts bounds tries per batch on 503 or a broken connection
	// (default 8); past it the replay stops rather than skip events, since
	// the order of events is part of what they mean.
	MaxAttempts int
}

// Result counts what the gate answered.
type Result struct {
	Events     int           `json:"events"`     // events read from the file
	Accepted   int           `json:"accepted"`   // newly stored by the gate
	Duplicates int           `json:"duplicates"` // answered as already stored
	Errors     int           `json:"errors"`     // events in batches the gate refused
	Batches    int           `json:"batches"`
	Retries    int           `json:"retries"`
	FirstSeq   uint64        `json:"first_seq,omitempty"`
	LastSeq    uint64        `json:"last_seq,omitempty"`
	RunSuffix  string        `json:"run_suffix,omitempty"` // appended to event IDs when rebased
	Problems   []string      `json:"problems,omitempty"`   // why batches were refused
	Elapsed    time.Duration `json:"elapsed"`
}

// event is one recorded line: its fields as raw JSON so that everything the
// recording says passes through untouched but for time and ID.
type event struct {
	line   int
	fields map[string]json.RawMessage
	at     time.Time
}

type accepted struct {
	Accepted []struct {
		EventID   string `json:"event_id"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	} `json:"accepted"`
}

// Replay posts the recording in opts.File to opts.GateURL and reports what
// the gate answered. A refused batch (400) is counted and the replay goes
// on; a refused token (401/403) or a gate that stays unavailable stops it.
func Replay(ctx context.Context, opts Options) (Result, error) {
	start := time.Now()
	var res Result
	if opts.GateURL == "" {
		return res, errors.New("sim: no gate URL (e.g. http://127.0.0.1:8081)")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	opts.BatchSize = min(opts.BatchSize, 1000)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Speed < 0 {
		return res, errors.New("sim: speed must be 0 (as fast as possible) or more")
	}
	evs, err := readRecording(opts.File)
	if err != nil {
		return res, err
	}
	res.Events = len(evs)
	if len(evs) == 0 {
		return res, fmt.Errorf("sim: %s holds no events", opts.File)
	}

	first := evs[0].at
	for _, e := range evs[1:] {
		if e.at.Before(first) {
			first = e.at
		}
	}
	shift := time.Duration(0)
	if opts.Rebase {
		shift = start.Sub(first)
		res.RunSuffix = "-" + opts.RunID
		if opts.RunID == "" {
			res.RunSuffix = "-" + NewRunID(start)
		}
		for _, e := range evs {
			if err := rebase(e, shift, res.RunSuffix, opts.Reads); err != nil {
				return res, err
			}
		}
	}

	url := strings.TrimRight(opts.GateURL, "/") + "/v1/events"
	var batch []*event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := postBatch(ctx, opts, url, batch, &res)
		batch = batch[:0]
		return err
	}
	for _, e := range evs {
		if opts.Speed > 0 {
			// Due on the recording's own clock, scaled: send what is due
			// before waiting for the next event.
			due := start.Add(time.Duration(float64(e.at.Sub(first)) / opts.Speed))
			if wait := time.Until(due); wait > 0 {
				if err := flush(); err != nil {
					return finish(res, start), err
				}
				if err := sleep(ctx, wait); err != nil {
					return finish(res, start), err
				}
			}
		}
		batch = append(batch, e)
		if len(batch) >= opts.BatchSize {
			if err := flush(); err != nil {
				return finish(res, start), err
			}
		}
	}
	err = flush()
	return finish(res, start), err
}

func finish(res Result, start time.Time) Result {
	res.Elapsed = time.Since(start)
	return res
}

// readRecording reads one JSON object per line; blank lines and lines
// starting with # are skipped.
func readRecording(path string) ([]*event, error) {
	if path == "" {
		return nil, errors.New("sim: no recording file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	var evs []*event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		e := &event{line: n}
		if err := json.Unmarshal(line, &e.fields); err != nil {
			return nil, fmt.Errorf("sim: %s:%d: not a JSON object: %v", path, n, err)
		}
		var ts string
		if err := json.Unmarshal(e.fields["time"], &ts); err != nil {
			return nil, fmt.Errorf("sim: %s:%d: event has no \"time\" string", path, n)
		}
		if e.at, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return nil, fmt.Errorf("sim: %s:%d: time %q is not RFC 3339", path, n, ts)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sim: reading %s: %w", path, err)
	}
	return evs, nil
}

// NewRunID names one replay: the time in base 36 and a random part, so two
// runs in the same millisecond differ too.
func NewRunID(at time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return "r" + strconv.FormatInt(at.UnixMilli(), 36) + hex.EncodeToString(b[:])
}

// rebase moves an event's time by shift, suffixes its event and track IDs
// and replaces the identity reads named in reads.
func rebase(e *event, shift time.Duration, suffix string, reads map[string]string) error {
	e.at = e.at.Add(shift).UTC()
	raw, _ := json.Marshal(e.at.Format(time.RFC3339Nano))
	e.fields["time"] = raw
	var id string
	if err := json.Unmarshal(e.fields["event_id"], &id); err != nil || id == "" {
		return fmt.Errorf("sim: line %d: event has no \"event_id\" string", e.line)
	}
	raw, _ = json.Marshal(id + suffix)
	e.fields["event_id"] = raw
	if tr, ok := e.fields["track_id"]; ok {
		var track string
		if err := json.Unmarshal(tr, &track); err != nil {
			return fmt.Errorf("sim: line %d: \"track_id\" is not a string", e.line)
		}
		raw, _ = json.Marshal(track + suffix)
		e.fields["track_id"] = raw
	}
	if rr, ok := e.fields["reads"]; ok && len(reads) > 0 {
		var rs []map[string]json.RawMessage
		if err := json.Unmarshal(rr, &rs); err != nil {
			return fmt.Errorf("sim: line %d: \"reads\" is not an array of objects", e.line)
		}
		for _, r := range rs {
			var v string
			if json.Unmarshal(r["value"], &v) != nil {
				continue
			}
			if to, ok := reads[v]; ok {
				r["value"], _ = json.Marshal(to)
			}
		}
		raw, _ = json.Marshal(rs)
		e.fields["reads"] = raw
	}
	return nil
}

// postBatch sends one batch, retrying on 503, 429, 502, 504 and broken
// connections with capped exponential backoff.
func postBatch(ctx context.Context, opts Options, url string, batch []*event, res *Result) error {
	objs := make([]map[string]json.RawMessage, len(batch))
	for i, e := range batch {
		objs[i] = e.fields
	}
	body, err := json.Marshal(objs)
	if err != nil {
		return fmt.Errorf("sim: encoding batch: %w", err)
	}
	lines := fmt.Sprintf("lines %d-%d", batch[0].line, batch[len(batch)-1].line)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, answer, err := post(ctx, opts, url, body)
		retriable := err != nil || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests ||
			status == http.StatusBadGateway || status == http.StatusGatewayTimeout
		if !retriable {
			res.Batches++
			return judge(opts, status, answer, batch, lines, res)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		why := fmt.Sprintf("HTTP %d %s", status, problemDetail(answer))
		if err != nil {
			why = err.Error()
		}
		if attempt >= opts.MaxAttempts {
			return fmt.Errorf("sim: gate at %s still unavailable after %d attempts (%s): %s; %d of %d events sent",
				opts.GateURL, attempt, lines, why, res.Accepted+res.Duplicates, res.Events)
		}
		res.Retries++
		progress(opts, "%s: gate unavailable (%s); retrying in %s", lines, why, backoff)
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func post(ctx context.Context, opts Options, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("sim: bad gate URL %q: %w", opts.GateURL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+opts.Token)
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, answer, nil
}

// judge reads the gate's final answer to one batch.
func judge(opts Options, status int, answer []byte, batch []*event, lines string, res *Result) error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound {
		res.Errors += len(batch) // refused too, though the replay stops below
	}
	switch {
	case status == http.StatusAccepted || status == http.StatusOK:
		var a accepted
		if err := json.Unmarshal(answer, &a); err != nil || len(a.Accepted) != len(batch) {
			return fmt.Errorf("sim: %s: gate answered %d with an unexpected body: %.200s", lines, status, answer)
		}
		acc, dup := 0, 0
		for _, x := range a.Accepted {
			if x.Duplicate {
				dup++
			} else {
				acc++
			}
			if res.FirstSeq == 0 || x.Seq < res.FirstSeq {
				res.FirstSeq = x.Seq
			}
			res.LastSeq = max(res.LastSeq, x.Seq)
		}
		res.Accepted += acc
		res.Duplicates += dup
		progress(opts, "%s: %d accepted, %d duplicates (seq %d-%d)", lines, acc, dup, a.Accepted[0].Seq, a.Accepted[len(a.Accepted)-1].Seq)
		return nil
	case status == http.StatusUnauthorized:
		return fmt.Errorf("sim: gate at %s refused the token (401): %s", opts.GateURL, problemDetail(answer))
	case status == http.StatusForbidden:
		return fmt.Errorf("sim: the token may not post for this gate (403): %s; is it the token of the gate the recording names?", problemDetail(answer))
	case status == http.StatusNotFound:
		return fmt.Errorf("sim: %s has no /v1/events (404): is it a gate service rather than the zone API?", opts.GateURL)
	default:
		res.Errors += len(batch)
		p := fmt.Sprintf("%s refused (%d): %s", lines, status, problemDetail(answer))
		res.Problems = append(res.Problems, p)
		progress(opts, "%s", p)
		return nil
	}
}

// problemDetail summarizes an RFC 9457 problem, with its field list.
func problemDetail(answer []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(answer, &p) != nil {
		return strings.TrimSpace(fmt.Sprintf("%.200s", answer))
	}
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	for _, f := range p.Errors {
		msg += fmt.Sprintf("; %s %s", f.Field, f.Message)
	}
	return msg
}

func progress(opts Options, format string, args ...any) {
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, format+"\n", args...)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
