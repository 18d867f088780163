package http

import (
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
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
	if !wantsCSV(c.Request().Header.Get(echo.HeaderAccept)) {
		return web.JSON(c, nethttp.StatusOK, rep)
	}
	return renderConsignmentCSV(c, rep)
}

// consignmentColumns are the CSV columns: one row per consumption or
// installation, then a row per supplier, part number and unit with lot_id
// TOTAL (quantity, consumed and installed filled in).
var consignmentColumns = []string{"supplier", "firm", "lot_id", "part_number", "unit", "movement_id", "kind",
	"quantity", "serials", "aircraft_registration", "task_card", "task_card_aircraft", "at", "consumed", "installed"}

// renderConsignmentCSV writes the report as the supplier invoices from it,
// through the one CSV writer (cells made safe).
func renderConsignmentCSV(c echo.Context, rep zone.ConsignmentReport) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="consignment-report.csv"`)
	c.Response().WriteHeader(nethttp.StatusOK)
	w := newCSVWriter(c.Response())
	_ = w.Write(consignmentColumns)
	for _, x := range rep.Items {
		card, cardAircraft := "", ""
		if x.TaskCard != nil {
			card, cardAircraft = x.TaskCard.Number, x.TaskCard.AircraftRegistration
		}
		_ = w.Write([]string{x.Supplier, x.Firm, x.LotID, x.PartNumber, x.Unit, x.MovementID, string(x.Kind),
			strconv.Itoa(x.Quantity), strings.Join(x.Serials, " "), x.AircraftRegistration, card, cardAircraft,
			x.At.UTC().Format(time.RFC3339), "", ""})
	}
	for _, t := range rep.Totals {
		_ = w.Write([]string{t.Supplier, "", "TOTAL", t.PartNumber, t.Unit, "", "", strconv.Itoa(t.Consumed + t.Installed),
			"", "", "", "", "", strconv.Itoa(t.Consumed), strconv.Itoa(t.Installed)})
	}
	return w.Flush()
}
