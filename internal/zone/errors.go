// Package zone is the bonded-zone domain: pre-declarations and their state
// machine, clearances, crossings, alarms, the audit chain and the errors the
// rest of bondgate speaks. It imports nothing but the standard library so that
// storage, Kafka and HTTP stay replaceable around it.
package zone

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the HTTP package.
const (
	EINVALID       = "invalid"       // malformed input (400)
	EUNAUTHORIZED  = "unauthorized"  // no or unknown credentials (401)
	EFORBIDDEN     = "forbidden"     // known caller, not allowed (403)
	ENOTFOUND      = "not_found"     // no such record, or not the caller's (404)
	ECONFLICT      = "conflict"      // illegal transition or state clash (409)
	EUNPROCESSABLE = "unprocessable" // well-formed but refused by a business rule (422)
	EUNAVAILABLE   = "unavailable"   // storage full or a dependency down (503)
	EINTERNAL      = "internal"      // a bug or an unexpected failure (500)
)

// FieldError names one field of a request that failed validation.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the domain error. Code is machine-readable, Message is safe to show
// to the caller, Fields lists validation failures and Err keeps the cause for
// logs (never shown to callers).
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error
}

// Error formats the code, the message and the cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a domain error with a formatted, caller-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds an EINVALID error listing the fields that failed.
func Invalid(fields ...FieldError) *Error {
	msg := "the request is not valid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// Internal wraps an unexpected failure; the cause is kept for logs only.
func Internal(err error) *Error {
	return &Error{Code: EINTERNAL, Message: "internal error", Err: err}
}

// ErrorCode returns the code of the first domain error in err's chain, or
// EINTERNAL for any other non-nil error, so wrapped errors keep their meaning.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the field list of err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
