package http

import (
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// routeZoneFeed adds what flows back from the gates (crossings, alarms), the
// statistics and the end of a declaration's life (close).
func (s *Server) routeZoneFeed() {
	s.Handle(nethttp.MethodPost, "/predeclarations/:id/close", s.closeDeclaration, zone.RoleMRO, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/crossings", s.listCrossings, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/alarms", s.listAlarms, zone.RoleCustoms)
	s.Handle(nethttp.MethodPost, "/alarms/:id/ack", s.ackAlarm, zone.RoleCustoms)
	s.Handle(nethttp.MethodGet, "/stats", s.stats, zone.RoleCustoms)
}

// crossingList is the body of GET /v1/crossings.
type crossingList struct {
	Items      []*zone.Crossing `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Server) listCrossings(c echo.Context) error {
	if s.cfg.Crossings == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "crossings are not available")
	}
	var fs []zone.FieldError
	f := zone.CrossingFilter{Gate: c.QueryParam("gate"), Cursor: c.QueryParam("cursor")}
	f.Since, fs = timeParam(c, "since", fs)
	f.Limit, fs = limitParam(c, fs)
	if len(fs) > 0 {
		return zone.Invalid(fs...)
	}
	page, err := s.cfg.Crossings.List(c.Request().Context(), web.PrincipalOf(c), f)
	if err != nil {
		return err
	}
	out := crossingList{Items: page.Items, NextCursor: page.NextCursor}
	if out.Items == nil {
		out.Items = []*zone.Crossing{}
	}
	return web.JSON(c, nethttp.StatusOK, out)
}

// closeRequest is the optional body of a close.
type closeRequest struct {
	Reason string `json:"reason" validate:"max=2000"`
}

func (s *Server) closeDeclaration(c echo.Context) error {
	var req closeRequest
	if err := web.BindOptional(c, &req, s.cfg.BodyLimit); err != nil {
		return err
	}
	d, err := s.cfg.Declarations.Close(c.Request().Context(), web.PrincipalOf(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, d)
}

// timeParamMessage is what a query time that parseTimeParam refuses is told.
const timeParamMessage = "must be an RFC 3339 time such as 2026-11-26T10:00:00Z or a date such as 2026-11-26"

// parseTimeParam reads a query parameter given as an RFC 3339 time or a
// date (YYYY-MM-DD, midnight UTC), in UTC.
func parseTimeParam(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, v)
}

// timeParam reads the optional query time name (zero when absent). Every
// time a query takes comes through here, so a malformed one and one outside
// the years zone.TimeInRange allows are refused alike, naming the parameter.
func timeParam(c echo.Context, name string, fs []zone.FieldError) (time.Time, []zone.FieldError) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, fs
	}
	t, err := parseTimeParam(v)
	switch {
	case err != nil:
		return time.Time{}, append(fs, zone.FieldError{Field: name, Message: timeParamMessage})
	case !zone.TimeInRange(t):
		return time.Time{}, append(fs, zone.FieldError{Field: name, Message: zone.TimeRangeMessage})
	}
	return t, fs
}

// limitParam reads ?limit= (1 to maxListLimit; 0 when absent).
func limitParam(c echo.Context, fs []zone.FieldError) (int, []zone.FieldError) {
	v := c.QueryParam("limit")
	if v == "" {
		return 0, fs
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, append(fs, zone.FieldError{Field: "limit", Message: "must be an integer from 1 to " + strconv.Itoa(maxListLimit)})
	}
	return n, fs
}
