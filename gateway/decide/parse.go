package decide

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/bondgate/bondgate/internal/zone"
)

// The one-pass reader of a body of events. It reads the fixed wire shape
// byte by byte, checking the JSON grammar as it goes, and takes a body only
// when it reads it exactly as encoding/json would and every check passes.
// Anything else (an unknown member, a member named in another case, a
// member given twice, a value of the wrong type, a number out of range,
// malformed JSON, a refused value) makes it give up, and ParseEvents hands
// the body to the strict path, which words what is wrong. So what it takes
// is a subset of what the strict path takes, read to the same values;
// FuzzParseEventsAgreesWithStrict holds it to that.

// Members of an event whose value is text, in the order of SensorEvent.
const (
	textEventID = iota
	textDeviceID
	textGate
	textTime
	textType
	textObjectClass
	textTrackID
	textDirection
	textSnapshot
	textBeam
	textState
	textCode
	textMessage
	textSourceKind
	textSourceDevice
	textMembers
)

// The other members, as bits of eventReader.seen after the text ones.
const (
	memberSegment = textMembers + iota
	memberReads
	memberSource
)

// span is where one unquoted text value sits in eventReader.text, or the
// constant it equals (a type, class, direction, state, beam or read kind).
type span struct {
	from, to int
	known    string
}

// knownText returns the constant equal to b, if b is one of the values of
// the enumerated members: those need no copy, and a string kept from an
// event then does not keep its other values alive.
func knownText(b []byte) (string, bool) {
	switch string(b) {
	case EventDetection:
		return EventDetection, true
	case EventBreak:
		return EventBreak, true
	case EventHeartbeat:
		return EventHeartbeat, true
	case EventInfraredFault:
		return EventInfraredFault, true
	case EventCameraFault:
		return EventCameraFault, true
	case ClassEngine:
		return ClassEngine, true
	case ClassAircraft:
		return ClassAircraft, true
	case ClassVehicle:
		return ClassVehicle, true
	case ClassPerson:
		return ClassPerson, true
	case ClassUnknown:
		return ClassUnknown, true
	case string(zone.In):
		return string(zone.In), true
	case string(zone.Out):
		return string(zone.Out), true
	case StateInitialized:
		return StateInitialized, true
	case StateChanged:
		return StateChanged, true
	case StateDeleted:
		return StateDeleted, true
	case StateCleared:
		return StateCleared, true
	case "A":
		return "A", true
	case "B":
		return "B", true
	case zone.ReadStandTag:
		return zone.ReadStandTag, true
	case zone.ReadVehiclePlate:
		return zone.ReadVehiclePlate, true
	case zone.ReadAircraftRegistration:
		return zone.ReadAircraftRegistration, true
	}
	return "", false
}

type readSpans struct {
	kind, value span
	confidence  float64
}

// eventReader holds the position in the body and the scratch space it
// reuses from one event to the next.
type eventReader struct {
	data []byte
	pos  int
	// text collects one event's unquoted text values; they become one
	// string, so an event costs one allocation for all its text, and a
	// string kept (a track ID) keeps only the event's values alive.
	text  []byte
	spans [textMembers]span
	seen  uint32
	reads []readSpans
}

// parseEventsFast reads body in one pass; ok is false when it gives up.
func parseEventsFast(body []byte) (events []SensorEvent, ok bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false
	}
	// One event's text is at most its length; most fit in 512 bytes.
	r := eventReader{data: trimmed, text: make([]byte, 0, min(len(trimmed), 512))}
	if trimmed[0] == '{' {
		events = make([]SensorEvent, 1)
		if !r.event(&events[0]) || r.pos != len(trimmed) {
			return nil, false
		}
		events[0].Raw = trimmed
		return events, true
	}
	if trimmed[0] != '[' {
		return nil, false
	}
	r.pos = 1
	r.space()
	for {
		if len(events) == MaxBatch || r.pos >= len(trimmed) || trimmed[r.pos] != '{' {
			return nil, false
		}
		from := r.pos
		var ev SensorEvent
		if !r.event(&ev) {
			return nil, false
		}
		ev.Raw = trimmed[from:r.pos:r.pos]
		if events == nil {
			// Batches mostly hold events of one kind and size: the first
			// event's length says how many the body holds.
			events = make([]SensorEvent, 0, min(len(trimmed)/(r.pos-from+1)+1, MaxBatch))
		}
		events = append(events, ev)
		r.space()
		if r.pos >= len(trimmed) {
			return nil, false
		}
		switch trimmed[r.pos] {
		case ',':
			r.pos++
			r.space()
			continue
		case ']':
			r.pos++
			r.space()
			return events, r.pos == len(trimmed)
		}
		return nil, false
	}
}

// event reads one event object at r.pos into ev and judges it.
func (r *eventReader) event(ev *SensorEvent) bool {
	r.text = r.text[:0]
	r.spans = [textMembers]span{}
	r.seen = 0
	r.reads = r.reads[:0]
	hasSource := false
	ok := r.object(func(name []byte) bool {
		var member int
		switch string(name) {
		case "event_id":
			member = textEventID
		case "device_id":
			member = textDeviceID
		case "gate":
			member = textGate
		case "time":
			member = textTime
		case "type":
			member = textType
		case "object_class":
			member = textObjectClass
		case "track_id":
			member = textTrackID
		case "direction":
			member = textDirection
		case "snapshot":
			member = textSnapshot
		case "beam":
			member = textBeam
		case "state":
			member = textState
		case "code":
			member = textCode
		case "message":
			member = textMessage
		case "segment":
			member = memberSegment
		case "reads":
			member = memberReads
		case "source":
			member = memberSource
		default:
			return false
		}
		if !r.first(member) {
			return false
		}
		switch member {
		case memberSegment:
			n, ok := r.integer()
			ev.Segment = n
			return ok
		case memberReads:
			return r.readList()
		case memberSource:
			if r.null() {
				return true
			}
			hasSource = true
			return r.object(func(name []byte) bool {
				switch string(name) {
				case "kind":
					return r.first(textSourceKind) && r.textValue(&r.spans[textSourceKind])
				case "device":
					return r.first(textSourceDevice) && r.textValue(&r.spans[textSourceDevice])
				}
				return false
			})
		}
		return r.textValue(&r.spans[member])
	})
	if !ok || len(r.reads) > maxReadsPerEv {
		return false
	}
	text := string(r.text)
	str := func(sp span) string {
		if sp.known != "" {
			return sp.known
		}
		return text[sp.from:sp.to]
	}
	at := func(member int) string { return str(r.spans[member]) }
	ev.EventID, ev.DeviceID, ev.Gate, ev.Type = at(textEventID), at(textDeviceID), at(textGate), at(textType)
	ev.ObjectClass, ev.TrackID, ev.Direction = at(textObjectClass), at(textTrackID), zone.Direction(at(textDirection))
	ev.Snapshot, ev.Beam, ev.State, ev.Code, ev.Message = at(textSnapshot), at(textBeam), at(textState), at(textCode), at(textMessage)
	if hasSource {
		ev.Source = &Source{Kind: at(textSourceKind), Device: at(textSourceDevice)}
	}
	if checkEvent(ev, at(textTime), len(r.reads)) != nil {
		return false
	}
	if len(r.reads) > 0 {
		ev.Reads = make([]Read, len(r.reads))
		for j, rs := range r.reads {
			ev.Reads[j] = Read{Kind: str(rs.kind), Value: str(rs.value), Confidence: rs.confidence}
			if readProblems(ev.Reads[j]) != nil {
				return false
			}
		}
	}
	return true
}

// first marks member seen; false if it already was (encoding/json would
// keep the last, with rules for null this reader does not repeat).
func (r *eventReader) first(member int) bool {
	bit := uint32(1) << member
	if r.seen&bit != 0 {
		return false
	}
	r.seen |= bit
	return true
}

// readList reads the reads member: null, or an array of read objects.
func (r *eventReader) readList() bool {
	if r.null() {
		return true
	}
	if r.pos >= len(r.data) || r.data[r.pos] != '[' {
		return false
	}
	r.pos++
	r.space()
	if r.pos < len(r.data) && r.data[r.pos] == ']' {
		r.pos++
		return true
	}
	for {
		if len(r.reads) == maxReadsPerEv {
			return false
		}
		var rs readSpans
		var seen uint8
		once := func(bit uint8) bool {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			return true
		}
		ok := r.object(func(name []byte) bool {
			switch string(name) {
			case "kind":
				return once(1) && r.textValue(&rs.kind)
			case "value":
				return once(2) && r.textValue(&rs.value)
			case "confidence":
				if !once(4) {
					return false
				}
				f, ok := r.float()
				rs.confidence = f
				return ok
			}
			return false
		})
		if !ok {
			return false
		}
		r.reads = append(r.reads, rs)
		r.space()
		if r.pos >= len(r.data) {
			return false
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			r.space()
		case ']':
			r.pos++
			return true
		default:
			return false
		}
	}
}

// object reads an object at r.pos, calling member with each member's name
// (with r.pos at its value, which member must read).
func (r *eventReader) object(member func(name []byte) bool) bool {
	if r.pos >= len(r.data) || r.data[r.pos] != '{' {
		return false
	}
	r.pos++
	r.space()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return true
	}
	for {
		name, ok := r.name()
		if !ok {
			return false
		}
		r.space()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return false
		}
		r.pos++
		r.space()
		if !member(name) {
			return false
		}
		r.space()
		if r.pos >= len(r.data) {
			return false
		}
		switch r.data[r.pos] {
		case ',':
			r.pos++
			r.space()
		case '}':
			r.pos++
			return true
		default:
			return false
		}
	}
}

// name reads a member name; one with escapes or beyond ASCII is not a
// name this reader knows as such, so it gives up on it.
func (r *eventReader) name() ([]byte, bool) {
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, false
	}
	from := r.pos + 1
	for i := from; i < len(r.data); i++ {
		switch c := r.data[i]; {
		case c == '"':
			r.pos = i + 1
			return r.data[from:i], true
		case c == '\\' || c < ' ' || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// textValue reads a string or null (which leaves a text member "", as
// encoding/json leaves a string field untouched) and appends the unquoted
// text to r.text.
func (r *eventReader) textValue(at *span) bool {
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return r.null()
	}
	from, escaped, ascii := r.pos+1, false, true
	end := -1
	for i := from; i < len(r.data); i++ {
		c := r.data[i]
		if c == '"' {
			end = i
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i++ // the escaped character, which may be a quote
		case c < ' ':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if end < 0 {
		return false
	}
	r.pos = end + 1
	if known, ok := knownText(r.data[from:end]); ok {
		at.known = known
		return true
	}
	at.from = len(r.text)
	if !escaped && (ascii || utf8.Valid(r.data[from:end])) {
		r.text = append(r.text, r.data[from:end]...)
	} else {
		// Escapes and invalid UTF-8 (which encoding/json replaces with
		// U+FFFD) are rare: encoding/json unquotes them, as it would.
		var s string
		if json.Unmarshal(r.data[from-1:end+1], &s) != nil {
			return false
		}
		r.text = append(r.text, s...)
	}
	at.to = len(r.text)
	return true
}

// integer reads an int or null (0) as encoding/json would into an int.
func (r *eventReader) integer() (int, bool) {
	if r.null() {
		return 0, true
	}
	lit, ok := r.number()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(lit), 10, strconv.IntSize)
	return int(n), err == nil
}

// float reads a float64 or null (0) as encoding/json would.
func (r *eventReader) float() (float64, bool) {
	if r.null() {
		return 0, true
	}
	lit, ok := r.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	return f, err == nil
}

// number reads a JSON number literal: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *eventReader) number() ([]byte, bool) {
	d, from := r.data, r.pos
	i := from
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return nil, false
	}
	if i < len(d) && d[i] == '.' {
		if j := digits(d, i+1); j > i+1 {
			i = j
		} else {
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if j := digits(d, i); j > i {
			i = j
		} else {
			return nil, false
		}
	}
	r.pos = i
	return d[from:i], true
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// null reads a null literal if one is at r.pos.
func (r *eventReader) null() bool {
	if bytes.HasPrefix(r.data[r.pos:], []byte("null")) {
		r.pos += 4
		return true
	}
	return false
}

// space skips JSON whitespace (and only that: TrimSpace's other spaces are
// not JSON's).
func (r *eventReader) space() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}
