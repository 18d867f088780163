package http

import (
	"bytes"
	"context"
	"encoding/json"
	nethttp "net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

func (s *Server) routeTemporaryEntries() {
	s.Handle(nethttp.MethodPost, "/temporary-entries", s.createTemporaryEntry, zone.RoleMRO)
	s.Handle(nethttp.MethodGet, "/temporary-entries", s.listTemporaryEntries, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/temporary-entries/:id", s.getTemporaryEntry, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/temporary-entries/:id/reexport", s.reexportTemporaryEntry, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/temporary-entries/:id/extension", s.extendTemporaryEntry, zone.RoleCustoms)
}

func (s *Server) temporaryEntries() (*zone.TemporaryEntryService, error) {
	if s.cfg.TemporaryEntries == nil {
		return nil, zone.Errorf(zone.EUNAVAILABLE, "temporary entries are not available")
	}
	return s.cfg.TemporaryEntries, nil
}

// temporaryEntryRequest is the body of POST /v1/temporary-entries, as in
// CONTRACT.md.
type temporaryEntryRequest struct {
	Object           objectBody    `json:"object"`
	Owner            string        `json:"owner" validate:"required,max=256"`
	EnteredAt        time.Time     `json:"entered_at"` // or the crossing of predeclaration_id
	Repair           string        `json:"repair" validate:"required,max=2000"`
	Guarantee        guaranteeBody `json:"guarantee"`
	PreDeclarationID string        `json:"predeclaration_id" validate:"max=64"`
}

type guaranteeBody struct {
	Kind   string      `json:"kind" validate:"required,oneof=exempt deposit bank_guarantee"`
	Amount *flexAmount `json:"amount"`
	// Currency goes with a bare amount ("amount":"500000.00"); default CNY.
	Currency string `json:"currency" validate:"omitempty,len=3,uppercase"`
}

// flexAmount is a guarantee amount given as a decimal string, a JSON number
// or a money object {"amount":"…","currency":"…"}.
type flexAmount struct {
	Amount   string
	Currency string
}

// UnmarshalJSON accepts the three forms.
func (a *flexAmount) UnmarshalJSON(raw []byte) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		return json.Unmarshal(raw, &a.Amount)
	case len(raw) > 0 && raw[0] == '{':
		var m struct {
			Amount   string `json:"amount"`
			Currency string `json:"currency"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return err
		}
		a.Amount, a.Currency = m.Amount, m.Currency
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return err
	}
	a.Amount = n.String()
	return nil
}

func (r temporaryEntryRequest) entry() zone.TemporaryEntry {
	e := zone.TemporaryEntry{
		Object: zone.Object{Kind: zone.ObjectKind(r.Object.Kind), ESN: r.Object.ESN, Model: r.Object.Model,
			Owner: r.Object.Owner, Registration: r.Object.Registration, Type: r.Object.Type, Description: r.Object.Description},
		Owner: r.Owner, EnteredAt: r.EnteredAt.UTC(), Repair: r.Repair,
		Guarantee:        zone.Guarantee{Kind: zone.GuaranteeKind(r.Guarantee.Kind)},
		PreDeclarationID: r.PreDeclarationID,
	}
	if a := r.Guarantee.Amount; a != nil {
		cur := a.Currency
		if cur == "" {
			cur = r.Guarantee.Currency
		}
		if cur == "" {
			cur = "CNY"
		}
		e.Guarantee.Amount = &zone.Money{Amount: a.Amount, Currency: cur}
	}
	return e
}

// joinInvalid merges the field lists of EINVALID errors (the first message
// for a field wins); any other error is returned as it is.
func joinInvalid(errs ...error) error {
	var fs []zone.FieldError
	seen := map[string]bool{}
	for _, err := range errs {
		if err == nil {
			continue
		}
		if zone.ErrorCode(err) != zone.EINVALID {
			return err
		}
		for _, f := range zone.ErrorFields(err) {
			if !seen[f.Field] {
				fs = append(fs, f)
				seen[f.Field] = true
			}
		}
	}
	if len(fs) == 0 {
		return nil
	}
	return zone.Invalid(fs...)
}

func (s *Server) createTemporaryEntry(c echo.Context) error {
	// e is the value Validate checked (and may have completed).
	var e zone.TemporaryEntry
	return createIdempotent(c, s.decode, s.temporaryEntries,
		func(req *temporaryEntryRequest) error {
			e = req.entry()
			return joinInvalid(web.Validate(req), e.Validate())
		},
		func(svc *zone.TemporaryEntryService, ctx context.Context, p zone.Principal, req *temporaryEntryRequest, idem *zone.Idempotency) (string, any, bool, error) {
			stored, replayed, err := svc.Create(ctx, p, e, idem)
			if err != nil {
				return "", nil, false, err
			}
			return "/v1/temporary-entries/" + stored.ID, stored, replayed, nil
		})
}

func (s *Server) getTemporaryEntry(c echo.Context) error {
	return serve(c, s.temporaryEntries, func(svc *zone.TemporaryEntryService, ctx context.Context, p zone.Principal) (any, error) {
		return svc.Get(ctx, p, c.Param("id"))
	})
}

func (s *Server) listTemporaryEntries(c echo.Context) error {
	f := zone.TemporaryEntryFilter{Status: zone.EntryStatus(c.QueryParam("status")), Firm: c.QueryParam("firm")}
	var fs []zone.FieldError
	if t, more := timeParam(c, "due_before", fs); len(more) > len(fs) {
		fs = more
	} else if !t.IsZero() {
		f.DueBefore = &t
	}
	return page(c, s.temporaryEntries, fs, func(svc *zone.TemporaryEntryService, ctx context.Context, p zone.Principal, cursor string, limit int) ([]*zone.TemporaryEntry, string, error) {
		f.Cursor, f.Limit = cursor, limit
		pg, err := svc.List(ctx, p, f)
		return pg.Items, pg.NextCursor, err
	})
}

func (s *Server) reexportTemporaryEntry(c echo.Context) error {
	return bindAndServe(c, s.optional, s.temporaryEntries, func(svc *zone.TemporaryEntryService, ctx context.Context, p zone.Principal, req *reexportRequest) (any, error) {
		return svc.Reexport(ctx, p, c.Param("id"), zone.ReexportEvidence{PreDeclaration: req.PreDeclaration, ExportDeclaration: req.ExportDeclaration})
	})
}

// reexportRequest is the evidence a re-export needs: one of the two.
type reexportRequest struct {
	PreDeclaration    string `json:"predeclaration" validate:"max=64"`
	ExportDeclaration string `json:"export_declaration" validate:"max=64"`
}

// extensionRequest is customs' extension of a re-export deadline.
type extensionRequest struct {
	Months int    `json:"months" validate:"required,min=1,max=6"`
	Reason string `json:"reason" validate:"required,max=2000"`
}

func (s *Server) extendTemporaryEntry(c echo.Context) error {
	return bindAndServe(c, s.strict, s.temporaryEntries, func(svc *zone.TemporaryEntryService, ctx context.Context, p zone.Principal, req *extensionRequest) (any, error) {
		return svc.Extend(ctx, p, c.Param("id"), req.Months, req.Reason)
	})
}
