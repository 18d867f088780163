package http

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// Idempotency headers on creating POSTs.
const (
	// HeaderIdempotencyKey names a creating request so a retry is answered
	// with the first result instead of creating a second record.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed marks an answer that replays an earlier one.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

const (
	maxIdempotencyKeyLength = 255
	// maxListLimit is the largest ?limit= a list takes; without one the
	// services answer 100 items a page.
	maxListLimit = 500
)

// preDeclarationRequest is the body of POST /v1/predeclarations, as in
// CONTRACT.md. The tags catch shape errors; zone's Validate adds the rules
// that depend on the object's kind.
type preDeclarationRequest struct {
	Object        objectBody     `json:"object"`
	Direction     string         `json:"direction" validate:"required,oneof=in out"`
	Gate          string         `json:"gate" validate:"required,max=64,printascii"`
	Window        windowBody     `json:"window"`
	Regime        string         `json:"regime" validate:"required,oneof=bonded_maintenance temporary_entry_repair zero_tariff"`
	DeclaredValue moneyBody      `json:"declared_value"`
	HSCode        string         `json:"hs_code" validate:"required,numeric,min=6,max=10"`
	Conveyance    conveyanceBody `json:"conveyance"`
}

type objectBody struct {
	Kind         string `json:"kind" validate:"required,oneof=engine aircraft equipment parts"`
	ESN          string `json:"esn" validate:"max=64"`
	Model        string `json:"model" validate:"max=64"`
	Owner        string `json:"owner" validate:"max=256"`
	Registration string `json:"registration" validate:"max=32"`
	Type         string `json:"type" validate:"max=64"`
	Description  string `json:"description" validate:"max=1024"`
	PartNumber   string `json:"part_number" validate:"max=64"`
	Quantity     int    `json:"quantity" validate:"min=0,max=1000000"`
}

type windowBody struct {
	From time.Time `json:"from" validate:"required"`
	To   time.Time `json:"to" validate:"required"`
}

type moneyBody struct {
	Amount   string `json:"amount" validate:"required,max=32"`
	Currency string `json:"currency" validate:"required,len=3,uppercase"`
}

type conveyanceBody struct {
	StandTag     string `json:"stand_tag" validate:"max=64"`
	VehiclePlate string `json:"vehicle_plate" validate:"max=64"`
}

func (r preDeclarationRequest) declaration() zone.PreDeclaration {
	return zone.PreDeclaration{
		Object: zone.Object{
			Kind: zone.ObjectKind(r.Object.Kind), ESN: r.Object.ESN, Model: r.Object.Model,
			Owner: r.Object.Owner, Registration: r.Object.Registration, Type: r.Object.Type,
			Description: r.Object.Description, PartNumber: r.Object.PartNumber, Quantity: r.Object.Quantity,
		},
		Direction:     zone.Direction(r.Direction),
		Gate:          r.Gate,
		Window:        zone.Window{From: r.Window.From.UTC(), To: r.Window.To.UTC()},
		Regime:        zone.Regime(r.Regime),
		DeclaredValue: zone.Money{Amount: r.DeclaredValue.Amount, Currency: r.DeclaredValue.Currency},
		HSCode:        r.HSCode,
		Conveyance:    zone.Conveyance{StandTag: r.Conveyance.StandTag, VehiclePlate: r.Conveyance.VehiclePlate},
	}
}

// mergeInvalid joins the tag failures with the domain's, one entry per field
// (the tag's message wins), so a client sees every problem in one answer.
func mergeInvalid(tagErr error, d zone.PreDeclaration) error {
	domErr := d.Validate()
	if tagErr == nil {
		return domErr
	}
	if domErr == nil || zone.ErrorCode(tagErr) != zone.EINVALID {
		return tagErr
	}
	fs := zone.ErrorFields(tagErr)
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.Field] = true
	}
	for _, f := range zone.ErrorFields(domErr) {
		if !seen[f.Field] {
			fs = append(fs, f)
			seen[f.Field] = true
		}
	}
	return zone.Invalid(fs...)
}

func (s *Server) submitDeclaration(c echo.Context) error {
	if err := web.RequireJSON(c); err != nil {
		return err
	}
	raw, err := web.ReadBody(c, s.cfg.BodyLimit)
	if err != nil {
		return err
	}
	idem, err := idempotencyOf(c, raw)
	if err != nil {
		return err
	}
	var req preDeclarationRequest
	if err := web.DecodeStrict(raw, &req); err != nil {
		return err
	}
	d := req.declaration()
	if err := mergeInvalid(web.Validate(&req), d); err != nil {
		return err
	}
	stored, replayed, err := s.cfg.Declarations.Submit(c.Request().Context(), web.PrincipalOf(c), d, idem)
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set(HeaderIdempotentReplayed, "true")
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/predeclarations/"+stored.ID)
	return web.JSON(c, nethttp.StatusCreated, stored)
}

// idempotencyOf reads the Idempotency-Key header. The key is scoped to the
// caller, so two firms never collide, and the body is hashed so reusing a key
// for another request is caught.
func idempotencyOf(c echo.Context, raw []byte) (*zone.Idempotency, error) {
	key := c.Request().Header.Get(HeaderIdempotencyKey)
	if key == "" {
		return nil, nil
	}
	if len(key) > maxIdempotencyKeyLength || !web.PrintableASCII(key) {
		return nil, zone.Invalid(zone.FieldError{Field: HeaderIdempotencyKey,
			Message: "must be 1 to 255 printable ASCII characters"})
	}
	sum := sha256.Sum256(raw)
	return &zone.Idempotency{Scope: web.PrincipalOf(c).Actor(), Key: key, BodyHash: hex.EncodeToString(sum[:])}, nil
}

func (s *Server) getDeclaration(c echo.Context) error {
	d, err := s.cfg.Declarations.Get(c.Request().Context(), web.PrincipalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, d)
}

// declarationList is the body of GET /v1/predeclarations.
type declarationList struct {
	Items      []*zone.PreDeclaration `json:"items"`
	NextCursor string                 `json:"next_cursor"`
}

func (s *Server) listDeclarations(c echo.Context) error {
	f := zone.DeclarationFilter{
		Status: zone.Status(c.QueryParam("status")),
		Gate:   c.QueryParam("gate"),
		Cursor: c.QueryParam("cursor"),
		// The page is only written out: take the stored JSON as it is
		// rather than decoding every record to encode it again.
		RawJSON: true,
	}
	var fs []zone.FieldError
	if f.Limit, fs = limitParam(c, nil); len(fs) > 0 {
		return zone.Invalid(fs...)
	}
	page, err := s.cfg.Declarations.List(c.Request().Context(), web.PrincipalOf(c), f)
	if err != nil {
		return err
	}
	if page.Raw != nil {
		return writeRawList(c, page.Raw, page.NextCursor)
	}
	out := declarationList{Items: page.Items, NextCursor: page.NextCursor}
	if out.Items == nil {
		out.Items = []*zone.PreDeclaration{}
	}
	return web.JSON(c, nethttp.StatusOK, out)
}

// decisionRequest is a customs decision on a pre-declaration.
type decisionRequest struct {
	Decision string `json:"decision" validate:"required,oneof=clear reject inspect revoke"`
	Reason   string `json:"reason" validate:"max=2000"`
}

func (s *Server) decideDeclaration(c echo.Context) error {
	var req decisionRequest
	if err := web.BindStrict(c, &req, s.cfg.BodyLimit); err != nil {
		return err
	}
	d, err := s.cfg.Declarations.Decide(c.Request().Context(), web.PrincipalOf(c), c.Param("id"), zone.Action(req.Decision), req.Reason)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, d)
}

// cancelRequest is the optional body of a cancellation.
type cancelRequest struct {
	Reason string `json:"reason" validate:"max=2000"`
}

func (s *Server) cancelDeclaration(c echo.Context) error {
	var req cancelRequest
	if err := web.BindOptional(c, &req, s.cfg.BodyLimit); err != nil {
		return err
	}
	d, err := s.cfg.Declarations.Cancel(c.Request().Context(), web.PrincipalOf(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, d)
}

// arrivalRequest is the optional body of an arrival; At defaults to now.
type arrivalRequest struct {
	At *time.Time `json:"at"`
}

func (s *Server) arriveDeclaration(c echo.Context) error {
	var req arrivalRequest
	if err := web.BindOptional(c, &req, s.cfg.BodyLimit); err != nil {
		return err
	}
	d, err := s.cfg.Declarations.Arrive(c.Request().Context(), web.PrincipalOf(c), c.Param("id"), req.At)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, d)
}

// auditPage is the body of GET /v1/audit. Verified and Entries describe the
// whole chain when verify=true; otherwise Entries counts the items returned.
type auditPage struct {
	Verified  *bool             `json:"verified,omitempty"`
	Entries   int               `json:"entries"`
	Items     []zone.AuditEntry `json:"items"`
	FirstBad  *zone.AuditEntry  `json:"first_bad,omitempty"`
	Problem   string            `json:"problem,omitempty"`
	NextAfter uint64            `json:"next_after,omitempty"`
}

func (s *Server) audit(c echo.Context) error {
	if s.cfg.Audit == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "the audit trail is not available")
	}
	var fs []zone.FieldError
	verify := false
	if v := c.QueryParam("verify"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fs = append(fs, zone.FieldError{Field: "verify", Message: "must be true or false"})
		}
		verify = b
	}
	var after uint64
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			// Negative, not a number, or beyond uint64: never a wrapped value.
			fs = append(fs, zone.FieldError{Field: "after", Message: "must be an integer from 0 to 18446744073709551615"})
		}
		after = n
	}
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fs = append(fs, zone.FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"})
		}
		limit = n
	}
	if len(fs) > 0 {
		return zone.Invalid(fs...)
	}
	ctx := c.Request().Context()
	items, err := s.cfg.Audit.AuditEntries(ctx, after, limit)
	if err != nil {
		return err
	}
	out := auditPage{Items: items, Entries: len(items)}
	if out.Items == nil {
		out.Items = []zone.AuditEntry{}
	}
	if len(items) == limit {
		out.NextAfter = items[len(items)-1].Seq
	}
	if verify {
		v, err := s.cfg.Audit.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		out.Verified, out.Entries, out.FirstBad, out.Problem = &v.Verified, v.Entries, v.FirstBad, v.Problem
	}
	return web.JSON(c, nethttp.StatusOK, out)
}

// writeRawList writes {"items":[…],"next_cursor":"…"} from records already
// stored as JSON: the same document declarationList would encode.
func writeRawList(c echo.Context, items []json.RawMessage, next string) error {
	n := 64 + len(next)
	for _, it := range items {
		n += len(it) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it...)
	}
	buf = append(buf, `],"next_cursor":`...)
	cur, err := json.Marshal(next)
	if err != nil {
		return zone.Internal(err)
	}
	buf = append(buf, cur...)
	buf = append(buf, "}\n"...)
	return c.Blob(nethttp.StatusOK, echo.MIMEApplicationJSONCharsetUTF8, buf)
}
