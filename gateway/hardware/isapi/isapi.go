// Package isapi reads the alarm-host pushes of ISAPI cameras (Hikvision
// style): an EventNotificationAlert XML document, alone or as the XML part
// of a multipart/form-data body carrying the pictures (ANPR). Alerts become
// the gate's sensor events: an ANPR plate a camera.detection with a read,
// line and field detection a camera.detection, video loss and tamper
// camera faults, a videoloss "inactive" a heartbeat.
package isapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"

	"github.com/bondgate/bondgate/gateway/hardware"
)

// Size bounds: an alert is a few kilobytes; an ANPR picture a few hundred.
const (
	MaxXML      = 64 << 10
	MaxPicture  = 4 << 20
	MaxBody     = 10 << 20
	maxParts    = 8
	maxPlateLen = 32
)

// Alert is what the gate reads of an EventNotificationAlert.
type Alert struct {
	ChannelID        int    `xml:"channelID"`
	DynChannelID     int    `xml:"dynChannelID"`
	DateTime         string `xml:"dateTime"`
	ActivePostCount  int    `xml:"activePostCount"`
	EventType        string `xml:"eventType"`
	EventState       string `xml:"eventState"`
	EventDescription string `xml:"eventDescription"`
	UUID             string `xml:"UUID"`
	TargetType       string `xml:"targetType"`
	ANPR             *ANPR  `xml:"ANPR"`
	Regions          []struct {
		DetectionTarget string `xml:"detectionTarget"`
		TargetType      string `xml:"targetType"`
	} `xml:"DetectionRegionList>DetectionRegionEntry"`

	Time time.Time `xml:"-"`
}

// ANPR is the plate part of an ANPR alert.
type ANPR struct {
	LicensePlate    string  `xml:"licensePlate"`
	ConfidenceLevel float64 `xml:"confidenceLevel"`
	Direction       string  `xml:"direction"`
	VehicleType     string  `xml:"vehicleType"`
}

// Picture is an image part of a multipart alert.
type Picture struct {
	Name        string
	ContentType string
	Data        []byte
}

// Error is a refused message; Field names the part of it that is wrong.
type Error struct{ Field, Message string }

func (e *Error) Error() string { return e.Field + ": " + e.Message }

func refuse(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ParseAlert reads one EventNotificationAlert document.
func ParseAlert(body []byte) (Alert, error) {
	var doc struct {
		XMLName struct{} `xml:"EventNotificationAlert"`
		Alert
	}
	if err := hardware.Decode(body, MaxXML, &doc); err != nil {
		var unsafe *hardware.ErrUnsafeXML
		if errors.As(err, &unsafe) {
			return Alert{}, refuse("body", "%s", unsafe.Why)
		}
		return Alert{}, refuse("body", "must be an EventNotificationAlert XML document: %v", err)
	}
	a := doc.Alert
	if a.ChannelID == 0 {
		a.ChannelID = a.DynChannelID
	}
	a.EventType = strings.TrimSpace(a.EventType)
	a.EventState = strings.ToLower(strings.TrimSpace(a.EventState))
	if a.EventType == "" {
		return a, refuse("eventType", "is required")
	}
	switch a.EventState {
	case "active", "inactive":
	case "":
		a.EventState = "active"
	default:
		return a, refuse("eventState", "must be active or inactive")
	}
	// A time without its offset is the camera's local time, which the gate
	// cannot place: refuse it rather than guess hours wrong.
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(a.DateTime))
	if err != nil {
		return a, refuse("dateTime", "must be a date-time with its offset, e.g. 2026-11-26T10:15:02+08:00 (set the camera's time zone)")
	}
	a.Time = t.UTC()
	if a.ANPR != nil {
		a.ANPR.LicensePlate = strings.TrimSpace(a.ANPR.LicensePlate)
		if len(a.ANPR.LicensePlate) > maxPlateLen {
			return a, refuse("ANPR.licensePlate", "must be at most %d bytes", maxPlateLen)
		}
		if c := a.ANPR.ConfidenceLevel; c < 0 || c > 100 {
			return a, refuse("ANPR.confidenceLevel", "must be 0 to 100")
		}
	}
	return a, nil
}

// ParseRequest reads a push as the camera sent it: XML, or multipart with
// one XML part and picture parts. body is already bounded by MaxBody.
func ParseRequest(contentType string, body []byte) (Alert, *Picture, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		a, err := ParseAlert(body)
		return a, nil, err
	}
	boundary := params["boundary"]
	if boundary == "" {
		return Alert{}, nil, refuse("Content-Type", "multipart needs a boundary")
	}
	return ParseMultipart(bytes.NewReader(body), boundary)
}

// ParseMultipart reads a multipart alert: the first XML part is the alert,
// the picture kept is the scene (detectionPicture) if sent, else the first
// image. Parts past their bound are refused, not truncated.
func ParseMultipart(r io.Reader, boundary string) (Alert, *Picture, error) {
	mr := multipart.NewReader(r, boundary)
	var (
		alert   *Alert
		picture *Picture
	)
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Alert{}, nil, refuse("body", "malformed multipart: %v", err)
		}
		if n >= maxParts {
			return Alert{}, nil, refuse("body", "more than %d parts", maxParts)
		}
		ct := part.Header.Get("Content-Type")
		name := part.FileName()
		if name == "" {
			name = part.FormName()
		}
		isXML := strings.Contains(ct, "xml") || strings.HasSuffix(strings.ToLower(name), ".xml")
		limit := int64(MaxPicture)
		if isXML {
			limit = MaxXML
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return Alert{}, nil, refuse("body", "malformed multipart: %v", err)
		}
		if int64(len(data)) > limit {
			return Alert{}, nil, refuse("part "+name, "is larger than %d bytes", limit)
		}
		switch {
		case isXML && alert == nil:
			a, err := ParseAlert(data)
			if err != nil {
				return Alert{}, nil, err
			}
			alert = &a
		case strings.HasPrefix(ct, "image/") || strings.HasSuffix(strings.ToLower(name), ".jpg"):
			if picture == nil || strings.Contains(name, "detectionPicture") {
				picture = &Picture{Name: name, ContentType: ct, Data: data}
			}
		}
	}
	if alert == nil {
		return Alert{}, nil, refuse("body", "holds no EventNotificationAlert XML part")
	}
	return *alert, picture, nil
}

// Class is the object class the alert names, "" when it says none.
func (a Alert) Class() string {
	words := []string{a.TargetType}
	for _, r := range a.Regions {
		words = append(words, r.DetectionTarget, r.TargetType)
	}
	if a.ANPR != nil {
		words = append(words, a.ANPR.VehicleType)
	}
	for _, w := range words {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "human", "person", "people":
			return "person"
		case "vehicle", "car", "truck", "bus", "vehicletype":
			return "vehicle"
		}
	}
	return ""
}
