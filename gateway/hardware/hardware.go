// Package hardware holds what the gate's protocol adapters share: the
// camera a device list entry describes, the refusal of unsafe XML, and
// stable event IDs. Each protocol has its own package (isapi, onvif,
// modbus) turning the protocol's messages into the gate's sensor events;
// the gate service wires them to its durable ingest.
package hardware

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// Camera is what a device list says about a camera: which device, segment
// and channel, the lane direction its "forward" means, the kind of read an
// ANPR plate is and the class of what it sees when the message is silent.
type Camera struct {
	Device      string
	Segment     int
	Channel     int // 0: every channel counts
	Direction   zone.Direction
	ReadKind    string // default vehicle_plate
	ObjectClass string // default: vehicle for plates, unknown otherwise
}

// ReadKindOr is the camera's read kind, or def.
func (c Camera) ReadKindOr(def string) string {
	if c.ReadKind != "" {
		return c.ReadKind
	}
	return def
}

// ClassOr is the camera's object class, or def.
func (c Camera) ClassOr(def string) string {
	if c.ObjectClass != "" {
		return c.ObjectClass
	}
	return def
}

// Lane maps a camera's reported direction to the lane's: "forward" (or
// "approach") is the lane's direction, "reverse" (or "leave") the other; an
// unknown word leaves it to the beams.
func (c Camera) Lane(reported string) zone.Direction {
	if c.Direction == "" {
		return ""
	}
	switch strings.ToLower(reported) {
	case "", "forward", "approach", "unknown":
		return c.Direction
	case "reverse", "leave", "away":
		if c.Direction == zone.In {
			return zone.Out
		}
		return zone.In
	}
	return c.Direction
}

// Source is the origin stamp of events from kind's adapter for device.
func Source(kind, device string) *decide.Source {
	return &decide.Source{Kind: kind, Device: device}
}

// ErrUnsafeXML is refused before any parsing: a document type declaration
// (and with it every entity definition, so no entity expansion bomb), a
// body that is not UTF-8, or one past its size.
type ErrUnsafeXML struct{ Why string }

func (e *ErrUnsafeXML) Error() string { return "refused XML: " + e.Why }

// Decode checks body and decodes it into v with encoding/xml, which
// expands no entities beyond the five predefined ones and refuses any
// declared encoding but UTF-8 (no CharsetReader is set).
func Decode(body []byte, max int, v any) error {
	if len(body) > max {
		return &ErrUnsafeXML{Why: fmt.Sprintf("larger than %d bytes", max)}
	}
	if !utf8.Valid(body) {
		return &ErrUnsafeXML{Why: "not UTF-8"}
	}
	if bytes.Contains(bytes.ToUpper(body), []byte("<!DOCTYPE")) || bytes.Contains(bytes.ToUpper(body), []byte("<!ENTITY")) {
		return &ErrUnsafeXML{Why: "a document type declaration is not accepted"}
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	return d.Decode(v)
}

// ID is an event ID made of readable parts; past decide.MaxIDLen it is
// shortened with a hash so that the same parts always give the same ID.
func ID(parts ...string) string {
	id := strings.Join(parts, "-")
	var b strings.Builder
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			r = '_'
		}
		b.WriteRune(r)
	}
	id = b.String()
	if len(id) <= decide.MaxIDLen {
		return id
	}
	return id[:decide.MaxIDLen-17] + "-" + Hash(id)
}

// Hash is a short stable digest of s, for IDs.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// Stamp writes a time into an ID: UTC, to the millisecond.
func Stamp(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }
