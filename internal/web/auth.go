package web

import (
	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/zone"
)

// principalKey is where Authenticate leaves the caller in the echo context.
const principalKey = "bondgate.principal"

// Authenticate resolves the Authorization bearer token to a zone.Principal
// and puts it in the context; a missing or unknown token is a 401 problem.
// The token itself is never logged or kept.
func Authenticate(tokens *zone.Tokens) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if tokens == nil {
				return zone.Errorf(zone.EUNAUTHORIZED, "no tokens are configured")
			}
			p, err := tokens.AuthenticateShared(c.Request().Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return err
			}
			c.Set(principalKey, p) // a pointer: boxing it allocates nothing
			return next(c)
		}
	}
}

// PrincipalOf returns the caller Authenticate found, or the zero Principal
// (no role) when the route is not authenticated.
func PrincipalOf(c echo.Context) zone.Principal {
	if p, _ := c.Get(principalKey).(*zone.Principal); p != nil {
		return *p
	}
	return zone.Principal{}
}

// Require refuses (403) callers without one of roles; with no roles any
// authenticated caller passes. Without an authenticated caller it answers
// 401, so a route that forgot Authenticate fails closed.
func Require(roles ...zone.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := PrincipalOf(c)
			if p.Role == "" {
				return zone.Errorf(zone.EUNAUTHORIZED, "a bearer token is required")
			}
			if len(roles) == 0 {
				return next(c)
			}
			if err := p.Require(roles...); err != nil {
				return err
			}
			return next(c)
		}
	}
}
