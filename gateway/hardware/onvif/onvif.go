// Package onvif reads ONVIF events: the WS-BaseNotification Notify a
// device pushes (SOAP 1.2), and the PullMessages answer of a PullPoint
// subscription. Each tt:Message becomes at most one sensor event: a line
// crossed, objects inside a field or motion a camera.detection; the end
// of a field or motion state a heartbeat; and a PropertyOperation
// "Initialized" (the state a device replays after every subscription) an
// event with state "initialized", which says the camera lives but is no
// new crossing evidence.
package onvif

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
)

// MaxBody bounds one Notify: a device sends a few messages per push.
const MaxBody = 256 << 10

// maxMessages bounds the messages one Notify may carry.
const maxMessages = 200

// Topics the gate understands, without their namespace prefix.
const (
	TopicLineCrossed  = "RuleEngine/LineDetector/Crossed"
	TopicFieldInside  = "RuleEngine/FieldDetector/ObjectsInside"
	TopicMotionAlarm  = "VideoSource/MotionAlarm"
	TopicCellMotion   = "RuleEngine/CellMotionDetector/Motion"
	TopicTamper       = "VideoSource/GlobalSceneChange/ImagingService"
	operationInit     = "Initialized"
	operationChanged  = "Changed"
	operationDeleted  = "Deleted"
	soapEnvelopeSpace = "http://www.w3.org/2003/05/soap-envelope"
)

// Message is one tt:Message with its topic.
type Message struct {
	Topic     string // without the namespace prefix, e.g. RuleEngine/LineDetector/Crossed
	Time      time.Time
	Operation string // Initialized, Changed or Deleted
	Source    map[string]string
	Data      map[string]string
}

type simpleItem struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:"Value,attr"`
}

type notificationMessage struct {
	Topic   string `xml:"Topic"`
	Message struct {
		Message struct {
			UtcTime           string       `xml:"UtcTime,attr"`
			PropertyOperation string       `xml:"PropertyOperation,attr"`
			Source            []simpleItem `xml:"Source>SimpleItem"`
			Data              []simpleItem `xml:"Data>SimpleItem"`
		} `xml:"Message"`
	} `xml:"Message"`
}

// Error is a refused message; Field names what is wrong.
type Error struct{ Field, Message string }

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// ParseNotify reads a SOAP 1.2 envelope whose body is a wsnt:Notify (push)
// or a PullMessagesResponse (pull); both carry NotificationMessages.
func ParseNotify(body []byte) ([]Message, error) {
	var env struct {
		XMLName struct{} `xml:"Envelope"`
		Body    struct {
			Notify []notificationMessage `xml:"Notify>NotificationMessage"`
			Pulled []notificationMessage `xml:"PullMessagesResponse>NotificationMessage"`
		} `xml:"Body"`
	}
	if err := hardware.Decode(body, MaxBody, &env); err != nil {
		var unsafe *hardware.ErrUnsafeXML
		if errors.As(err, &unsafe) {
			return nil, &Error{Field: "body", Message: unsafe.Why}
		}
		return nil, &Error{Field: "body", Message: fmt.Sprintf("must be a SOAP envelope with a Notify: %v", err)}
	}
	nms := append(env.Body.Notify, env.Body.Pulled...)
	if len(nms) > maxMessages {
		return nil, &Error{Field: "Notify", Message: fmt.Sprintf("carries more than %d messages", maxMessages)}
	}
	out := make([]Message, 0, len(nms))
	for i, nm := range nms {
		f := fmt.Sprintf("NotificationMessage[%d]", i)
		topic := strings.TrimSpace(nm.Topic)
		if j := strings.IndexByte(topic, ':'); j >= 0 {
			topic = topic[j+1:]
		}
		if topic == "" {
			return nil, &Error{Field: f + ".Topic", Message: "is required"}
		}
		tm := nm.Message.Message
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(tm.UtcTime))
		if err != nil {
			return nil, &Error{Field: f + ".Message.UtcTime", Message: "must be an xs:dateTime with its zone, e.g. 2026-11-26T02:15:02.120Z"}
		}
		op := tm.PropertyOperation
		switch op {
		case "", operationChanged:
			op = operationChanged
		case operationInit, operationDeleted:
		default:
			return nil, &Error{Field: f + ".Message.PropertyOperation", Message: "must be Initialized, Changed or Deleted"}
		}
		m := Message{Topic: topic, Time: t.UTC(), Operation: op, Source: map[string]string{}, Data: map[string]string{}}
		for _, it := range tm.Source {
			m.Source[it.Name] = it.Value
		}
		for _, it := range tm.Data {
			m.Data[it.Name] = it.Value
		}
		out = append(out, m)
	}
	return out, nil
}

// Events maps messages to the sensor events of camera cam. Topics the gate
// does not use map to nothing. A message re-sent (a retried push, a pull
// after a lost answer) maps to the same event ID.
func Events(cam hardware.Camera, msgs []Message) []decide.SensorEvent {
	var out []decide.SensorEvent
	for _, m := range msgs {
		ev := decide.SensorEvent{DeviceID: cam.Device, Time: m.Time, Segment: cam.Segment, Source: hardware.Source("onvif", cam.Device)}
		src := sourceKey(m.Source)
		short := shortTopic(m.Topic)
		if short == "" {
			continue
		}
		ev.EventID = hardware.ID(short, hardware.Stamp(m.Time), hardware.Hash(src+"|"+m.Operation+"|"+dataKey(m.Data)))
		if m.Operation != operationChanged {
			// Replayed state: the device lives, nothing crossed.
			ev.Type, ev.State = decide.EventHeartbeat, strings.ToLower(m.Operation)
			out = append(out, ev)
			continue
		}
		on := false
		switch m.Topic {
		case TopicLineCrossed:
			on = true
		case TopicFieldInside:
			on = isTrue(m.Data["IsInside"])
		case TopicMotionAlarm, TopicCellMotion:
			on = isTrue(m.Data["State"]) || isTrue(m.Data["IsMotion"])
		case TopicTamper:
			ev.Type, ev.Code = decide.EventCameraFault, decide.TamperCode
			if !isTrue(m.Data["State"]) {
				ev.State = decide.StateCleared
			}
			out = append(out, ev)
			continue
		}
		if !on {
			ev.Type = decide.EventHeartbeat
			out = append(out, ev)
			continue
		}
		ev.Type = decide.EventDetection
		ev.ObjectClass = cam.ClassOr(decide.ClassUnknown)
		if c := className(m.Data["ClassTypes"] + m.Data["ObjectType"]); c != "" && cam.ObjectClass == "" {
			ev.ObjectClass = c
		}
		ev.TrackID = ev.EventID
		if obj := m.Data["ObjectId"]; obj != "" {
			ev.TrackID = hardware.ID(short, hardware.Hash(src), obj)
		}
		ev.Direction = cam.Lane("")
		out = append(out, ev)
	}
	return out
}

func shortTopic(topic string) string {
	switch topic {
	case TopicLineCrossed:
		return "line"
	case TopicFieldInside:
		return "field"
	case TopicMotionAlarm, TopicCellMotion:
		return "motion"
	case TopicTamper:
		return "tamper"
	}
	return ""
}

func isTrue(v string) bool {
	return strings.EqualFold(strings.TrimSpace(v), "true") || strings.TrimSpace(v) == "1"
}

func className(v string) string {
	switch v = strings.ToLower(v); {
	case strings.Contains(v, "human"), strings.Contains(v, "person"), strings.Contains(v, "face"):
		return decide.ClassPerson
	case strings.Contains(v, "vehicle"):
		return decide.ClassVehicle
	}
	return ""
}

func sourceKey(m map[string]string) string { return dataKey(m) }

// dataKey is a stable rendering of SimpleItems.
func dataKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + m[k] + ";")
	}
	return b.String()
}
