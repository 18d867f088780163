package web

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	nethttp "net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/zone"
)

// DefaultBodyLimit is the request body limit when none is configured (1 MiB).
const DefaultBodyLimit int64 = 1 << 20

// validate is the one validator: it caches struct metadata, so sharing it is
// both cheaper and the documented way to use it. Field names come from json
// tags so errors name what the client sent.
var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New()
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			return ""
		case "":
			return f.Name
		}
		return name
	})
	return v
}

// BindStrict reads a JSON body of at most maxBytes (0 means DefaultBodyLimit)
// into v and validates it. A non-JSON content type is 415, an oversized body
// 413; unknown fields, trailing data, wrong JSON types and validator failures
// are a 400 *zone.Error (EINVALID) naming each field by its JSON path.
func BindStrict(c echo.Context, v any, maxBytes int64) error {
	_, err := BindStrictBody(c, v, maxBytes)
	return err
}

// BindStrictBody is BindStrict that also returns the raw body, for callers
// that hash it (Idempotency-Key) or keep it.
func BindStrictBody(c echo.Context, v any, maxBytes int64) ([]byte, error) {
	raw, err := DecodeBody(c, v, maxBytes)
	if err != nil {
		return raw, err
	}
	return raw, Validate(v)
}

// DecodeBody reads and strictly decodes a required JSON body without running
// the validator, so the caller can merge tag and domain failures.
func DecodeBody(c echo.Context, v any, limit int64) ([]byte, error) {
	if err := RequireJSON(c); err != nil {
		return nil, err
	}
	raw, err := ReadBody(c, limit)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return raw, zone.Invalid(zone.FieldError{Field: "body", Message: "a JSON body is required"})
	}
	return raw, DecodeStrict(raw, v)
}

// BindOptional is BindStrict for routes whose body may be left out: an empty
// body leaves v as it is; a non-empty one must pass every BindStrict check.
func BindOptional(c echo.Context, v any, maxBytes int64) error {
	raw, err := ReadBody(c, maxBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return Validate(v)
	}
	if err := RequireJSON(c); err != nil {
		return err
	}
	if err := DecodeStrict(raw, v); err != nil {
		return err
	}
	return Validate(v)
}

// ReadBody reads the whole request body, refusing (413) more than maxBytes
// (0 means DefaultBodyLimit) without reading past the limit.
func ReadBody(c echo.Context, maxBytes int64) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultBodyLimit
	}
	r := c.Request()
	if r.ContentLength > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	if r.Body == nil {
		return nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return nil, echo.NewHTTPError(nethttp.StatusBadRequest, "could not read the request body").SetInternal(err)
	}
	if int64(len(raw)) > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	return raw, nil
}

func tooLarge(max int64) error {
	return echo.NewHTTPError(nethttp.StatusRequestEntityTooLarge,
		fmt.Sprintf("the request body is larger than %d bytes", max))
}

// RequireJSON refuses (415) any content type but application/json.
func RequireJSON(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(nethttp.StatusUnsupportedMediaType, "the body must be application/json")
	}
	return nil
}

// DecodeStrict decodes one JSON value from raw into v. Before decoding it
// walks the document against v's type so that every unknown field and every
// value of the wrong JSON type is reported at once, by path
// ("window.from", "reads[0].confidence"). Data after the value is refused.
func DecodeStrict(raw []byte, v any) error {
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

// Validate runs the validator tags on v and returns EINVALID naming every
// failing field by JSON path, or nil.
// A slice or array (a batch) is validated element by element, each field
// named with its index: "[3].gate".
func Validate(v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		var fs []zone.FieldError
		for i := range rv.Len() {
			el := rv.Index(i)
			if el.Kind() != reflect.Pointer && el.CanAddr() {
				el = el.Addr()
			}
			err := Validate(el.Interface())
			if err == nil {
				continue
			}
			if zone.ErrorCode(err) != zone.EINVALID {
				return err
			}
			for _, f := range zone.ErrorFields(err) {
				sep := "."
				if strings.HasPrefix(f.Field, "[") {
					sep = ""
				}
				fs = append(fs, zone.FieldError{Field: "[" + strconv.Itoa(i) + "]" + sep + f.Field, Message: f.Message})
			}
		}
		if len(fs) > 0 {
			return zone.Invalid(fs...)
		}
		return nil
	}
	err := validate.Struct(v)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		var inv *validator.InvalidValidationError
		if errors.As(err, &inv) {
			return nil // not a struct: nothing to validate by tags
		}
		return zone.Internal(err)
	}
	fs := make([]zone.FieldError, 0, len(ves))
	for _, fe := range ves {
		fs = append(fs, zone.FieldError{Field: fieldPath(fe.Namespace()), Message: validationMessage(fe)})
	}
	return zone.Invalid(fs...)
}

// fieldPath drops the Go type name that starts a validator namespace.
func fieldPath(ns string) string {
	if i := strings.IndexAny(ns, ".["); i >= 0 {
		if ns[i] == '.' {
			return ns[i+1:]
		}
		return ns[i:]
	}
	return ns
}

func validationMessage(fe validator.FieldError) string {
	p := fe.Param()
	switch fe.Tag() {
	case "required", "required_if", "required_unless", "required_with", "required_without":
		return "required"
	case "oneof":
		return "must be one of " + strings.Join(strings.Fields(p), ", ")
	case "datetime":
		return "must be a time in the form " + p
	case "numeric", "number":
		return "must contain digits only"
	case "len":
		if fe.Kind() == reflect.String {
			return "must be " + p + " characters long"
		}
		return "must have " + p + " items"
	case "min", "gte":
		if fe.Kind() == reflect.String {
			return "must be at least " + p + " characters long"
		}
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "must have at least " + p + " items"
		}
		return "must be at least " + p
	case "max", "lte":
		if fe.Kind() == reflect.String {
			return "must be at most " + p + " characters long"
		}
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "must have at most " + p + " items"
		}
		return "must be at most " + p
	case "gt":
		return "must be greater than " + p
	case "lt":
		return "must be less than " + p
	case "uppercase":
		return "must be upper case"
	case "printascii":
		return "must be printable ASCII"
	case "gtfield":
		return "must be after " + p
	}
	if p != "" {
		return "fails " + fe.Tag() + "=" + p
	}
	return "fails " + fe.Tag()
}

// jsonEncode writes v as one line of JSON without HTML escaping, so values
// like "琼A·D1234" or "<" reach clients as they were sent.
func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// JSON writes v with status as application/json.
func JSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSONCharsetUTF8)
	c.Response().WriteHeader(status)
	if c.Request().Method == nethttp.MethodHead {
		return nil
	}
	return jsonEncode(c.Response(), v)
}
