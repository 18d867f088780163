package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	nethttp "net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web/strictjson"
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
	raw, err := readAtMost(r.Body, r.ContentLength, maxBytes+1)
	if err != nil {
		return nil, echo.NewHTTPError(nethttp.StatusBadRequest, "could not read the request body").SetInternal(err)
	}
	if int64(len(raw)) > maxBytes {
		return nil, tooLarge(maxBytes)
	}
	// Read to its end: closing it spares net/http the check for unread
	// bytes it would otherwise make after the handler (a read and an
	// allocation per request). The connection stays open either way.
	_ = r.Body.Close()
	return raw, nil
}

// readAtMost reads r to its end or to limit bytes, whichever comes first,
// as io.ReadAll(io.LimitReader(r, limit)) does. A declared length (size,
// -1 when unknown) sizes the buffer at once, one byte over, so the read
// that meets the end needs no room more.
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 {
		n = min(size+1, limit)
	}
	b := make([]byte, 0, n)
	for int64(len(b)) < limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow it
		}
		room := b[len(b):min(int64(cap(b)), limit)]
		m, err := r.Read(room)
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
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

// DecodeStrict decodes one JSON value from raw into v, naming every unknown
// field and wrongly typed value by path (see strictjson.Decode).
func DecodeStrict(raw []byte, v any) error { return strictjson.Decode(raw, v) }

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
