package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
	"github.com/bondgate/bondgate/gateway/hardware/isapi"
	"github.com/bondgate/bondgate/gateway/hardware/modbus"
	"github.com/bondgate/bondgate/gateway/hardware/onvif"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// HardwareOptions tune the hardware adapters (README "Gate hardware").
type HardwareOptions struct {
	// SnapshotRetention is how long ANPR pictures are kept under the data
	// folder (default 7 days); SnapshotMaxBytes caps their total (default
	// 1 GiB): the oldest go first.
	SnapshotRetention time.Duration
	SnapshotMaxBytes  int64
	// RepeatGap is how long after its last repeat an active ISAPI event is
	// still the same one (default isapi.DefaultGap).
	RepeatGap time.Duration
	// ModbusFaultAfter is how long an I/O module may fail to answer before
	// an infrared.fault is stored (default 25 polls, at least 500ms).
	ModbusFaultAfter time.Duration
}

// adapters is the gate's per-device adapter state.
type adapters struct {
	mu        sync.Mutex
	isapi     map[string]*isapi.Mapper
	snapshots *snapshotStore
}

// hardwareRoutes adds the hardware adapters' endpoints. Each authenticates
// the device itself (see authenticateDevice), since cameras cannot send
// bearer tokens.
func (s *Service) hardwareRoutes(e *echo.Echo) {
	o := s.cfg.Hardware
	s.hw = &adapters{isapi: map[string]*isapi.Mapper{},
		snapshots: newSnapshotStore(s.cfg.DataDir, o.SnapshotRetention, o.SnapshotMaxBytes, s.log)}
	g := e.Group("/v1/hardware")
	g.POST("/isapi/:device_id", s.postISAPI)
	g.POST("/onvif/:device_id", s.postONVIF)
}

func camera(d Device) hardware.Camera {
	return hardware.Camera{Device: d.ID, Segment: d.Segment, Channel: d.Channel, Direction: d.Direction,
		ReadKind: d.ReadKind, ObjectClass: d.ObjectClass}
}

func (s *Service) isapiMapper(d Device) *isapi.Mapper {
	s.hw.mu.Lock()
	defer s.hw.mu.Unlock()
	m, ok := s.hw.isapi[d.ID]
	if !ok {
		m = &isapi.Mapper{Camera: camera(d), Gap: s.cfg.Hardware.RepeatGap}
		s.hw.isapi[d.ID] = m
	}
	return m
}

// postISAPI takes a camera's alarm-host push: XML or multipart with the
// picture. 200 once its events are fsynced (a repeat of an active event
// stores nothing new), 400 naming the XML field that is wrong.
func (s *Service) postISAPI(c echo.Context) error {
	d, err := s.authenticateDevice(c, c.Param("device_id"), DeviceISAPI)
	if err != nil {
		return err
	}
	body, err := web.ReadBody(c, isapi.MaxBody)
	if err != nil {
		return err
	}
	alert, pic, err := isapi.ParseRequest(c.Request().Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return protocolError(err)
	}
	m := s.isapiMapper(d)
	mapped := m.Map(alert)
	if pic != nil && mapped.Fresh && len(mapped.Events) > 0 {
		ref, err := s.hw.snapshots.put(d.ID, mapped.Events[0].EventID, pic.Data)
		if err != nil {
			return zone.Errorf(zone.EUNAVAILABLE, "could not store the picture: %v", err)
		}
		mapped.Events[0].Snapshot = ref
	}
	if _, err := s.ingestHardware(c, mapped.Events); err != nil {
		return err
	}
	return c.String(http.StatusOK, "OK")
}

// soapEmpty is the answer to a Notify: an empty SOAP 1.2 envelope.
const soapEmpty = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`

// postONVIF takes a WS-BaseNotification Notify; it answers an empty SOAP
// envelope once the events are fsynced.
func (s *Service) postONVIF(c echo.Context) error {
	d, err := s.authenticateDevice(c, c.Param("device_id"), DeviceONVIF)
	if err != nil {
		return err
	}
	body, err := web.ReadBody(c, onvif.MaxBody)
	if err != nil {
		return err
	}
	msgs, err := onvif.ParseNotify(body)
	if err != nil {
		return protocolError(err)
	}
	if _, err := s.ingestHardware(c, onvif.Events(camera(d), msgs)); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/soap+xml; charset=utf-8", []byte(soapEmpty))
}

// protocolError turns a parser's refusal into a 400 naming the field.
func protocolError(err error) error {
	var ie *isapi.Error
	if errors.As(err, &ie) {
		return zone.Invalid(zone.FieldError{Field: ie.Field, Message: ie.Message})
	}
	var oe *onvif.Error
	if errors.As(err, &oe) {
		return zone.Invalid(zone.FieldError{Field: oe.Field, Message: oe.Message})
	}
	return zone.Invalid(zone.FieldError{Field: "body", Message: err.Error()})
}

// ingestHardware stores events an adapter made through the gate's one
// durable ingest: the same parser (so what is stored reads back as any
// posted event), the same checks, the same committer and seen-set.
func (s *Service) ingestHardware(c echo.Context, events []decide.SensorEvent) ([]Accepted, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if err := s.limiter.admit(c, events); err != nil {
		s.metrics.rateLimited.Inc()
		return nil, err
	}
	return s.submitHardware(c.Request().Context(), events)
}

// submitHardware is ingestHardware without an HTTP request (the Modbus
// poller, the PullPoint client).
func (s *Service) submitHardware(ctx context.Context, events []decide.SensorEvent) ([]Accepted, error) {
	for i := range events {
		events[i].Gate = s.cfg.GateID
	}
	raw, err := json.Marshal(events)
	if err != nil {
		return nil, zone.Internal(err)
	}
	parsed, err := decide.ParseEvents(raw)
	if err != nil {
		return nil, err
	}
	if err := s.admit(parsed); err != nil {
		return nil, err
	}
	acc, err := s.committer.Submit(ctx, parsed)
	if err != nil {
		return nil, err
	}
	s.metrics.ingestRequests.Inc()
	for _, a := range acc {
		if !a.Duplicate {
			s.metrics.ingestEvents.Inc()
		}
	}
	return acc, nil
}

// runHardware runs the adapters that reach out to their devices (Modbus
// pollers, ONVIF PullPoint clients) until ctx is done.
func (s *Service) runHardware(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range s.cfg.Devices {
		if d.Kind == DeviceONVIF && d.ONVIFPull != "" {
			p := &onvif.PullPoint{URL: d.ONVIFPull, Camera: camera(d), Log: s.log, Submit: s.submitPolled}
			wg.Go(func() { _ = p.Run(ctx) })
			continue
		}
		if d.Kind != DeviceModbus {
			continue
		}
		beams := make([]modbus.Beam, len(d.Inputs))
		for i, in := range d.Inputs {
			beams[i] = modbus.Beam{Input: uint16(in.Input), Segment: in.Segment, Beam: in.Beam}
		}
		p, err := modbus.New(modbus.Config{Device: d.ID, Address: d.Address, Unit: uint8(d.Unit), Poll: d.Poll,
			Coils: d.Table == TableCoils, Rising: d.BreakEdge == EdgeRising, Beams: beams, Log: s.log,
			FaultAfter: s.cfg.Hardware.ModbusFaultAfter, Submit: s.submitPolled})
		if err != nil {
			s.log.Error("modbus device not polled", "device", d.ID, "err", err)
			continue
		}
		wg.Go(func() { _ = p.Run(ctx) })
	}
	wg.Wait()
}

// submitPolled stores the events of a poller or a PullPoint client. A batch the gate refuses as
// malformed (a bug: the poller made it) is logged and dropped rather than
// retried for ever; any other refusal is retried by the poller.
func (s *Service) submitPolled(ctx context.Context, events []decide.SensorEvent) error {
	_, err := s.submitHardware(ctx, events)
	if err != nil && zone.ErrorCode(err) == zone.EINVALID {
		s.log.Error("polled events refused as malformed; dropped", "events", len(events), "err", err)
		return nil
	}
	return err
}
