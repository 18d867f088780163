package http

import (
	"context"
	nethttp "net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

func (s *Server) routeEquipment() {
	s.Handle(nethttp.MethodPost, "/equipment", s.registerEquipment, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/equipment", s.listEquipment, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/equipment/:id", s.getEquipment, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/equipment/:id/transfer", s.transferEquipment, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/equipment/:id/exit", s.exitEquipment, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/equipment/:id/return", s.returnEquipment, zone.RoleMRO)
}

func (s *Server) equipment() (*zone.EquipmentService, error) {
	if s.cfg.Equipment == nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "the equipment register is not available")
	}
	return s.cfg.Equipment, nil
}

// equipmentRequest is the body of POST /v1/equipment, as in CONTRACT.md.
type equipmentRequest struct {
	Description       string    `json:"description" validate:"required,max=1024"`
	Serial            string    `json:"serial" validate:"required,max=64"`
	HSCode            string    `json:"hs_code" validate:"required,max=10"`
	ImportDeclaration string    `json:"import_declaration" validate:"required,max=64"`
	ImportedAt        time.Time `json:"imported_at" validate:"required"`
	Exempted          struct {
		Duty moneyBody `json:"duty"`
		VAT  moneyBody `json:"vat"`
	} `json:"exempted"`
	SupervisionMonths int `json:"supervision_months" validate:"required,min=1,max=120"`
}

func (r equipmentRequest) item() zone.Equipment {
	m := func(b moneyBody) zone.Money { return zone.Money{Amount: b.Amount, Currency: b.Currency} }
	return zone.Equipment{Description: r.Description, Serial: r.Serial, HSCode: r.HSCode,
		ImportDeclaration: r.ImportDeclaration, ImportedAt: r.ImportedAt.UTC(),
		Exempted: zone.EquipmentTaxes{Duty: m(r.Exempted.Duty), VAT: m(r.Exempted.VAT)}, SupervisionMonths: r.SupervisionMonths}
}

func (s *Server) registerEquipment(c echo.Context) error {
	// q is the value Validate checked (and may have completed).
	var q zone.Equipment
	return createIdempotent(c, s.decode, s.equipment,
		func(req *equipmentRequest) error {
			q = req.item()
			return joinInvalid(web.Validate(req), q.Validate())
		},
		func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal, req *equipmentRequest, idem *zone.Idempotency) (string, any, bool, error) {
			stored, replayed, err := svc.Register(ctx, p, q, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/equipment/" + stored.ID, stored, replayed, nil
		})
}

func (s *Server) getEquipment(c echo.Context) error {
	return serve(c, s.equipment, func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal) (any, error) {
		return svc.Get(ctx, p, c.Param("id"))
	})
}

func (s *Server) listEquipment(c echo.Context) error {
	return page(c, s.equipment, nil, func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal, cursor string, limit int) ([]*zone.Equipment, string, error) {
		pg, err := svc.List(ctx, p, zone.EquipmentFilter{Firm: c.QueryParam("firm"), Cursor: cursor, Limit: limit})
		return pg.Items, pg.NextCursor, err
	})
}

// transferRequest is the body of POST /v1/equipment/{id}/transfer: kind
// transfer (the default) needs to_firm and eligible; leave_island needs
// neither.
type transferRequest struct {
	Kind     string    `json:"kind" validate:"omitempty,oneof=transfer leave_island"`
	ToFirm   string    `json:"to_firm" validate:"required_unless=Kind leave_island,max=256"`
	Eligible *bool     `json:"eligible" validate:"required_unless=Kind leave_island"`
	At       time.Time `json:"at" validate:"required"`
}

func (s *Server) transferEquipment(c echo.Context) error {
	return bindAndServe(c, s.strict, s.equipment, func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal, req *transferRequest) (any, error) {
		q, err := svc.Transfer(ctx, p, c.Param("id"), zone.TransferKind(req.Kind), req.ToFirm, req.Eligible != nil && *req.Eligible, req.At)
		if err != nil {
			return nil, err
		}
		return transferAnswer{Equipment: q, MakeUpTax: q.Transfer.MakeUpTax}, nil
	})
}

// transferAnswer is the item after its transfer, with what it owes on top.
type transferAnswer struct {
	*zone.Equipment
	MakeUpTax zone.EquipmentTaxes `json:"make_up_tax"`
}

// exitRequest is the body of POST /v1/equipment/{id}/exit.
type exitRequest struct {
	Reason   string `json:"reason" validate:"required,max=1024"`
	ReturnBy string `json:"return_by" validate:"required,max=10"`
}

func (s *Server) exitEquipment(c echo.Context) error {
	return bindAndServe(c, s.strict, s.equipment, func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal, req *exitRequest) (any, error) {
		return svc.ExitForRepair(ctx, p, c.Param("id"), req.Reason, req.ReturnBy)
	})
}

// returnEquipment takes no body: the item is back now.
func (s *Server) returnEquipment(c echo.Context) error {
	return serve(c, s.equipment, func(svc *zone.EquipmentService, ctx context.Context, p zone.Principal) (any, error) {
		return svc.ReturnFromRepair(ctx, p, c.Param("id"))
	})
}
