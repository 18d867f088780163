// Package web is the HTTP toolkit the zone API and the gate share: problem
// responses (the one place a domain error code becomes an HTTP status),
// strict JSON binding and its field-naming messages, bearer and client
// certificate authentication, middleware (request IDs, logs, metrics,
// recovery, security headers) and the bounded http.Server both run. It knows
// echo and the domain's error codes, never a route of either service.
package web

import (
	"errors"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/zone"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemBase prefixes a problem's code to form its type URI.
const problemBase = "https://bondgate.dev/problems/"

// Problem is an RFC 9457 problem details body. Code repeats the last segment
// of Type for clients that would rather not parse URIs.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Code      string            `json:"code"`
	Errors    []zone.FieldError `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// StatusOf maps a domain error code to its HTTP status. Unknown codes are 500
// so that a new code nobody mapped is noticed rather than passed off as a 4xx.
func StatusOf(code string) int {
	switch code {
	case zone.EINVALID:
		return nethttp.StatusBadRequest
	case zone.EUNAUTHORIZED:
		return nethttp.StatusUnauthorized
	case zone.EFORBIDDEN:
		return nethttp.StatusForbidden
	case zone.ENOTFOUND:
		return nethttp.StatusNotFound
	case zone.ECONFLICT:
		return nethttp.StatusConflict
	case zone.EUNPROCESSABLE:
		return nethttp.StatusUnprocessableEntity
	case zone.EUNAVAILABLE:
		return nethttp.StatusServiceUnavailable
	default:
		return nethttp.StatusInternalServerError
	}
}

// codeOfStatus names the problem type for errors that came from echo itself
// (routing, body limits) rather than from the domain.
func codeOfStatus(status int) string {
	switch status {
	case nethttp.StatusBadRequest:
		return zone.EINVALID
	case nethttp.StatusUnauthorized:
		return zone.EUNAUTHORIZED
	case nethttp.StatusForbidden:
		return zone.EFORBIDDEN
	case nethttp.StatusNotFound:
		return zone.ENOTFOUND
	case nethttp.StatusConflict:
		return zone.ECONFLICT
	case nethttp.StatusUnprocessableEntity:
		return zone.EUNPROCESSABLE
	case nethttp.StatusServiceUnavailable:
		return zone.EUNAVAILABLE
	case nethttp.StatusInternalServerError:
		return zone.EINTERNAL
	}
	// e.g. 405 method_not_allowed, 413 request_entity_too_large.
	return strings.ReplaceAll(strings.ToLower(nethttp.StatusText(status)), " ", "_")
}

// ProblemOf turns any error into the problem body the caller sees. A
// *zone.Error anywhere in the chain decides the answer, so wrapping never
// turns a 404 into a 500; then an *echo.HTTPError keeps its status; anything
// else is a 500 whose cause stays out of the body.
func ProblemOf(err error) Problem {
	var ze *zone.Error
	if errors.As(err, &ze) {
		st := StatusOf(ze.Code)
		detail := ze.Message
		if st == nethttp.StatusInternalServerError {
			detail = "internal error"
		}
		return Problem{Type: problemBase + ze.Code, Title: nethttp.StatusText(st), Status: st,
			Detail: detail, Code: ze.Code, Errors: ze.Fields}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		st := he.Code
		if st < 400 || st > 599 {
			st = nethttp.StatusInternalServerError
		}
		code := codeOfStatus(st)
		detail := nethttp.StatusText(st)
		if m, ok := he.Message.(string); ok && m != "" && st < 500 {
			detail = m
		}
		return Problem{Type: problemBase + code, Title: nethttp.StatusText(st), Status: st,
			Detail: detail, Code: code}
	}
	return Problem{Type: problemBase + zone.EINTERNAL, Title: nethttp.StatusText(nethttp.StatusInternalServerError),
		Status: nethttp.StatusInternalServerError, Detail: "internal error", Code: zone.EINTERNAL}
}

// WriteProblem renders err as application/problem+json. Handlers normally
// return the error and let ErrorHandler call this.
func WriteProblem(c echo.Context, err error) error {
	p := ProblemOf(err)
	p.Instance = c.Request().URL.Path
	p.RequestID = RequestIDOf(c)
	if p.Status == nethttp.StatusUnauthorized && c.Response().Header().Get("WWW-Authenticate") == "" { // a handler may challenge for Basic
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="bondgate"`)
	}
	if c.Request().Method == nethttp.MethodHead {
		return c.NoContent(p.Status)
	}
	c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
	c.Response().WriteHeader(p.Status)
	return jsonEncode(c.Response(), p)
}

// ErrorHandler is the one place errors become HTTP answers. Server errors are
// logged with their cause; client errors are not, to keep logs about us.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	if log == nil {
		log = slog.Default()
	}
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			// Too late to change the answer; at least say so.
			LoggerOf(c, log).WarnContext(c.Request().Context(), "error after response was sent", "error", err.Error())
			return
		}
		p := ProblemOf(err)
		if p.Status >= 500 {
			LoggerOf(c, log).ErrorContext(c.Request().Context(), "request failed",
				"method", c.Request().Method, "path", c.Request().URL.Path,
				"status", p.Status, "error", causeOf(err))
		}
		if werr := WriteProblem(c, err); werr != nil {
			LoggerOf(c, log).WarnContext(c.Request().Context(), "writing problem response", "error", werr.Error())
		}
	}
}

// causeOf describes err for logs, including an echo error's internal cause.
func causeOf(err error) string {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Internal != nil {
		return fmt.Sprintf("%v: %v", he.Message, he.Internal)
	}
	return err.Error()
}
