// Package strictjson decodes JSON bodies strictly and names every problem
// by its JSON path as zone field errors. It depends on the standard
// library and internal/zone only, so the gate's pure decision core can
// parse sensor events with the same wording as both services' HTTP layers.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
)

// Decode decodes one JSON value from raw into v. Before decoding it
// walks the document against v's type so that every unknown field and every
// value of the wrong JSON type is reported at once, by path
// ("window.from", "reads[0].confidence"). Data after the value is refused.
func Decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return syntaxProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return zone.Invalid(zone.FieldError{Field: "body", Message: "unexpected data after the JSON value"})
	}
	var fs []zone.FieldError
	checkShape(doc, reflect.TypeOf(v), "", &fs)
	if len(fs) > 0 {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].Field < fs[j].Field })
		return zone.Invalid(fs...)
	}
	// The walk caught what it could; the strict decoder is the backstop.
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			f := te.Field
			if f == "" {
				f = "body"
			}
			return zone.Invalid(zone.FieldError{Field: f, Message: "must not be " + te.Value})
		}
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return zone.Invalid(zone.FieldError{Field: f, Message: "unknown field"})
		}
		return zone.Invalid(zone.FieldError{Field: "body", Message: "invalid JSON: " + err.Error()})
	}
	return nil
}

func syntaxProblem(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return zone.Invalid(zone.FieldError{Field: "body", Message: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())})
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return zone.Invalid(zone.FieldError{Field: "body", Message: "the JSON value is incomplete"})
	}
	return zone.Invalid(zone.FieldError{Field: "body", Message: "malformed JSON"})
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
)

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkShape compares a decoded JSON document with the Go type it is meant
// for, reporting unknown object keys and values of the wrong JSON type.
func checkShape(doc any, t reflect.Type, path string, fs *[]zone.FieldError) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || doc == nil { // null leaves the zero value; validation judges it
		return
	}
	field := path
	if field == "" {
		field = "body"
	}
	bad := func(msg string) { *fs = append(*fs, zone.FieldError{Field: field, Message: msg}) }
	if t == timeType {
		s, ok := doc.(string)
		if !ok {
			bad("must be an RFC 3339 time string")
			return
		}
		t, err := time.Parse(time.RFC3339, s)
		switch {
		case err != nil:
			bad("must be an RFC 3339 time such as 2026-11-26T10:00:00Z")
		case !zone.TimeInRange(t):
			// Every time field of every body passes here: the one place
			// the API's accepted years are enforced for bodies.
			bad(zone.TimeRangeMessage)
		}
		return
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return // the type parses itself; the decoder reports its errors
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if _, ok := doc.(string); !ok {
			bad("must be a string")
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := doc.(string); !ok {
			bad("must be a string")
		}
	case reflect.Bool:
		if _, ok := doc.(bool); !ok {
			bad("must be true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := doc.(json.Number)
		if !ok {
			bad("must be an integer")
			return
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			bad("must be an integer in range")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := doc.(json.Number)
		if !ok {
			bad("must be a non-negative integer")
			return
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			bad("must be a non-negative integer in range")
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := doc.(json.Number); !ok {
			bad("must be a number")
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			if _, ok := doc.(string); !ok {
				bad("must be a base64 string")
			}
			return
		}
		arr, ok := doc.([]any)
		if !ok {
			bad("must be an array")
			return
		}
		for i, el := range arr {
			checkShape(el, t.Elem(), path+"["+strconv.Itoa(i)+"]", fs)
		}
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			bad("must be an object")
			return
		}
		for k, el := range obj {
			checkShape(el, t.Elem(), joinPath(path, k), fs)
		}
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			bad("must be an object")
			return
		}
		fields := jsonFields(t)
		for k, el := range obj {
			ft, ok := fields[k]
			if !ok {
				// encoding/json falls back to a case-insensitive match.
				for name, f := range fields {
					if strings.EqualFold(name, k) {
						ft, ok = f, true
						break
					}
				}
			}
			if !ok {
				*fs = append(*fs, zone.FieldError{Field: joinPath(path, k), Message: "unknown field"})
				continue
			}
			checkShape(el, ft, joinPath(path, k), fs)
		}
	}
}

// jsonFields maps the JSON names of t's fields (embedded structs promoted)
// to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && !strings.HasPrefix(tag, "-,") {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, dup := out[k]; !dup {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" || name == "-" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
