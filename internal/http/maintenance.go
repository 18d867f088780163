package http

import (
	"context"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// Bonded maintenance (CONTRACT.md Part 2, "Maintenance visits" and
// "Write-off periods").
func (s *Server) routeMaintenance() {
	s.Handle(nethttp.MethodPost, "/maintenance/visits", s.openVisit, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/maintenance/visits", s.listVisits, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/maintenance/visits/:id", s.getVisit, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/maintenance/visits/:id/task-cards", s.addTaskCard, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/maintenance/visits/:id/removed-parts", s.removePart, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/maintenance/visits/:id/removed-parts/:rid/disposition", s.disposePart, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/maintenance/visits/:id/removed-parts/:rid/disposition/approval", s.approveScrap, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/maintenance/visits/:id/outcome", s.concludeVisit, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/maintenance/ledger", s.maintenanceLedger, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/writeoffs", s.draftWriteOff, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/writeoffs", s.listWriteOffs, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/writeoffs/:id", s.getWriteOff, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/writeoffs/:id/submit", s.submitWriteOff, zone.RoleMRO)
	s.Handle(nethttp.MethodPost, "/writeoffs/:id/decision", s.decideWriteOff, zone.RoleCustoms)
}

func (s *Server) visits() (*zone.VisitService, error) {
	if s.cfg.Visits == nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "bonded maintenance is not available")
	}
	return s.cfg.Visits, nil
}

func (s *Server) writeOffs() (*zone.WriteOffService, error) {
	if s.cfg.WriteOffs == nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "write-offs are not available")
	}
	return s.cfg.WriteOffs, nil
}

// visitRequest is the body of POST /v1/maintenance/visits.
type visitRequest struct {
	Object                objectBody `json:"object"`
	InboundPreDeclaration string     `json:"inbound_predeclaration" validate:"required,max=64"`
	Scope                 string     `json:"scope" validate:"required,max=2000"`
	Customer              string     `json:"customer" validate:"required,max=256"`
	Foreign               bool       `json:"foreign"`
}

func (r visitRequest) visit() zone.Visit {
	return zone.Visit{Object: zone.Object{Kind: zone.ObjectKind(r.Object.Kind), ESN: r.Object.ESN, Model: r.Object.Model,
		Owner: r.Object.Owner, Registration: r.Object.Registration, Type: r.Object.Type, Description: r.Object.Description},
		InboundPreDeclaration: r.InboundPreDeclaration, Scope: r.Scope, Customer: r.Customer, Foreign: r.Foreign}
}

func (s *Server) openVisit(c echo.Context) error {
	// v is the value Validate checked (and may have completed).
	var v zone.Visit
	return createIdempotent(c, s.decode, s.visits,
		func(req *visitRequest) error { v = req.visit(); return joinInvalid(web.Validate(req), v.Validate()) },
		func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *visitRequest, idem *zone.Idempotency) (string, any, bool, error) {
			stored, replayed, err := svc.Open(ctx, p, v, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/maintenance/visits/" + stored.ID, stored, replayed, nil
		})
}

// created answers 201 with the record and its Location (none when
// location is empty).
func created(c echo.Context, replayed bool, location string, body any) error {
	if replayed {
		c.Response().Header().Set(HeaderIdempotentReplayed, "true")
	}
	if location != "" {
		c.Response().Header().Set(echo.HeaderLocation, location)
	}
	return web.JSON(c, nethttp.StatusCreated, body)
}

func (s *Server) getVisit(c echo.Context) error {
	return serve(c, s.visits, func(svc *zone.VisitService, ctx context.Context, p zone.Principal) (any, error) {
		return svc.Get(ctx, p, c.Param("id"))
	})
}

func (s *Server) listVisits(c echo.Context) error {
	return page(c, s.visits, nil, func(svc *zone.VisitService, ctx context.Context, p zone.Principal, cursor string, limit int) ([]*zone.Visit, string, error) {
		pg, err := svc.List(ctx, p, zone.VisitFilter{Status: zone.VisitStatus(c.QueryParam("status")), Cursor: cursor,
			Firm: c.QueryParam("firm"), Limit: limit})
		return pg.Items, pg.NextCursor, err
	})
}

type taskCardRequest struct {
	Number string `json:"number" validate:"required,max=64"`
	Title  string `json:"title" validate:"required,max=500"`
}

func (s *Server) addTaskCard(c echo.Context) error {
	return createIdempotent(c, s.decode, s.visits, validate[taskCardRequest],
		func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *taskCardRequest, idem *zone.Idempotency) (string, any, bool, error) {
			v, replayed, err := svc.AddTaskCard(ctx, p, c.Param("id"), req.Number, req.Title, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/maintenance/visits/" + v.ID, v.TaskCard(req.Number), replayed, nil
		})
}

type removedPartRequest struct {
	PartNumber string `json:"part_number" validate:"required,max=64"`
	Serial     string `json:"serial" validate:"required,max=64"`
	TaskCard   string `json:"task_card" validate:"required,max=64"`
}

func (s *Server) removePart(c echo.Context) error {
	return createIdempotent(c, s.decode, s.visits, validate[removedPartRequest],
		func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *removedPartRequest, idem *zone.Idempotency) (string, any, bool, error) {
			v, rp, replayed, err := svc.RemovePart(ctx, p, c.Param("id"),
				zone.RemovedPart{PartNumber: req.PartNumber, Serial: req.Serial, TaskCard: req.TaskCard}, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/maintenance/visits/" + v.ID, rp, replayed, nil
		})
}

type dispositionRequest struct {
	Kind           string `json:"kind" validate:"required,oneof=reexport return_to_owner scrap"`
	PreDeclaration string `json:"predeclaration" validate:"max=64"`
}

func (s *Server) disposePart(c echo.Context) error {
	return bindAndServe(c, s.strict, s.visits, func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *dispositionRequest) (any, error) {
		_, rp, err := svc.Dispose(ctx, p, c.Param("id"), c.Param("rid"), zone.DispositionKind(req.Kind), req.PreDeclaration)
		return rp, err
	})
}

type scrapApprovalRequest struct {
	Decision string `json:"decision" validate:"required,oneof=approve reject"`
	Reason   string `json:"reason" validate:"max=2000"`
}

func (s *Server) approveScrap(c echo.Context) error {
	return bindAndServe(c, s.strict, s.visits, func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *scrapApprovalRequest) (any, error) {
		_, rp, err := svc.DecideScrap(ctx, p, c.Param("id"), c.Param("rid"), req.Decision == "approve", req.Reason)
		return rp, err
	})
}

type outcomeRequest struct {
	Outcome string `json:"outcome" validate:"required,oneof=repaired unrepairable"`
}

func (s *Server) concludeVisit(c echo.Context) error {
	return bindAndServe(c, s.strict, s.visits, func(svc *zone.VisitService, ctx context.Context, p zone.Principal, req *outcomeRequest) (any, error) {
		return svc.Conclude(ctx, p, c.Param("id"), zone.VisitStatus(req.Outcome))
	})
}

// maintenanceLedgerColumns are the CSV columns: one row per material used
// and per removed part, each with its visit's columns.
var maintenanceLedgerColumns = []string{"visit_id", "firm", "object_kind", "object_id", "customer", "scope", "foreign",
	"deposit", "status", "opened_at", "entered_at", "outcome_at", "departed_at", "line", "task_card", "lot_id",
	"part_number", "serial", "quantity", "unit", "duty_exempted", "vat_exempted", "consumption_tax_exempted", "currency", "disposition", "disposition_status", "at"}

func (s *Server) maintenanceLedger(c echo.Context) error {
	return report(c, s.visits, func(svc *zone.VisitService, ctx context.Context, p zone.Principal, from, to time.Time) (zone.MaintenanceLedger, error) {
		return svc.Ledger(ctx, p, c.QueryParam("firm"), from, to)
	}, renderMaintenanceLedgerCSV)
}

func renderMaintenanceLedgerCSV(c echo.Context, lg zone.MaintenanceLedger) error {
	w := csvAttachment(c, "maintenance-ledger.csv", maintenanceLedgerColumns)
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, e := range lg.Visits {
		v := e.Visit
		id := v.Object.Registration
		if v.Object.Kind == zone.KindEngine {
			id = v.Object.ESN
		}
		head := []string{v.ID, v.Firm, string(v.Object.Kind), id, v.Customer, v.Scope, strconv.FormatBool(v.Foreign),
			v.Deposit, string(v.Status), ts(&v.CreatedAt), ts(v.EnteredAt), ts(v.OutcomeAt), ts(v.DepartedAt)}
		row := func(cells ...string) { _ = w.Write(append(append([]string{}, head...), cells...)) }
		row("visit", "", "", "", "", "", "", "", "", "", "", "", "", "")
		for _, m := range e.Materials {
			row("material_"+string(m.Kind), m.TaskCard, m.LotID, m.PartNumber, "", strconv.Itoa(m.Quantity), m.Unit,
				m.DutyExempted.Amount, m.VATExempted.Amount, m.ConsumptionTaxExempted.Amount, m.DutyExempted.Currency, "", "", ts(&m.At))
		}
		for _, r := range v.RemovedParts {
			kind, status := "", ""
			if d := r.Disposition; d != nil {
				kind, status = string(d.Kind), string(d.Status)
			}
			row("removed_part", r.TaskCard, "", r.PartNumber, r.Serial, "1", "EA", "", "", "", "", kind, status, ts(&r.RemovedAt))
		}
	}
	return w.Flush()
}

type writeOffRequest struct {
	From string `json:"from" validate:"required,max=10"`
	To   string `json:"to" validate:"required,max=10"`
}

func (s *Server) draftWriteOff(c echo.Context) error {
	check := func(req *writeOffRequest) error {
		if err := web.Validate(req); err != nil {
			return err
		}
		if _, _, err := zone.ParsePeriod(req.From, req.To); zone.ErrorCode(err) == zone.EINVALID {
			return err
		}
		return nil
	}
	return createIdempotent(c, s.decode, s.writeOffs, check,
		func(svc *zone.WriteOffService, ctx context.Context, p zone.Principal, req *writeOffRequest, idem *zone.Idempotency) (string, any, bool, error) {
			w, replayed, err := svc.Draft(ctx, p, req.From, req.To, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/writeoffs/" + w.ID, w, replayed, nil
		})
}

func (s *Server) getWriteOff(c echo.Context) error {
	return serve(c, s.writeOffs, func(svc *zone.WriteOffService, ctx context.Context, p zone.Principal) (any, error) {
		return svc.Get(ctx, p, c.Param("id"))
	})
}

// writeOffList is the body of GET /v1/writeoffs: one page, all of it.
type writeOffList struct {
	Items      []*zone.WriteOff `json:"items"`
	NextCursor string           `json:"next_cursor"`
}

func (s *Server) listWriteOffs(c echo.Context) error {
	svc, err := s.writeOffs()
	if err != nil {
		return err
	}
	items, err := svc.List(c.Request().Context(), web.PrincipalOf(c),
		zone.WriteOffFilter{Firm: c.QueryParam("firm"), Status: zone.WriteOffStatus(c.QueryParam("status"))})
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, writeOffList{Items: items})
}

func (s *Server) submitWriteOff(c echo.Context) error {
	return bindAndServe(c, s.optional, s.writeOffs, func(svc *zone.WriteOffService, ctx context.Context, p zone.Principal, _ *struct{}) (any, error) {
		return svc.Submit(ctx, p, c.Param("id"))
	})
}

type writeOffDecisionRequest struct {
	Decision string `json:"decision" validate:"required,oneof=verify return"`
	Reason   string `json:"reason" validate:"max=2000"`
}

func (s *Server) decideWriteOff(c echo.Context) error {
	return bindAndServe(c, s.strict, s.writeOffs, func(svc *zone.WriteOffService, ctx context.Context, p zone.Principal, req *writeOffDecisionRequest) (any, error) {
		return svc.Decide(ctx, p, c.Param("id"), req.Decision == "verify", strings.TrimSpace(req.Reason))
	})
}

// serve answers call's result as JSON 200: the service when it is
// configured, called with the request's context and principal.
func serve[S any](c echo.Context, service func() (S, error), call func(svc S, ctx context.Context, p zone.Principal) (any, error)) error {
	svc, err := service()
	if err != nil {
		return err
	}
	v, err := call(svc, c.Request().Context(), web.PrincipalOf(c))
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, v)
}

// binder reads a request body into v (strictly, or optionally empty).
type binder func(c echo.Context, v any) error

func (s *Server) strict(c echo.Context, v any) error { return web.BindStrict(c, v, s.cfg.BodyLimit) }

func (s *Server) optional(c echo.Context, v any) error {
	return web.BindOptional(c, v, s.cfg.BodyLimit)
}

// bindAndServe is serve for a request with a body: the service is checked
// before the body is read, so an unconfigured one answers 503 whatever the
// body.
func bindAndServe[S, R any](c echo.Context, bind binder, service func() (S, error),
	call func(svc S, ctx context.Context, p zone.Principal, req *R) (any, error)) error {
	svc, err := service()
	if err != nil {
		return err
	}
	var req R
	if err := bind(c, &req); err != nil {
		return err
	}
	v, err := call(svc, c.Request().Context(), web.PrincipalOf(c), &req)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, v)
}

// bodyReader reads a request body into v and returns its raw bytes, which
// the Idempotency-Key's body hash is taken over.
type bodyReader func(c echo.Context, v any) ([]byte, error)

// decode reads the body leniently enough for the domain to name every bad
// field at once; the caller validates.
func (s *Server) decode(c echo.Context, v any) ([]byte, error) {
	return web.DecodeBody(c, v, s.cfg.BodyLimit)
}

func (s *Server) strictBody(c echo.Context, v any) ([]byte, error) {
	return web.BindStrictBody(c, v, s.cfg.BodyLimit)
}

// validate checks a decoded body against its tags alone.
func validate[R any](req *R) error { return web.Validate(req) }

// createIdempotent answers a create that honours Idempotency-Key: the
// service, the body read then checked, the key, the call; 201 with the
// Location the call names, marked when it was a replay.
func createIdempotent[S, R any](c echo.Context, read bodyReader, service func() (S, error), check func(req *R) error,
	call func(svc S, ctx context.Context, p zone.Principal, req *R, idem *zone.Idempotency) (location string, body any, replayed bool, err error)) error {
	svc, err := service()
	if err != nil {
		return err
	}
	var req R
	raw, err := read(c, &req)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(&req); err != nil {
			return err
		}
	}
	idem, err := idempotencyOf(c, raw)
	if err != nil {
		return err
	}
	location, body, replayed, err := call(svc, c.Request().Context(), web.PrincipalOf(c), &req, idem)
	if err != nil {
		return err
	}
	return created(c, replayed, location, body)
}

// listPage is the body of a paged list: items (never null) and the cursor
// of the next page ("" at the end).
type listPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// page answers one page of a list as JSON 200: ?cursor= and ?limit= read
// (a bad limit joins the field errors fs the caller already found).
func page[S, T any](c echo.Context, service func() (S, error), fs []zone.FieldError,
	list func(svc S, ctx context.Context, p zone.Principal, cursor string, limit int) ([]T, string, error)) error {
	svc, err := service()
	if err != nil {
		return err
	}
	limit, fs := limitParam(c, fs)
	if len(fs) > 0 {
		return zone.Invalid(fs...)
	}
	items, next, err := list(svc, c.Request().Context(), web.PrincipalOf(c), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	return web.JSON(c, nethttp.StatusOK, listPage[T]{Items: items, NextCursor: next})
}
