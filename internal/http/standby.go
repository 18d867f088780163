package http

import (
	nethttp "net/http"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// standbyWrites answers every write with 503 and the primary's Location
// while gate says this node is not the primary (a changelog standby):
// reads are served from its copy, writes go to the one node that may
// acknowledge them.
func standbyWrites(gate func() (primaryURL string, ok bool)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			switch c.Request().Method {
			case nethttp.MethodGet, nethttp.MethodHead, nethttp.MethodOptions:
				return next(c)
			}
			url, ok := gate()
			if ok {
				return next(c)
			}
			if url != "" {
				c.Response().Header().Set("Location", url+c.Request().URL.RequestURI())
			}
			c.Response().Header().Set("Retry-After", "1")
			return web.WriteProblem(c, zone.Errorf(zone.EUNAVAILABLE, "this node is a standby: send writes to the primary (Location)"))
		}
	}
}
