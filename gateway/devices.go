package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/zone"
)

// Device adapter kinds a device list may name. Only json (POST /v1/events)
// is served today; the others are accepted so one list serves the hardware
// adapters that come later.
const (
	DeviceJSON   = "json"
	DeviceISAPI  = "isapi"
	DeviceONVIF  = "onvif"
	DeviceModbus = "modbus"
)

// Device is one entry of a gate's device list (`bondgate gate --devices
// FILE`, CONTRACT.md "Gate hardware adapters").
type Device struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Segment int    `json:"segment,omitempty"`
	// Extra keeps the fields this version does not read (basic, onvif_pull,
	// address, inputs, …), for the adapters that will.
	Extra map[string]json.RawMessage `json:"-"`
}

// ParseDevices reads a device list: a JSON array of objects, each with an
// id and a kind (json, isapi, onvif or modbus) and an optional segment.
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
	seen := map[string]int{}
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
		for k, v := range m {
			if k != "id" && k != "kind" && k != "segment" {
				if d.Extra == nil {
					d.Extra = map[string]json.RawMessage{}
				}
				d.Extra[k] = v
			}
		}
		out = append(out, d)
	}
	if len(fields) > 0 {
		return nil, zone.Invalid(fields...)
	}
	return out, nil
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
