package isapi

import (
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
	"github.com/bondgate/bondgate/internal/zone"
)

// DefaultGap is how long after its last repeat an active event still
// counts as the same one. Cameras repeat an active event about every
// second while it lasts.
const DefaultGap = 5 * time.Second

// maxEpisodes bounds what a Mapper remembers; a camera has a handful of
// event types and channels, so this is only reached by a broken one.
const maxEpisodes = 1024

// Mapper turns one camera's alerts into sensor events. An event repeated
// while active keeps the event ID of its first message, so the gate's
// seen-set stores it once. It remembers this in memory only: after a gate
// restart the next repeat of a still-active event is stored once more,
// as the same track.
type Mapper struct {
	Camera hardware.Camera
	Gap    time.Duration

	mu       sync.Mutex
	episodes map[string]*episode
}

type episode struct {
	id   string
	last time.Time
}

// Mapped is what one alert says to the gate.
type Mapped struct {
	Events []decide.SensorEvent
	// Fresh is set when the first event starts a new episode: its picture,
	// if any, is worth keeping.
	Fresh bool
}

// Map turns one alert into sensor events (none for alerts the gate has no
// use for: other channels, other event types, a detection ending).
func (m *Mapper) Map(a Alert) Mapped {
	cam := m.Camera
	if cam.Channel != 0 && a.ChannelID != 0 && a.ChannelID != cam.Channel {
		return Mapped{}
	}
	kind := strings.ToLower(a.EventType)
	ch := "ch" + strconv.Itoa(a.ChannelID)
	base := decide.SensorEvent{DeviceID: cam.Device, Time: a.Time, Segment: cam.Segment, Source: hardware.Source("isapi", cam.Device)}
	active := a.EventState == "active"
	switch kind {
	case "anpr", "linedetection", "fielddetection", "regionentrance", "regionexiting":
		plate := ""
		if a.ANPR != nil && !strings.EqualFold(a.ANPR.LicensePlate, "unknown") {
			plate = a.ANPR.LicensePlate
		}
		key := kind + "|" + ch + "|" + plate
		if !active {
			m.end(key)
			return Mapped{}
		}
		parts := []string{kind, ch, hardware.Stamp(a.Time)}
		if plate != "" {
			parts = append(parts, hardware.Hash(plate))
		}
		id, fresh := m.episode(key, a.Time, hardware.ID(parts...))
		ev := base
		ev.EventID, ev.Type, ev.TrackID = id, decide.EventDetection, id
		def := decide.ClassUnknown
		if kind == "anpr" {
			def = decide.ClassVehicle
		}
		ev.ObjectClass = a.Class()
		if ev.ObjectClass == "" || cam.ObjectClass != "" {
			ev.ObjectClass = cam.ClassOr(def)
		}
		reported := ""
		if a.ANPR != nil {
			reported = a.ANPR.Direction
		}
		ev.Direction = cam.Lane(reported)
		if plate != "" {
			ev.Reads = []decide.Read{{Kind: cam.ReadKindOr(zone.ReadVehiclePlate), Value: plate, Confidence: a.ANPR.ConfidenceLevel / 100}}
		}
		return Mapped{Events: []decide.SensorEvent{ev}, Fresh: fresh}
	case "videoloss", "tamperdetection", "shelteralarm":
		code := "videoloss"
		if kind != "videoloss" {
			code = decide.TamperCode
		}
		key := kind + "|" + ch
		if active {
			id, fresh := m.episode(key, a.Time, hardware.ID(kind, ch, hardware.Stamp(a.Time)))
			ev := base
			ev.EventID, ev.Type, ev.Code, ev.Message = id, decide.EventCameraFault, code, clip(a.EventDescription)
			return Mapped{Events: []decide.SensorEvent{ev}, Fresh: fresh}
		}
		var out []decide.SensorEvent
		if m.end(key) {
			ev := base
			ev.EventID, ev.Type, ev.Code, ev.State = hardware.ID(kind, ch, "cleared", hardware.Stamp(a.Time)), decide.EventCameraFault, code, decide.StateCleared
			out = append(out, ev)
		}
		if kind == "videoloss" {
			// The camera's periodic "all is well".
			ev := base
			ev.EventID, ev.Type = hardware.ID("heartbeat", ch, hardware.Stamp(a.Time)), decide.EventHeartbeat
			out = append(out, ev)
		}
		return Mapped{Events: out}
	}
	return Mapped{}
}

// episode returns the ID of the active event key names, starting one
// with id when there is none within the gap.
func (m *Mapper) episode(key string, at time.Time, id string) (string, bool) {
	gap := m.Gap
	if gap <= 0 {
		gap = DefaultGap
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.episodes == nil {
		m.episodes = map[string]*episode{}
	}
	if e, ok := m.episodes[key]; ok && at.Sub(e.last) <= gap && !at.Before(e.last.Add(-gap)) {
		if at.After(e.last) {
			e.last = at
		}
		return e.id, false
	}
	if len(m.episodes) >= maxEpisodes {
		for k, e := range m.episodes {
			if at.Sub(e.last) > gap {
				delete(m.episodes, k)
			}
		}
		if len(m.episodes) >= maxEpisodes {
			clear(m.episodes)
		}
	}
	m.episodes[key] = &episode{id: id, last: at}
	return id, true
}

// end forgets key's active event; it reports whether there was one.
func (m *Mapper) end(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.episodes[key]
	delete(m.episodes, key)
	return ok
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
