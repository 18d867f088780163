package sim

// Playing gate hardware through its own protocols: a recorded ISAPI or
// ONVIF message posted as the camera posts it (Basic credentials, the
// camera's own clock), a Modbus TCP I/O module whose inputs the gate
// polls, and a sensor recording (.jsonl) told through those instead of
// the gate's JSON.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
)

// Camera is one hardware camera as a gate's device list names it.
type Camera struct {
	Device         string // the gate's device ID
	User, Password string // its HTTP Basic credentials
	// Direction is the lane direction ("in" or "out") the camera's
	// "forward" means, as its device list entry says.
	Direction string
}

// Poster posts hardware messages to one gate.
type Poster struct {
	GateURL     string
	HTTPClient  *http.Client // default: 30 s timeout
	MaxAttempts int          // tries on 503, 429 or a broken connection (default 8)
}

// ISAPI posts an alarm-host push (XML, or multipart with the pictures) for
// cam; nil once the gate answered 200, that is once it is stored.
func (p Poster) ISAPI(ctx context.Context, cam Camera, contentType string, body []byte) error {
	return p.post(ctx, "/v1/hardware/isapi/"+cam.Device, cam, contentType, body)
}

// ONVIF posts a WS-BaseNotification Notify for cam.
func (p Poster) ONVIF(ctx context.Context, cam Camera, body []byte) error {
	return p.post(ctx, "/v1/hardware/onvif/"+cam.Device, cam, "application/soap+xml; charset=utf-8", body)
}

func (p Poster) post(ctx context.Context, path string, cam Camera, contentType string, body []byte) error {
	client := p.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	attempts := p.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	url := strings.TrimRight(p.GateURL, "/") + path
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("sim: bad gate URL %q: %w", p.GateURL, err)
		}
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth(cam.User, cam.Password)
		status, answer := 0, []byte(nil)
		resp, err := client.Do(req)
		if err == nil {
			answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			status = resp.StatusCode
		}
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests &&
			status != http.StatusBadGateway && status != http.StatusGatewayTimeout:
			return fmt.Errorf("sim: %s refused %s's message (%d): %s", p.GateURL, cam.Device, status, problemDetail(answer))
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt >= attempts:
			why := fmt.Sprintf("HTTP %d", status)
			if err != nil {
				why = err.Error()
			}
			return fmt.Errorf("sim: gate at %s still unavailable after %d attempts: %s", p.GateURL, attempt, why)
		}
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

var (
	isapiTime = regexp.MustCompile(`<dateTime>[^<]*</dateTime>`)
	onvifTime = regexp.MustCompile(`UtcTime="[^"]*"`)
)

// Fixture is a recorded hardware message read from a file: its protocol,
// content type and body.
type Fixture struct {
	Protocol    string // isapi or onvif
	ContentType string
	Body        []byte
}

// ReadFixture reads a recorded ISAPI alert (XML, or a multipart body whose
// first line is its boundary) or ONVIF Notify. With now set, every time in
// it is moved to now, as the camera's clock would stamp it.
func ReadFixture(path string, now time.Time) (Fixture, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Fixture{}, fmt.Errorf("sim: %w", err)
	}
	f := Fixture{Body: raw}
	switch {
	case bytes.HasPrefix(raw, []byte("--")):
		line, _, _ := bytes.Cut(raw, []byte("\n"))
		f.Protocol, f.ContentType = "isapi", "multipart/form-data; boundary="+strings.TrimSpace(string(line[2:]))
	case bytes.Contains(raw, []byte("EventNotificationAlert")):
		f.Protocol, f.ContentType = "isapi", "application/xml"
	case bytes.Contains(raw, []byte("Notify")):
		f.Protocol, f.ContentType = "onvif", "application/soap+xml; charset=utf-8"
	default:
		return Fixture{}, fmt.Errorf("sim: %s is neither an ISAPI EventNotificationAlert (XML or multipart) nor an ONVIF Notify", path)
	}
	if !now.IsZero() {
		f.Body = isapiTime.ReplaceAll(f.Body, []byte("<dateTime>"+cameraClock(now)+"</dateTime>"))
		f.Body = onvifTime.ReplaceAll(f.Body, []byte(`UtcTime="`+now.UTC().Format(time.RFC3339Nano)+`"`))
	}
	return f, nil
}

// Play posts a fixture through its protocol for cam.
func (p Poster) Play(ctx context.Context, cam Camera, f Fixture) error {
	if f.Protocol == "onvif" {
		return p.ONVIF(ctx, cam, f.Body)
	}
	return p.ISAPI(ctx, cam, f.ContentType, f.Body)
}

// cameraClock is a time as an ISAPI camera set to Beijing time writes it.
func cameraClock(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04:05.000-07:00")
}

// IOModule is a Modbus TCP I/O module (github.com/simonvetter/modbus's
// server): its discrete inputs are beams' dry contacts, which the gate
// polls. Inputs start intact (true: a normally-closed beam not broken).
type IOModule struct {
	mu     sync.Mutex
	inputs []bool
	srv    *mb.ModbusServer
	Addr   string
}

// StartIOModule serves n discrete inputs on addr (host:port) until Close.
func StartIOModule(addr string, n int) (*IOModule, error) {
	m := &IOModule{inputs: make([]bool, n), Addr: addr}
	for i := range m.inputs {
		m.inputs[i] = true
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, Timeout: 30 * time.Second, MaxClients: 8,
		Logger: log.New(io.Discard, "", 0)}, m)
	if err != nil {
		return nil, fmt.Errorf("sim: I/O module on %s: %w", addr, err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("sim: I/O module on %s: %w", addr, err)
	}
	m.srv = srv
	return m, nil
}

// Set sets input i (false: the beam is broken, for normally-closed beams).
func (m *IOModule) Set(i int, v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i >= 0 && i < len(m.inputs) {
		m.inputs[i] = v
	}
}

// Close stops serving; a gate polling it then finds it silent.
func (m *IOModule) Close() error { return m.srv.Stop() }

// HandleDiscreteInputs answers the gate's poll.
func (m *IOModule) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int(req.Addr)+int(req.Quantity) > len(m.inputs) {
		return nil, mb.ErrIllegalDataAddress
	}
	return slices.Clone(m.inputs[req.Addr : req.Addr+req.Quantity]), nil
}

// HandleCoils is refused: the module's beams are discrete inputs.
func (m *IOModule) HandleCoils(*mb.CoilsRequest) ([]bool, error) { return nil, mb.ErrIllegalFunction }

// HandleHoldingRegisters is refused: the module has none.
func (m *IOModule) HandleHoldingRegisters(*mb.HoldingRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

// HandleInputRegisters is refused: the module has none.
func (m *IOModule) HandleInputRegisters(*mb.InputRegistersRequest) ([]uint16, error) {
	return nil, mb.ErrIllegalFunction
}

// HardwareOptions say how to tell a sensor recording through hardware.
type HardwareOptions struct {
	Poster
	File string // the recording (.jsonl)
	// Cameras are the ISAPI cameras by the kind of read they make
	// (stand_tag, vehicle_plate, aircraft_registration); a detection is
	// posted as an ANPR alert to the camera of each of its reads, or, with
	// no read, as a line detection to Cameras[""] if there is one.
	Cameras map[string]Camera
	// Module and Inputs: the recording's beam breaks become edges of the
	// module's inputs; Inputs maps "<segment><beam>" (e.g. "1A") to an
	// input. A break holds the input low for Hold (default 200 ms).
	Module *IOModule
	Inputs map[string]int
	Hold   time.Duration
	// Reads maps identity values to the values to post instead (as
	// Options.Reads).
	Reads map[string]string
	// Speed: 1 keeps the recording's pace (the default), 10 runs ten
	// times faster. Beams are sampled by the gate in real time, so there
	// is no "as fast as possible".
	Speed    float64
	Progress io.Writer
}

// HardwareResult counts what was played.
type HardwareResult struct {
	Events  int           `json:"events"`  // events read from the file
	Posted  int           `json:"posted"`  // ISAPI alerts the gate answered 200
	Edges   int           `json:"edges"`   // beam breaks made on the module
	Skipped int           `json:"skipped"` // events no configured device makes
	Elapsed time.Duration `json:"elapsed"`
}

// action is one thing due at a time of the replay.
type action struct {
	due  time.Duration
	line int
	do   func(context.Context) error
}

// ReplayHardware tells a recording through the hardware adapters: each
// camera detection as an ISAPI ANPR alert stamped with the clock of the
// moment it is sent, each camera heartbeat as a videoloss "inactive", each
// beam break as a falling edge of the module's input (the gate stamps it
// at the poll that sees it). Faults and devices with no counterpart are
// skipped. It returns once every alert was answered 200 and every beam
// restored.
func ReplayHardware(ctx context.Context, o HardwareOptions) (HardwareResult, error) {
	start := time.Now()
	var res HardwareResult
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Hold <= 0 {
		o.Hold = 200 * time.Millisecond
	}
	evs, err := readRecording(o.File)
	if err != nil {
		return res, err
	}
	res.Events = len(evs)
	if len(evs) == 0 {
		return res, fmt.Errorf("sim: %s holds no events", o.File)
	}
	first := evs[0].at
	for _, e := range evs {
		if e.at.Before(first) {
			first = e.at
		}
	}
	str := func(e *event, k string) string {
		var s string
		_ = json.Unmarshal(e.fields[k], &s)
		return s
	}
	// A recording device whose detections go to cameras sends its
	// heartbeats there too.
	camsOf := map[string][]Camera{}
	for _, e := range evs {
		if str(e, "type") == "camera.detection" {
			for _, c := range detectionCameras(e, o.Cameras) {
				if !slices.Contains(camsOf[str(e, "device_id")], c.cam) {
					camsOf[str(e, "device_id")] = append(camsOf[str(e, "device_id")], c.cam)
				}
			}
		}
	}
	var acts []action
	for _, e := range evs {
		due := time.Duration(float64(e.at.Sub(first)) / o.Speed)
		switch str(e, "type") {
		case "camera.detection":
			dir := str(e, "direction")
			for _, c := range detectionCameras(e, o.Cameras) {
				value := c.value
				if to, ok := o.Reads[value]; ok {
					value = to
				}
				acts = append(acts, action{due: due, line: e.line, do: func(ctx context.Context) error {
					body := alertXML(c.cam, "ANPR", value, c.confidence, dir, time.Now())
					if value == "" {
						body = alertXML(c.cam, "linedetection", "", 0, dir, time.Now())
					}
					if err := o.ISAPI(ctx, c.cam, "application/xml", body); err != nil {
						return err
					}
					res.Posted++
					return nil
				}})
			}
			if len(detectionCameras(e, o.Cameras)) == 0 {
				res.Skipped++
			}
		case "heartbeat":
			cams := camsOf[str(e, "device_id")]
			for _, cam := range cams {
				acts = append(acts, action{due: due, line: e.line, do: func(ctx context.Context) error {
					if err := o.ISAPI(ctx, cam, "application/xml", alertXML(cam, "videoloss", "", 0, "", time.Now())); err != nil {
						return err
					}
					res.Posted++
					return nil
				}})
			}
			if len(cams) == 0 {
				res.Skipped++ // a beam's heartbeat: the poller makes its own
			}
		case "infrared.break":
			var seg int
			_ = json.Unmarshal(e.fields["segment"], &seg)
			in, ok := o.Inputs[fmt.Sprintf("%d%s", seg, str(e, "beam"))]
			if !ok || o.Module == nil {
				res.Skipped++
				continue
			}
			acts = append(acts, action{due: due, line: e.line, do: func(context.Context) error {
				o.Module.Set(in, false)
				res.Edges++
				return nil
			}}, action{due: due + o.Hold, line: e.line, do: func(context.Context) error {
				o.Module.Set(in, true)
				return nil
			}})
		default:
			res.Skipped++
		}
	}
	slices.SortStableFunc(acts, func(a, b action) int { return int(a.due - b.due) })
	for _, a := range acts {
		if err := sleep(ctx, time.Until(start.Add(a.due))); err != nil {
			return finishHW(res, start), err
		}
		if err := a.do(ctx); err != nil {
			return finishHW(res, start), fmt.Errorf("line %d: %w", a.line, err)
		}
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%d events: %d ISAPI alerts stored, %d beam breaks on %s, %d skipped\n",
			res.Events, res.Posted, res.Edges, moduleAddr(o.Module), res.Skipped)
	}
	return finishHW(res, start), nil
}

func finishHW(res HardwareResult, start time.Time) HardwareResult {
	res.Elapsed = time.Since(start)
	return res
}

func moduleAddr(m *IOModule) string {
	if m == nil {
		return "no module"
	}
	return m.Addr
}

type cameraRead struct {
	cam        Camera
	value      string
	confidence float64
}

// detectionCameras is where a detection's reads go: the camera of each
// read's kind, or the "" camera for a detection with no read.
func detectionCameras(e *event, cams map[string]Camera) []cameraRead {
	var reads []struct {
		Kind       string  `json:"kind"`
		Value      string  `json:"value"`
		Confidence float64 `json:"confidence"`
	}
	_ = json.Unmarshal(e.fields["reads"], &reads)
	var out []cameraRead
	for _, r := range reads {
		if c, ok := cams[r.Kind]; ok {
			out = append(out, cameraRead{cam: c, value: r.Value, confidence: r.Confidence})
		}
	}
	if len(reads) == 0 {
		if c, ok := cams[""]; ok {
			out = append(out, cameraRead{cam: c})
		}
	}
	return out
}

// alertXML writes an EventNotificationAlert as an ISAPI camera sends it:
// ANPR with a plate (confidence 0..1 written as a percentage), a line
// detection, or a videoloss "inactive" (the camera's periodic all-is-well).
func alertXML(cam Camera, eventType, plate string, confidence float64, dir string, at time.Time) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var w bytes.Buffer
		_ = xml.EscapeText(&w, []byte(s))
		return w.String()
	}
	state := "active"
	if eventType == "videoloss" {
		state = "inactive"
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<channelID>1</channelID>
<dateTime>%s</dateTime>
<activePostCount>1</activePostCount>
<eventType>%s</eventType>
<eventState>%s</eventState>
<eventDescription>%s</eventDescription>
`, cameraClock(at), eventType, state, eventType)
	if eventType == "ANPR" {
		way := "forward"
		if dir != "" && cam.Direction != "" && dir != cam.Direction {
			way = "reverse"
		}
		fmt.Fprintf(&b, "<ANPR>\n<licensePlate>%s</licensePlate>\n<direction>%s</direction>\n<confidenceLevel>%d</confidenceLevel>\n</ANPR>\n",
			esc(plate), way, int(math.Round(confidence*100)))
	}
	b.WriteString("</EventNotificationAlert>\n")
	return b.Bytes()
}

// Rig is the hardware of a device list as a replay needs it: the ISAPI
// cameras by read kind (those with a dev_password) and one Modbus module's
// address, device and beam inputs.
type Rig struct {
	Cameras      map[string]Camera
	ModuleDevice string
	ModuleAddr   string
	Inputs       map[string]int // "<segment><beam>" → input
	InputCount   int            // inputs the module serves
}

// ParseRig reads a gate device list (fixtures/hardware/dev-devices.json).
func ParseRig(raw []byte) (Rig, error) {
	var list []struct {
		ID        string `json:"id"`
		Kind      string `json:"kind"`
		Direction string `json:"direction"`
		ReadKind  string `json:"read_kind"`
		Basic     *struct {
			User string `json:"user"`
		} `json:"basic"`
		DevPassword string `json:"dev_password"`
		Address     string `json:"address"`
		Inputs      []struct {
			Input   int    `json:"input"`
			Segment int    `json:"segment"`
			Beam    string `json:"beam"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return Rig{}, fmt.Errorf("sim: device list: %w", err)
	}
	r := Rig{Cameras: map[string]Camera{}, Inputs: map[string]int{}}
	for _, d := range list {
		switch {
		case d.Kind == "isapi" && d.Basic != nil && d.DevPassword != "":
			r.Cameras[d.ReadKind] = Camera{Device: d.ID, User: d.Basic.User, Password: d.DevPassword, Direction: d.Direction}
		case d.Kind == "modbus" && r.ModuleDevice == "":
			r.ModuleDevice, r.ModuleAddr = d.ID, d.Address
			for _, in := range d.Inputs {
				r.Inputs[fmt.Sprintf("%d%s", in.Segment, in.Beam)] = in.Input
				r.InputCount = max(r.InputCount, in.Input+1)
			}
		}
	}
	if len(r.Cameras) == 0 || r.ModuleDevice == "" {
		return r, errors.New("sim: the device list names no ISAPI camera with a dev_password or no Modbus module")
	}
	return r, nil
}
