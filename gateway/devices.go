package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// Device adapter kinds a device list may name: json devices post the gate's
// own events (POST /v1/events); the others are heard through the hardware
// adapters (gateway/hardware.go).
const (
	DeviceJSON   = "json"
	DeviceISAPI  = "isapi"
	DeviceONVIF  = "onvif"
	DeviceModbus = "modbus"
)

// DefaultPoll is how often a Modbus I/O module is sampled: a beam broken
// by a walking person stays broken for well over 100 ms.
const DefaultPoll = 20 * time.Millisecond

// Device is one entry of a gate's device list (`bondgate gate --devices
// FILE`, README "Gate hardware").
type Device struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Segment int    `json:"segment,omitempty"`
	// Basic, when set, lets the device authenticate with HTTP Basic: the
	// user and the hex SHA-256 of its password (cameras cannot send bearer
	// tokens).
	Basic *BasicCredentials `json:"basic,omitempty"`
	// Camera (isapi, onvif): the channel whose events count (0: any), the
	// lane direction its "forward"/approach means (reverse is the other),
	// the kind of read an ANPR plate is (default vehicle_plate; stand tags
	// printed as plates: stand_tag) and the class of what it detects when
	// the message does not say (default vehicle for ANPR, unknown else).
	Channel     int            `json:"channel,omitempty"`
	Direction   zone.Direction `json:"direction,omitempty"`
	ReadKind    string         `json:"read_kind,omitempty"`
	ObjectClass string         `json:"object_class,omitempty"`
	// ONVIFPull, for onvif: the device's event service URL; the gate then
	// subscribes and pulls instead of waiting for pushes.
	ONVIFPull string `json:"onvif_pull,omitempty"`
	// Modbus: the module's host:port and unit ID, how often to sample,
	// which table (discrete_inputs or coils), which edge is a break
	// (falling, 1→0, for normally-closed beams; or rising) and the inputs
	// wired to beams.
	Address   string        `json:"address,omitempty"`
	Unit      int           `json:"unit,omitempty"`
	Poll      time.Duration `json:"-"`
	Table     string        `json:"table,omitempty"`
	BreakEdge string        `json:"break_edge,omitempty"`
	Inputs    []BeamInput   `json:"inputs,omitempty"`
	// Extra keeps the fields this version does not read, so a list written
	// for a newer gate still loads.
	Extra map[string]json.RawMessage `json:"-"`
}

// BasicCredentials are a device's HTTP Basic user and password hash.
type BasicCredentials struct {
	User           string `json:"user"`
	PasswordSHA256 string `json:"password_sha256"`
}

// BeamInput is one Modbus input wired to one beam of a segment.
type BeamInput struct {
	Input   int    `json:"input"`
	Segment int    `json:"segment"`
	Beam    string `json:"beam"`
}

// Modbus tables and break edges a device list may name.
const (
	TableDiscreteInputs = "discrete_inputs"
	TableCoils          = "coils"
	EdgeFalling         = "falling"
	EdgeRising          = "rising"
)

// deviceFields are the fields ParseDevices reads, and the kinds each is for.
var deviceFields = map[string][]string{
	"id": nil, "kind": nil, "segment": nil,
	"basic": {DeviceISAPI, DeviceONVIF}, "channel": {DeviceISAPI, DeviceONVIF}, "direction": {DeviceISAPI, DeviceONVIF},
	"read_kind": {DeviceISAPI, DeviceONVIF}, "object_class": {DeviceISAPI, DeviceONVIF}, "onvif_pull": {DeviceONVIF},
	"address": {DeviceModbus}, "unit": {DeviceModbus}, "poll": {DeviceModbus}, "table": {DeviceModbus},
	"break_edge": {DeviceModbus}, "inputs": {DeviceModbus},
}

// ParseDevices reads a device list: a JSON array of objects, each with an
// id and a kind (json, isapi, onvif or modbus) and the fields of its kind.
// IDs must be unique. Every problem is named by index and field.
func ParseDevices(raw []byte) ([]Device, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(raw), &items); err != nil || items == nil {
		return nil, zone.Invalid(zone.FieldError{Field: "devices", Message: "must be a JSON array of device objects"})
	}
	var fields []zone.FieldError
	bad := func(i int, f, msg string) {
		fields = append(fields, zone.FieldError{Field: "[" + strconv.Itoa(i) + "]" + f, Message: msg})
	}
	out := make([]Device, 0, len(items))
	seen, users := map[string]int{}, map[string]int{}
	for i, m := range items {
		var d Device
		if m == nil {
			bad(i, "", "must be an object")
			continue
		}
		if v, ok := m["id"]; !ok || json.Unmarshal(v, &d.ID) != nil || d.ID == "" {
			bad(i, ".id", "is required (a string)")
		} else if len(d.ID) > decide.MaxIDLen || !decide.Printable(d.ID) {
			bad(i, ".id", fmt.Sprintf("must be printable text without spaces, at most %d bytes", decide.MaxIDLen))
		} else if j, dup := seen[d.ID]; dup {
			bad(i, ".id", fmt.Sprintf("repeats device [%d]", j))
		} else {
			seen[d.ID] = i
		}
		_ = json.Unmarshal(m["kind"], &d.Kind)
		switch d.Kind {
		case DeviceJSON, DeviceISAPI, DeviceONVIF, DeviceModbus:
		default:
			bad(i, ".kind", "must be json, isapi, onvif or modbus")
		}
		if v, ok := m["segment"]; ok {
			if json.Unmarshal(v, &d.Segment) != nil || d.Segment < 1 {
				bad(i, ".segment", "must be 1 or more")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			kinds, known := deviceFields[k]
			switch {
			case !known:
				if d.Extra == nil {
					d.Extra = map[string]json.RawMessage{}
				}
				d.Extra[k] = v
			case kinds != nil && d.Kind != "" && !slices.Contains(kinds, d.Kind):
				bad(i, "."+k, "is for "+strings.Join(kinds, " and ")+" devices, not "+d.Kind)
			}
		}
		for _, fe := range parseKindFields(&d, m) {
			bad(i, "."+fe.Field, fe.Message)
		}
		if d.Basic != nil && d.Basic.User != "" {
			// A user names one device: its credentials must say which.
			if j, dup := users[d.Basic.User]; dup {
				bad(i, ".basic.user", fmt.Sprintf("is already device [%d]'s user", j))
			}
			users[d.Basic.User] = i
		}
		out = append(out, d)
	}
	if len(fields) > 0 {
		return nil, zone.Invalid(fields...)
	}
	return out, nil
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseKindFields reads and checks the fields of d's kind; errors name the
// field relative to the entry.
func parseKindFields(d *Device, m map[string]json.RawMessage) []zone.FieldError {
	var errs []zone.FieldError
	bad := func(f, msg string) { errs = append(errs, zone.FieldError{Field: f, Message: msg}) }
	get := func(k string, v any) bool {
		raw, ok := m[k]
		if !ok {
			return false
		}
		if err := json.Unmarshal(raw, v); err != nil {
			bad(k, "has the wrong type")
			return false
		}
		return true
	}
	switch d.Kind {
	case DeviceISAPI, DeviceONVIF:
		if get("basic", &d.Basic) {
			switch {
			case d.Basic == nil:
				bad("basic", "must be an object with user and password_sha256")
			case d.Basic.User == "" || strings.Contains(d.Basic.User, ":"):
				bad("basic.user", "is required and may not contain ':'")
			case !sha256Hex.MatchString(d.Basic.PasswordSHA256):
				bad("basic.password_sha256", "must be the password's SHA-256 as 64 lower-case hex digits")
			}
		}
		if get("channel", &d.Channel) && d.Channel < 1 {
			bad("channel", "must be 1 or more")
		}
		if get("direction", &d.Direction) && d.Direction != zone.In && d.Direction != zone.Out {
			bad("direction", "must be in or out")
		}
		if get("read_kind", &d.ReadKind) {
			switch d.ReadKind {
			case zone.ReadStandTag, zone.ReadVehiclePlate, zone.ReadAircraftRegistration:
			default:
				bad("read_kind", "must be stand_tag, vehicle_plate or aircraft_registration")
			}
		}
		if get("object_class", &d.ObjectClass) {
			switch d.ObjectClass {
			case decide.ClassEngine, decide.ClassAircraft, decide.ClassVehicle, decide.ClassPerson, decide.ClassUnknown:
			default:
				bad("object_class", "must be engine, aircraft, vehicle, person or unknown")
			}
		}
		if get("onvif_pull", &d.ONVIFPull) {
			if u, err := url.Parse(d.ONVIFPull); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("onvif_pull", "must be the device's http(s) event service URL")
			}
		}
	case DeviceModbus:
		if !get("address", &d.Address) {
			bad("address", "is required for modbus (host:port)")
		} else if _, port, err := net.SplitHostPort(d.Address); err != nil || port == "" {
			bad("address", "must be host:port")
		}
		d.Unit = 1
		if get("unit", &d.Unit) && (d.Unit < 0 || d.Unit > 255) {
			bad("unit", "must be 0 to 255")
		}
		d.Poll = DefaultPoll
		var poll string
		if get("poll", &poll) {
			p, err := time.ParseDuration(poll)
			if err != nil || p < time.Millisecond || p > 10*time.Second {
				bad("poll", "must be a duration from 1ms to 10s, e.g. \"20ms\"")
			}
			d.Poll = p
		}
		d.Table = TableDiscreteInputs
		if get("table", &d.Table) && d.Table != TableDiscreteInputs && d.Table != TableCoils {
			bad("table", "must be discrete_inputs or coils")
		}
		d.BreakEdge = EdgeFalling
		if get("break_edge", &d.BreakEdge) && d.BreakEdge != EdgeFalling && d.BreakEdge != EdgeRising {
			bad("break_edge", "must be falling (1→0) or rising (0→1)")
		}
		if !get("inputs", &d.Inputs) || len(d.Inputs) == 0 {
			bad("inputs", "must list the inputs wired to beams, e.g. [{\"input\":0,\"segment\":1,\"beam\":\"A\"}]")
		}
		used := map[int]int{}
		beams := map[string]int{}
		for j, in := range d.Inputs {
			p := "inputs[" + strconv.Itoa(j) + "]"
			if in.Input < 0 || in.Input > 1999 {
				bad(p+".input", "must be 0 to 1999")
			} else if k, dup := used[in.Input]; dup {
				bad(p+".input", fmt.Sprintf("repeats inputs[%d]", k))
			}
			used[in.Input] = j
			if in.Segment < 1 {
				bad(p+".segment", "must be 1 or more")
			}
			if in.Beam != "A" && in.Beam != "B" {
				bad(p+".beam", "must be A or B")
			} else if k, dup := beams[strconv.Itoa(in.Segment)+in.Beam]; dup {
				bad(p+".beam", fmt.Sprintf("segment %d beam %s is already inputs[%d]", in.Segment, in.Beam, k))
			}
			beams[strconv.Itoa(in.Segment)+in.Beam] = j
		}
	}
	return errs
}

// LoadDevices reads and parses a device list file.
func LoadDevices(path string) ([]Device, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("device list: %w", err)
	}
	ds, err := ParseDevices(raw)
	if err != nil {
		return nil, fmt.Errorf("device list %s: %w", path, describe(err))
	}
	return ds, nil
}

// describe spells a validation error's fields out for a command line.
func describe(err error) error {
	fs := zone.ErrorFields(err)
	if len(fs) == 0 {
		return err
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Field + ": " + f.Message
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// deviceSet is the gate's device list by ID; nil when it has none (then
// every device is accepted).
type deviceSet map[string]Device

func newDeviceSet(ds []Device) deviceSet {
	if ds == nil {
		return nil
	}
	set := make(deviceSet, len(ds))
	for _, d := range ds {
		set[d.ID] = d
	}
	return set
}

// checkDevices refuses the batch (403, nothing stored) when any event comes
// from a device the list does not hold, naming each index and field.
func (set deviceSet) checkDevices(events []decide.SensorEvent) error {
	if set == nil {
		return nil
	}
	var fields []zone.FieldError
	var unknown []string
	for i := range events {
		if _, ok := set[events[i].DeviceID]; !ok {
			fields = append(fields, zone.FieldError{Field: "[" + strconv.Itoa(i) + "].device_id", Message: "is not in this gate's device list"})
			unknown = append(unknown, events[i].DeviceID)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return &zone.Error{Code: zone.EFORBIDDEN, Fields: fields,
		Message: "device " + unknown[0] + " is not in this gate's device list; nothing of the batch was stored"}
}

// passwordHash is the hex SHA-256 of a device's Basic password, as the
// device list holds it.
func passwordHash(password string) string {
	h := sha256.Sum256([]byte(password))
	return hex.EncodeToString(h[:])
}
