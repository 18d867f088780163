package web

import (
	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/zone"
)

// AuthenticateTokenOrCert is Authenticate for services that gate hardware
// calls (the gate service): a request with an Authorization header is
// judged by its bearer token alone, as with Authenticate; a request without
// one passes as the gate principal of its verified client certificate
// (mTLS, see tlsconf.GatePrincipal), if it has one; otherwise it is 401.
func AuthenticateTokenOrCert(tokens *zone.Tokens) echo.MiddlewareFunc {
	byToken := Authenticate(tokens)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withToken := byToken(next)
		return func(c echo.Context) error {
			if c.Request().Header.Get(echo.HeaderAuthorization) == "" {
				if p, ok := tlsconf.GatePrincipal(c.Request().TLS); ok {
					c.Set(principalKey, &p)
					return next(c)
				}
			}
			return withToken(c)
		}
	}
}
