package http

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/zone"
)

// consignmentReport answers GET /v1/parts/consignment?supplier=&from=&to=:
// what was consumed or installed from each supplier's consignment stock.
func (s *Server) consignmentReport(c echo.Context) error {
	return report(c, s.parts, func(svc *zone.PartsService, ctx context.Context, p zone.Principal, from, to time.Time) (zone.ConsignmentReport, error) {
		return svc.ConsignmentReport(ctx, p, c.QueryParam("supplier"), from, to)
	}, renderConsignmentCSV)
}

// consignmentColumns are the CSV columns: one row per consumption or
// installation, then a row per supplier, part number and unit with lot_id
// TOTAL (quantity, consumed and installed filled in).
var consignmentColumns = []string{"supplier", "firm", "lot_id", "part_number", "unit", "movement_id", "kind",
	"quantity", "serials", "aircraft_registration", "task_card", "task_card_aircraft", "at", "consumed", "installed"}

// renderConsignmentCSV writes the report as the supplier invoices from it,
// through the one CSV writer (cells made safe).
func renderConsignmentCSV(c echo.Context, rep zone.ConsignmentReport) error {
	w := csvAttachment(c, "consignment-report.csv", consignmentColumns)
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
