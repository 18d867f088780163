package http

import (
	nethttp "net/http"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// alarmList is the body of GET /v1/alarms.
type alarmList struct {
	Items      []*zone.Alarm `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) listAlarms(c echo.Context) error {
	if s.cfg.Alarms == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "alarms are not available")
	}
	f := zone.AlarmFilter{State: zone.AlarmState(c.QueryParam("state")), Gate: c.QueryParam("gate"), Cursor: c.QueryParam("cursor")}
	var fs []zone.FieldError
	if f.Limit, fs = limitParam(c, nil); len(fs) > 0 {
		return zone.Invalid(fs...)
	}
	page, err := s.cfg.Alarms.List(c.Request().Context(), web.PrincipalOf(c), f)
	if err != nil {
		return err
	}
	out := alarmList{Items: page.Items, NextCursor: page.NextCursor}
	if out.Items == nil {
		out.Items = []*zone.Alarm{}
	}
	return web.JSON(c, nethttp.StatusOK, out)
}

// ackRequest is the body of POST /v1/alarms/{id}/ack. The body, and the
// note, may be left out: CONTRACT.md names the call without a body, and an
// officer's acknowledgement stands on its own (actor and time are recorded).
type ackRequest struct {
	Note string `json:"note" validate:"max=2000"`
}

func (s *Server) ackAlarm(c echo.Context) error {
	if s.cfg.Alarms == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "alarms are not available")
	}
	var req ackRequest
	if err := web.BindOptional(c, &req, s.cfg.BodyLimit); err != nil {
		return err
	}
	a, err := s.cfg.Alarms.Ack(c.Request().Context(), web.PrincipalOf(c), c.Param("id"), req.Note)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, a)
}
