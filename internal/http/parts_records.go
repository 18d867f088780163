package http

import (
	nethttp "net/http"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
)

// consignmentReport answers GET /v1/parts/consignment?supplier=&from=&to=:
// what was consumed or installed from each supplier's consignment stock.
func (s *Server) consignmentReport(c echo.Context) error {
	svc, err := s.parts()
	if err != nil {
		return err
	}
	from, to, err := period(c)
	if err != nil {
		return err
	}
	rep, err := svc.ConsignmentReport(c.Request().Context(), web.PrincipalOf(c), c.QueryParam("supplier"), from, to)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, rep)
}
