package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxBodyBytes bounds one POST /v1/events: 1,000 events of a few hundred
// bytes each fit with a wide margin.
const maxBodyBytes = 8 << 20

// Status is the answer of GET /v1/status (CONTRACT.md "Gate service").
type Status struct {
	Gate             string         `json:"gate"`
	Link             string         `json:"link"` // up | down
	OutboxDepth      int            `json:"outbox_depth"`
	Clearances       int            `json:"clearances"`
	LastForwardedSeq uint64         `json:"last_forwarded_seq"`
	Sensors          []SensorStatus `json:"sensors"`
	// LastEventSeq is the seq of the last sensor event stored (acked).
	LastEventSeq uint64 `json:"last_event_seq"`
	// LastDecidedSeq is the seq of the last event the decider has taken
	// into a committed step; it reaches LastEventSeq when all is decided.
	LastDecidedSeq uint64 `json:"last_decided_seq"`
}

// SensorStatus is one device in GET /v1/status.
type SensorStatus struct {
	DeviceID string `json:"device_id"`
	LastSeen string `json:"last_seen,omitempty"`
	OK       bool   `json:"ok"`
	Problem  string `json:"problem,omitempty"`
}

func (s *Service) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = web.ErrorHandler(s.log)
	e.Use(web.Recover(), web.RequestID(), web.SecurityHeaders())
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", serveOpenAPI)
	auth := web.AuthenticateTokenOrCert(s.cfg.Tokens)
	// The group only answers paths under /v1 that no route serves (401
	// before 404). The routes get their middleware applied here, once:
	// echo would apply a group's and a route's middleware again on every
	// request, a few allocations each time.
	e.Group("/v1", auth)
	v1 := func(method, path string, h echo.HandlerFunc, require echo.MiddlewareFunc) {
		e.Add(method, "/v1"+path, auth(require(h)))
	}
	v1(http.MethodPost, "/events", s.postEvents, web.Require(zone.RoleGate))
	readers := web.Require(zone.RoleCustoms, zone.RoleGate)
	v1(http.MethodGet, "/events", s.getEvents, readers)
	v1(http.MethodGet, "/status", s.getStatus, readers)
	v1(http.MethodGet, "/crossings", s.getCrossings, readers)
	v1(http.MethodGet, "/clearances/:id", s.getClearance, readers)
	v1(http.MethodGet, "/admin/backup", s.getBackup, web.Require(zone.RoleCustoms, zone.RoleAuditor))
	s.hardwareRoutes(e) // devices authenticate themselves: cameras cannot send tokens
	return e
}

// ownGate refuses a gate token bound to another gate; customs passes.
func (s *Service) ownGate(c echo.Context) error {
	p := web.PrincipalOf(c)
	if p.Role == zone.RoleGate && p.Gate != s.cfg.GateID {
		return zone.Errorf(zone.EFORBIDDEN, "this token is for gate %s, not %s", p.Gate, s.cfg.GateID)
	}
	return nil
}

func (s *Service) postEvents(c echo.Context) error {
	if err := s.ownGate(c); err != nil {
		return err
	}
	body, err := web.ReadBody(c, maxBodyBytes)
	if err != nil {
		return err
	}
	events, err := decide.ParseEvents(body)
	if err != nil {
		return err
	}
	for i := range events {
		if events[i].Gate != s.cfg.GateID {
			return &zone.Error{Code: zone.EFORBIDDEN, Message: "event [" + strconv.Itoa(i) + "] is for gate " + events[i].Gate + "; this is " + s.cfg.GateID,
				Fields: []zone.FieldError{{Field: "[" + strconv.Itoa(i) + "].gate", Message: "must be " + s.cfg.GateID}}}
		}
	}
	if err := s.admit(events); err != nil {
		return err
	}
	if err := s.limiter.admit(c, events); err != nil {
		s.metrics.rateLimited.Inc()
		s.log.Warn("batch refused: device over its event rate", "devices", devicesOf(events))
		return err
	}
	acc, err := s.committer.Submit(c.Request().Context(), events)
	if err != nil {
		return err
	}
	s.metrics.ingestRequests.Inc()
	s.metrics.ingestBatch.Observe(float64(len(events)))
	fresh := 0
	for _, a := range acc {
		if !a.Duplicate {
			fresh++
		}
	}
	s.metrics.ingestEvents.Add(float64(fresh))
	if c.Request().URL.RawQuery != "" {
		return c.JSON(http.StatusAccepted, map[string]any{"accepted": acc}) // ?pretty indents
	}
	web.SetJSONContentType(c) // Blob keeps it, and this costs no allocation
	return c.Blob(http.StatusAccepted, echo.MIMEApplicationJSON, appendAcceptedJSON(make([]byte, 0, 64+64*len(acc)), acc))
}

// appendAcceptedJSON appends the 202 answer, {"accepted":[...]} and a
// newline, byte for byte as c.JSON would write it (json.Encoder, HTML
// escaping on), without reflection: it is written once per POST.
func appendAcceptedJSON(b []byte, acc []Accepted) []byte {
	if acc == nil {
		return append(b, `{"accepted":null}`+"\n"...)
	}
	b = append(b, `{"accepted":[`...)
	for i, a := range acc {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"event_id":`...)
		b = appendJSONString(b, a.EventID)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, a.Seq, 10)
		b = append(b, `,"duplicate":`...)
		b = strconv.AppendBool(b, a.Duplicate)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// appendJSONString appends s as a JSON string. Printable ASCII that needs
// no escape is copied; anything else goes through encoding/json, so the
// escapes (HTML characters, control bytes, invalid UTF-8, U+2028) stay
// exactly its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// sinceSeq reads the since_seq query parameter (default 0).
func sinceSeq(c echo.Context) (uint64, error) {
	v := c.QueryParam("since_seq")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, zone.Invalid(zone.FieldError{Field: "since_seq", Message: "must be an integer from 0 to 18446744073709551615"})
	}
	return n, nil
}

// limitParam reads limit (default and cap 1000).
func limitParam(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, zone.Invalid(zone.FieldError{Field: "limit", Message: "must be 1 to 1000"})
	}
	return n, nil
}

// pageParams reads since_seq and limit, the paging of the gate's reads.
func pageParams(c echo.Context) (since uint64, limit int, err error) {
	if since, err = sinceSeq(c); err != nil {
		return 0, 0, err
	}
	limit, err = limitParam(c)
	return since, limit, err
}

func (s *Service) getCrossings(c echo.Context) error {
	if err := s.ownGate(c); err != nil {
		return err
	}
	since, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	items, err := s.store.CrossingsAfter(since, limit)
	if err != nil {
		return zone.Internal(err)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

// HeldClearance is GET /v1/clearances/{id}: a clearance as this gate
// holds it, and the crossing that used it ("" while unused).
type HeldClearance struct {
	Clearance zone.Clearance `json:"clearance"`
	UsedBy    string         `json:"used_by"`
}

// getClearance says whether the gate holds a clearance, so a caller can
// wait for that one to arrive rather than watch a count that other
// clearances move too.
func (s *Service) getClearance(c echo.Context) error {
	if err := s.ownGate(c); err != nil {
		return err
	}
	cl, usedBy, ok := s.book.Get(c.Param("id"))
	if !ok {
		return zone.Errorf(zone.ENOTFOUND, "gate %s holds no clearance %q", s.cfg.GateID, c.Param("id"))
	}
	return c.JSON(http.StatusOK, HeldClearance{Clearance: cl, UsedBy: usedBy})
}

// RawEvent is one entry of GET /v1/events: the event as the hardware sent it.
type RawEvent struct {
	Seq   uint64          `json:"seq"`
	Event json.RawMessage `json:"event"`
}

func (s *Service) getEvents(c echo.Context) error {
	if err := s.ownGate(c); err != nil {
		return err
	}
	since, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	evs, err := s.store.EventsAfter(since, limit)
	if err != nil {
		return zone.Internal(err)
	}
	items := make([]RawEvent, len(evs))
	for i, e := range evs {
		items[i] = RawEvent{Seq: e.Seq, Event: e.Raw}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items})
}

func (s *Service) getStatus(c echo.Context) error {
	if err := s.ownGate(c); err != nil {
		return err
	}
	st, err := s.Status(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Service) readyz(c echo.Context) error {
	link := "down"
	if s.linkUp() {
		link = "up"
	}
	body := map[string]string{"store": "ok", "link": link}
	if p := s.link.Problem(); p != "" {
		body["kafka"] = p
	}
	if !s.ready.Load() {
		body["store"] = "starting"
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	// The gate decides and accepts with the link down, so a down link is
	// reported but does not make the gate unready.
	return c.JSON(http.StatusOK, body)
}

// devicesOf lists the distinct devices of a batch, for logs.
func devicesOf(events []decide.SensorEvent) []string {
	seen := map[string]bool{}
	var out []string
	for i := range events {
		if d := events[i].DeviceID; !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}
