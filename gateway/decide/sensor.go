package decide

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bondgate/bondgate/internal/web/strictjson"
	"github.com/bondgate/bondgate/internal/zone"
)

// Sensor event types, as in the README's "Gate hardware integration" and the
// gate's openapi.json.
const (
	EventDetection     = "camera.detection"
	EventBreak         = "infrared.break"
	EventHeartbeat     = "heartbeat"
	EventInfraredFault = "infrared.fault"
	EventCameraFault   = "camera.fault"
)

// Object classes a camera reports.
const (
	ClassEngine   = "engine"
	ClassAircraft = "aircraft"
	ClassVehicle  = "vehicle"
	ClassPerson   = "person"
	ClassUnknown  = "unknown"
)

// Event states. Cameras replay their current state as "initialized" after a
// reconnect (ONVIF PropertyOperation); such events report nothing new. A
// fault event with state "cleared" says the device has recovered from it.
const (
	StateInitialized = "initialized"
	StateChanged     = "changed"
	StateDeleted     = "deleted"
	StateCleared     = "cleared"
)

// TamperCode is the Contact ID event code for a tamper; a fault event
// carrying it raises a tamper alarm rather than a plain fault.
const TamperCode = "137"

// MaxBatch is the most events one POST /v1/events may carry.
const MaxBatch = 1000

// Read is one identity a camera read on a tracked object.
type Read struct {
	Kind       string  `json:"kind"`
	Value      string  `json:"value"`
	Confidence float64 `json:"confidence"`
}

// Identity returns the read as a domain identity.
func (r Read) Identity() zone.Identity { return zone.Identity{Kind: r.Kind, Value: r.Value} }

// SensorEvent is one event from gate hardware, as posted to POST /v1/events
// (wire format in gateway/openapi.json, served at GET /openapi.json).
type SensorEvent struct {
	EventID     string         `json:"event_id"`
	DeviceID    string         `json:"device_id"`
	Gate        string         `json:"gate"`
	Time        time.Time      `json:"time"`
	Type        string         `json:"type"`
	ObjectClass string         `json:"object_class,omitempty"`
	TrackID     string         `json:"track_id,omitempty"`
	Direction   zone.Direction `json:"direction,omitempty"`
	Reads       []Read         `json:"reads,omitempty"`
	Snapshot    string         `json:"snapshot,omitempty"`
	Beam        string         `json:"beam,omitempty"`
	Segment     int            `json:"segment,omitempty"`
	// State is "initialized" for state a camera replays after a reconnect.
	State string `json:"state,omitempty"`
	// Code is a fault or tamper code, e.g. Contact ID 137 (tamper).
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Source is where a hardware adapter heard the event (ISAPI, ONVIF,
	// Modbus); absent on events posted as JSON.
	Source *Source `json:"source,omitempty"`
	// Raw holds the event's bytes exactly as posted, so the gate keeps what
	// the hardware said rather than our re-encoding of it.
	Raw json.RawMessage `json:"-"`
}

// Source is the origin of an event a hardware adapter turned into a sensor
// event: the protocol (isapi, onvif, modbus) and the device list entry.
type Source struct {
	Kind   string `json:"kind"`
	Device string `json:"device"`
}

// wireEvent mirrors SensorEvent with loosely typed time and reads, so that a
// bad value is reported against its own field path rather than as one opaque
// decode error.
type wireEvent struct {
	EventID     string            `json:"event_id"`
	DeviceID    string            `json:"device_id"`
	Gate        string            `json:"gate"`
	Time        *string           `json:"time"`
	Type        string            `json:"type"`
	ObjectClass string            `json:"object_class"`
	TrackID     string            `json:"track_id"`
	Direction   string            `json:"direction"`
	Reads       []json.RawMessage `json:"reads"`
	Snapshot    string            `json:"snapshot"`
	Beam        string            `json:"beam"`
	Segment     *int              `json:"segment"`
	State       string            `json:"state"`
	Code        string            `json:"code"`
	Message     string            `json:"message"`
	Source      *Source           `json:"source"`
}

// Field length limits: generous for real hardware, small enough that one
// event cannot bloat the log.
const (
	MaxIDLen      = 128
	maxTextLen    = 512
	maxReadsPerEv = 32
)

// ParseEvents reads one event object or an array of at most 1,000. JSON is
// strict (unknown fields and trailing data are errors) and the batch is
// validated whole: the error is a *zone.Error EINVALID whose Fields name the
// index and field, e.g. {"field":"[3].beam","message":"must be A or B"}
// ("[0]" also for a single object). Raw holds each event's original bytes,
// a slice of body: the caller must not reuse body while it keeps them.
//
// A body the one-pass reader takes whole (parse.go) is done there; any
// other goes through the strict decoder, which accepts the same documents
// and words what is wrong.
func ParseEvents(body []byte) ([]SensorEvent, error) {
	if events, ok := parseEventsFast(body); ok {
		return events, nil
	}
	return parseEventsStrict(body)
}

// parseEventsStrict is ParseEvents through encoding/json and the strict
// decoder: each event decoded on its own, every problem named.
func parseEventsStrict(body []byte) ([]SensorEvent, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, zone.Invalid(zone.FieldError{Field: "body", Message: "must be an event object or an array of events"})
	}
	var raws []json.RawMessage
	// A well-formed body is split with one plain pass; the strict decoder,
	// which words what is wrong, runs only when not.
	valid := json.Valid(trimmed)
	if trimmed[0] == '[' {
		if valid {
			if err := json.Unmarshal(trimmed, &raws); err != nil {
				return nil, zone.Invalid(zone.FieldError{Field: "body", Message: "invalid JSON: " + err.Error()})
			}
		} else if err := strictjson.Decode(trimmed, &raws); err != nil {
			return nil, err
		}
		if len(raws) == 0 {
			return nil, zone.Invalid(zone.FieldError{Field: "body", Message: "must hold at least one event"})
		}
		if len(raws) > MaxBatch {
			return nil, zone.Invalid(zone.FieldError{Field: "body",
				Message: fmt.Sprintf("holds %d events; at most %d per batch", len(raws), MaxBatch)})
		}
	} else {
		// Check the single object's framing (trailing data) before field work.
		one := json.RawMessage(trimmed)
		if !valid {
			if err := strictjson.Decode(trimmed, &one); err != nil {
				return nil, err
			}
		}
		raws = []json.RawMessage{one}
	}
	events := make([]SensorEvent, len(raws))
	var fields []zone.FieldError
	for i, raw := range raws {
		ev, errs := parseEvent(raw)
		fields = append(fields, under("["+strconv.Itoa(i)+"]", errs)...)
		events[i] = ev
	}
	if len(fields) > 0 {
		return nil, zone.Invalid(fields...)
	}
	return events, nil
}

// decodeStrict decodes exactly one JSON value into v with the strict decoder
// the zone API uses, so both services word a malformed body alike. Its field
// errors are relative to v, with "" for v itself (the toolkit's "body").
//
// The wire types here hold no time.Time or custom unmarshaler, so for them
// the strict decoder accepts exactly what one typed pass with unknown
// fields refused accepts; that pass goes first, and the strict decoder
// (three passes, for its field-by-field wording) runs only on a failure.
func decodeStrict(data []byte, v any) []zone.FieldError {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if dec.Decode(v) == nil && !dec.More() {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			return nil
		}
	}
	reflect.ValueOf(v).Elem().SetZero()
	err := strictjson.Decode(data, v)
	if err == nil {
		return nil
	}
	fs := zone.ErrorFields(err)
	for i := range fs {
		if fs[i].Field == "body" {
			fs[i].Field = ""
		}
	}
	return fs
}

// under roots field errors relative to one element at prefix ("[3]",
// "reads[0]"); "" names the element itself.
func under(prefix string, fs []zone.FieldError) []zone.FieldError {
	for i := range fs {
		switch f := fs[i].Field; {
		case f == "":
			fs[i].Field = prefix
		case strings.HasPrefix(f, "["):
			fs[i].Field = prefix + f
		default:
			fs[i].Field = prefix + "." + f
		}
	}
	return fs
}

// parseEvent decodes and validates one event; field paths are relative to it.
func parseEvent(raw json.RawMessage) (SensorEvent, []zone.FieldError) {
	ev := SensorEvent{Raw: raw}
	var w wireEvent
	if fs := decodeStrict(raw, &w); fs != nil {
		return ev, fs
	}
	ev.EventID, ev.DeviceID, ev.Gate, ev.Type = w.EventID, w.DeviceID, w.Gate, w.Type
	ev.ObjectClass, ev.TrackID, ev.Direction = w.ObjectClass, w.TrackID, zone.Direction(w.Direction)
	ev.Snapshot, ev.Beam, ev.State, ev.Code, ev.Message = w.Snapshot, w.Beam, w.State, w.Code, w.Message
	if w.Segment != nil {
		ev.Segment = *w.Segment
	}
	if w.Source != nil {
		src := *w.Source
		ev.Source = &src
	}
	timeText := ""
	if w.Time != nil {
		timeText = *w.Time
	}
	errs := checkEvent(&ev, timeText, len(w.Reads))
	if len(w.Reads) > 0 && len(w.Reads) <= maxReadsPerEv {
		ev.Reads = make([]Read, len(w.Reads))
		for j, rr := range w.Reads {
			p := "reads[" + strconv.Itoa(j) + "]"
			if fs := decodeStrict(rr, &ev.Reads[j]); fs != nil {
				ev.Reads[j] = Read{}
				errs = append(errs, under(p, fs)...)
				continue
			}
			errs = append(errs, under(p, readProblems(ev.Reads[j]))...)
		}
	}
	return ev, errs
}

// checkEvent judges one decoded event, reads apart (readProblems judges
// each): timeText is its "time" member ("" when absent or null), nReads how
// many reads it carries. It sets ev.Time. A null or absent segment is 0,
// which every check treats alike.
func checkEvent(ev *SensorEvent, timeText string, nReads int) []zone.FieldError {
	var errs []zone.FieldError
	bad := func(field, msg string) { errs = append(errs, zone.FieldError{Field: field, Message: msg}) }

	checkID := func(field, v string) {
		switch {
		case v == "":
			bad(field, "is required")
		case len(v) > MaxIDLen:
			bad(field, fmt.Sprintf("must be at most %d bytes", MaxIDLen))
		case !Printable(v):
			bad(field, "must be printable text without spaces")
		}
	}
	checkID("event_id", ev.EventID)
	checkID("device_id", ev.DeviceID)
	checkID("gate", ev.Gate)

	switch {
	case timeText == "":
		bad("time", "is required")
	default:
		t, err := time.Parse(time.RFC3339Nano, timeText)
		if err != nil {
			bad("time", "must be an RFC 3339 time, e.g. 2026-11-26T10:00:00Z")
		} else {
			ev.Time = t.UTC()
		}
	}

	if ev.Direction != "" && ev.Direction != zone.In && ev.Direction != zone.Out {
		bad("direction", "must be in or out")
	}
	switch ev.State {
	case "", StateInitialized, StateChanged, StateDeleted, StateCleared:
	default:
		bad("state", "must be initialized, changed, deleted or cleared")
	}
	for _, f := range [...]struct{ name, v string }{{"snapshot", ev.Snapshot}, {"code", ev.Code}, {"message", ev.Message}, {"track_id", ev.TrackID}} {
		if len(f.v) > maxTextLen || !utf8.ValidString(f.v) {
			bad(f.name, fmt.Sprintf("must be valid text of at most %d bytes", maxTextLen))
		}
	}
	if src := ev.Source; src != nil {
		if len(src.Kind) > MaxIDLen || !Printable(src.Kind) {
			bad("source.kind", "must be printable text without spaces")
		}
		if len(src.Device) > MaxIDLen || !Printable(src.Device) {
			bad("source.device", "must be printable text without spaces")
		}
	}

	switch ev.Type {
	case "":
		bad("type", "is required")
	case EventDetection:
		switch ev.ObjectClass {
		case "":
			bad("object_class", "is required for camera.detection")
		case ClassEngine, ClassAircraft, ClassVehicle, ClassPerson, ClassUnknown:
		default:
			bad("object_class", "must be engine, aircraft, vehicle, person or unknown")
		}
		if ev.TrackID == "" {
			bad("track_id", "is required for camera.detection")
		}
	case EventBreak:
		if ev.Beam != "A" && ev.Beam != "B" {
			bad("beam", "must be A or B")
		}
		if ev.Segment < 1 {
			bad("segment", "must be 1 or more")
		}
	case EventHeartbeat, EventInfraredFault, EventCameraFault:
	default:
		bad("type", "must be camera.detection, infrared.break, heartbeat, infrared.fault or camera.fault")
	}

	if nReads > maxReadsPerEv {
		bad("reads", fmt.Sprintf("must hold at most %d reads", maxReadsPerEv))
	} else if nReads > 0 && ev.Type != EventDetection {
		bad("reads", "only camera.detection carries reads")
	}
	return errs
}

// readProblems judges one decoded read; field paths are relative to it.
func readProblems(r Read) []zone.FieldError {
	var errs []zone.FieldError
	bad := func(field, msg string) { errs = append(errs, zone.FieldError{Field: field, Message: msg}) }
	switch r.Kind {
	case zone.ReadStandTag, zone.ReadVehiclePlate, zone.ReadAircraftRegistration:
	case "":
		bad("kind", "is required")
	default:
		bad("kind", "must be stand_tag, vehicle_plate or aircraft_registration")
	}
	if strings.TrimSpace(r.Value) == "" {
		bad("value", "is required")
	} else if len(r.Value) > MaxIDLen || !utf8.ValidString(r.Value) {
		bad("value", fmt.Sprintf("must be valid text of at most %d bytes", MaxIDLen))
	}
	if r.Confidence < 0 || r.Confidence > 1 {
		bad("confidence", "must be between 0 and 1")
	}
	return errs
}

// Printable reports whether s is visible ASCII-or-Unicode text with no spaces
// or control characters, as device and event IDs are.
func Printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
