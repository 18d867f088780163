package web

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// Security headers set on every answer of the zone API and the gate.
const (
	// JSONContentSecurityPolicy is the policy for JSON answers: nothing may
	// load, nothing may frame them.
	JSONContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
	// HSTSValue is sent on answers served over TLS: one year, subdomains
	// included (browsers ignore it on plain HTTP anyway).
	HSTSValue = "max-age=31536000; includeSubDomains"

	headerCSP  = "Content-Security-Policy"
	headerHSTS = "Strict-Transport-Security"
)

// SecurityHeaders sets, before the handler runs, the headers every answer
// carries: X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer,
// the JSON Content-Security-Policy, Cache-Control: no-store under /v1 (the
// answers hold declarations and tokens' results, never to be cached by a
// proxy), and Strict-Transport-Security when the request came over TLS.
// A route that serves something else (the console at /) overrides the
// policy with ContentSecurityPolicy; a handler may still set its own
// Cache-Control.
func SecurityHeaders() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// Assigned, not Set: the keys are canonical already, and the
			// shared one-element values cost no allocation per request.
			h := c.Response().Header()
			h[echo.HeaderXContentTypeOptions] = nosniffValues
			h[echo.HeaderReferrerPolicy] = noReferrerValues
			h[headerCSP] = jsonCSPValues
			if p := c.Request().URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
				h[echo.HeaderCacheControl] = noStoreValues
			}
			if c.Request().TLS != nil {
				h[headerHSTS] = hstsValues
			}
			return next(c)
		}
	}
}

// Header values shared by every answer. Each is full (len == cap), so an
// Add appends to a copy; Set and Del replace the entry; net/http only reads
// them. Nothing may write into them in place.
var (
	nosniffValues         = []string{"nosniff"}
	noReferrerValues      = []string{"no-referrer"}
	jsonCSPValues         = []string{JSONContentSecurityPolicy}
	noStoreValues         = []string{"no-store"}
	hstsValues            = []string{HSTSValue}
	jsonContentTypeValues = []string{echo.MIMEApplicationJSON}
)

// SetJSONContentType sets Content-Type: application/json on the answer
// without allocating; echo's Blob and JSON keep a Content-Type already set.
func SetJSONContentType(c echo.Context) {
	c.Response().Header()[echo.HeaderContentType] = jsonContentTypeValues
}

// ContentSecurityPolicy replaces the JSON policy SecurityHeaders set with
// policy, for one route or group (e.g. the HTML console at /). Use it as
// route middleware: it runs after SecurityHeaders.
func ContentSecurityPolicy(policy string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set(headerCSP, policy)
			return next(c)
		}
	}
}
