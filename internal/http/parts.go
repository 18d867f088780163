package http

import (
	"context"
	"mime"
	nethttp "net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

func (s *Server) routeParts() {
	s.Handle(nethttp.MethodPost, "/parts/lots", s.createLot, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/parts/lots", s.listLots, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/parts/lots/:id", s.getLot, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/parts/lots/:id/movements", s.moveLot, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/parts/lots/:id/movements/:mid/approval", s.approveMovement, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/parts/lots/:id/ledger", s.lotLedger, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/parts/ledger", s.firmLedger, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/parts/consignment", s.consignmentReport, zone.RoleMRO, zone.RoleCustoms)
}

func (s *Server) parts() (*zone.PartsService, error) {
	if s.cfg.Parts == nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "the parts ledger is not available")
	}
	return s.cfg.Parts, nil
}

// lotRequest is the body of POST /v1/parts/lots, as in CONTRACT.md.
type lotRequest struct {
	PartNumber        string   `json:"part_number" validate:"required,max=64"`
	Description       string   `json:"description" validate:"max=1024"`
	Quantity          int      `json:"quantity" validate:"min=0,max=100000000"`
	Unit              string   `json:"unit" validate:"required,max=16"`
	Serials           []string `json:"serials" validate:"max=10000,dive,max=64"`
	ImportDeclaration string   `json:"import_declaration" validate:"required,max=64"`
	DutyExempted      taxBody  `json:"duty_exempted"`
	// Exempted is the three taxes; duty_exempted alone still means the duty.
	Exempted *taxesBody `json:"exempted"`
	Owner    *ownerBody `json:"owner"`
}

type taxesBody struct {
	Duty           taxBody `json:"duty"`
	VAT            taxBody `json:"vat"`
	ConsumptionTax taxBody `json:"consumption_tax"`
}

// taxBody is an exempted amount; the domain says which are required.
type taxBody struct {
	Amount   string `json:"amount" validate:"max=32"`
	Currency string `json:"currency" validate:"omitempty,len=3,uppercase"`
}

type ownerBody struct {
	Kind     string `json:"kind" validate:"required,oneof=own consignment"`
	Supplier string `json:"supplier" validate:"max=256"`
}

func (r lotRequest) lot() zone.PartsLot {
	l := zone.PartsLot{PartNumber: r.PartNumber, Description: r.Description, Quantity: r.Quantity, Unit: r.Unit,
		Serials: r.Serials, ImportDeclaration: r.ImportDeclaration,
		DutyExempted: zone.Money{Amount: r.DutyExempted.Amount, Currency: r.DutyExempted.Currency}}
	if x := r.Exempted; x != nil {
		m := func(b taxBody) zone.Money { return zone.Money{Amount: b.Amount, Currency: b.Currency} }
		l.Exempted = &zone.Taxes{Duty: m(x.Duty), VAT: m(x.VAT), ConsumptionTax: m(x.ConsumptionTax)}
	}
	if r.Owner != nil {
		l.Owner = zone.LotOwner{Kind: r.Owner.Kind, Supplier: r.Owner.Supplier}
	}
	return l
}

func (s *Server) createLot(c echo.Context) error {
	// l is the value Validate checked (and may have completed).
	var l zone.PartsLot
	return createIdempotent(c, s.decode, s.parts,
		func(req *lotRequest) error { l = req.lot(); return joinInvalid(web.Validate(req), l.Validate()) },
		func(svc *zone.PartsService, ctx context.Context, p zone.Principal, req *lotRequest, idem *zone.Idempotency) (string, any, bool, error) {
			stored, replayed, err := svc.CreateLot(ctx, p, l, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/parts/lots/" + stored.ID, stored.View(), replayed, nil
		})
}

func (s *Server) getLot(c echo.Context) error {
	svc, err := s.parts()
	if err != nil {
		return err
	}
	l, err := svc.Lot(c.Request().Context(), web.PrincipalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, l.View())
}

func (s *Server) listLots(c echo.Context) error {
	return page(c, s.parts, nil, func(svc *zone.PartsService, ctx context.Context, p zone.Principal, cursor string, limit int) ([]zone.LotView, string, error) {
		pg, err := svc.Lots(ctx, p, zone.PartsLotFilter{Firm: c.QueryParam("firm"), Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		views := make([]zone.LotView, 0, len(pg.Items))
		for _, l := range pg.Items {
			views = append(views, l.View())
		}
		return views, pg.NextCursor, nil
	})
}

// movementRequest is the body of POST /v1/parts/lots/{id}/movements.
type movementRequest struct {
	Kind                 string        `json:"kind" validate:"required,oneof=consume install exit_island return scrap pledge release_pledge"`
	Quantity             int           `json:"quantity" validate:"min=0,max=100000000"`
	Serial               string        `json:"serial" validate:"max=64"`
	Serials              []string      `json:"serials" validate:"max=10000,dive,max=64"`
	AircraftRegistration string        `json:"aircraft_registration" validate:"max=32"`
	TaskCard             *taskCardBody `json:"task_card"`
	GuaranteeRef         string        `json:"guarantee_ref" validate:"max=128"`
	Note                 string        `json:"note" validate:"max=2000"`
}

type taskCardBody struct {
	Number               string `json:"number" validate:"max=64"`
	AircraftRegistration string `json:"aircraft_registration" validate:"max=32"`
}

func (r movementRequest) movement() zone.Movement {
	m := zone.Movement{Kind: zone.MovementKind(r.Kind), Quantity: r.Quantity, Serials: r.Serials,
		AircraftRegistration: r.AircraftRegistration, GuaranteeRef: r.GuaranteeRef, Note: r.Note}
	if r.Serial != "" && !slices.Contains(m.Serials, r.Serial) {
		m.Serials = append([]string{r.Serial}, m.Serials...)
	}
	if r.TaskCard != nil {
		m.TaskCard = &zone.TaskCard{Number: r.TaskCard.Number, AircraftRegistration: r.TaskCard.AircraftRegistration}
	}
	return m
}

// movementAnswer is a lot as it stands after a movement, with the movement.
type movementAnswer struct {
	zone.LotView
	Movement *zone.Movement `json:"movement"`
}

// moveLot answers 201 without a Location: a movement has no URL of its own.
func (s *Server) moveLot(c echo.Context) error {
	return createIdempotent(c, s.strictBody, s.parts, nil,
		func(svc *zone.PartsService, ctx context.Context, p zone.Principal, req *movementRequest, idem *zone.Idempotency) (string, any, bool, error) {
			l, m, replayed, err := svc.Move(ctx, p, c.Param("id"), req.movement(), idem)
			if err != nil {
				return "", nil, false, err
			}
			return "", movementAnswer{LotView: l.View(), Movement: m}, replayed, nil
		})
}

// approvalRequest is customs' decision on a pending exit.
type approvalRequest struct {
	Decision string `json:"decision" validate:"required,oneof=approve reject"`
	Reason   string `json:"reason" validate:"max=2000"`
}

func (s *Server) approveMovement(c echo.Context) error {
	return bindAndServe(c, s.strict, s.parts, func(svc *zone.PartsService, ctx context.Context, p zone.Principal, req *approvalRequest) (any, error) {
		l, m, err := svc.Decide(ctx, p, c.Param("id"), c.Param("mid"), req.Decision == "approve", req.Reason)
		if err != nil {
			return nil, err
		}
		return movementAnswer{LotView: l.View(), Movement: m}, nil
	})
}

// period reads ?from=&to= (RFC 3339 or dates); both optional.
func period(c echo.Context) (from, to time.Time, err error) {
	var fs []zone.FieldError
	from, fs = timeParam(c, "from", fs)
	to, fs = timeParam(c, "to", fs)
	if len(fs) > 0 {
		return from, to, zone.Invalid(fs...)
	}
	return from, to, nil
}

// report answers a report over ?from=&to= as JSON, or through renderCSV
// when the client accepts text/csv and prefers it.
func report[S, T any](c echo.Context, service func() (S, error),
	call func(svc S, ctx context.Context, p zone.Principal, from, to time.Time) (T, error), renderCSV func(echo.Context, T) error) error {
	svc, err := service()
	if err != nil {
		return err
	}
	from, to, err := period(c)
	if err != nil {
		return err
	}
	r, err := call(svc, c.Request().Context(), web.PrincipalOf(c), from, to)
	if err != nil {
		return err
	}
	if !wantsCSV(c.Request().Header.Get(echo.HeaderAccept)) {
		return web.JSON(c, nethttp.StatusOK, r)
	}
	return renderCSV(c, r)
}

// csvAttachment starts a 200 CSV download named filename, its header row
// written, through the one CSV writer.
func csvAttachment(c echo.Context, filename string, columns []string) *csvWriter {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	c.Response().WriteHeader(nethttp.StatusOK)
	w := newCSVWriter(c.Response())
	_ = w.Write(columns)
	return w
}

func (s *Server) lotLedger(c echo.Context) error {
	return report(c, s.parts, func(svc *zone.PartsService, ctx context.Context, p zone.Principal, from, to time.Time) (zone.Ledger, error) {
		return svc.LotLedger(ctx, p, c.Param("id"), from, to)
	}, renderLedgerCSV)
}

func (s *Server) firmLedger(c echo.Context) error {
	return report(c, s.parts, func(svc *zone.PartsService, ctx context.Context, p zone.Principal, from, to time.Time) (zone.Ledger, error) {
		return svc.FirmLedger(ctx, p, c.QueryParam("firm"), from, to)
	}, renderLedgerCSV)
}

// ledgerColumns are the CSV columns, in order.
var ledgerColumns = []string{"lot_id", "firm", "part_number", "unit", "opening_balance", "imported", "consumed",
	"installed", "exited", "returned", "scrapped", "pledged", "released", "closing_balance",
	"opening_pledged", "closing_pledged", "currency", "duty_exempted", "duty_excepted", "duty_due",
	"vat_exempted", "consumption_tax_exempted", "ownership", "supplier"}

// renderLedgerCSV writes one row per lot, then one TOTAL row per unit and
// currency.
func renderLedgerCSV(c echo.Context, lg zone.Ledger) error {
	w := csvAttachment(c, "parts-ledger.csv", ledgerColumns)
	row := func(id string, x zone.LedgerLine) []string {
		n := strconv.Itoa
		return []string{id, x.Firm, x.PartNumber, x.Unit, n(x.Opening), n(x.Imported), n(x.Consumed),
			n(x.Installed), n(x.Exited), n(x.Returned), n(x.Scrapped), n(x.Pledged), n(x.Released), n(x.Closing),
			n(x.OpeningPledged), n(x.ClosingPledged), x.DutyExempted.Currency, x.DutyExempted.Amount,
			x.DutyExcepted.Amount, x.DutyDue.Amount, x.VATExempted.Amount, x.ConsumptionTaxExempted.Amount,
			x.Ownership, x.Supplier}
	}
	for _, x := range lg.Lots {
		_ = w.Write(row(x.LotID, x))
	}
	for _, x := range lg.Totals {
		_ = w.Write(row("TOTAL", x))
	}
	return w.Flush()
}

// wantsCSV reports whether Accept names text/csv ahead of (or without)
// JSON.
func wantsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case echo.MIMEApplicationJSON:
			return false
		}
	}
	return false
}
