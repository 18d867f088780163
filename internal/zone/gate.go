package zone

import "time"

// Read kinds a gate camera reports.
const (
	ReadStandTag             = "stand_tag"
	ReadVehiclePlate         = "vehicle_plate"
	ReadAircraftRegistration = "aircraft_registration"
)

// Identity is one identifier read at a gate: an engine-stand tag, a vehicle
// plate or an aircraft registration.
type Identity struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// ClearanceState says whether a gate may still act on a clearance.
type ClearanceState string

// Clearance states, as published on bondgate.zone.clearances.
const (
	ClearanceActive  ClearanceState = "active"  // cleared, usable inside its window
	ClearanceRevoked ClearanceState = "revoked" // withdrawn (revoked, cancelled or expired); gates drop it
	ClearanceUsed    ClearanceState = "used"    // consumed by a crossing
)

// Clearance is what a gate caches: customs' permission for one move through
// one gate, in one direction, inside one window. Its ID is the declaration's.
type Clearance struct {
	ID         string         `json:"id"`
	Firm       string         `json:"firm"`
	Gate       string         `json:"gate"`
	Direction  Direction      `json:"direction"`
	Window     Window         `json:"window"`
	ObjectKind ObjectKind     `json:"object_kind"`
	Identities []Identity     `json:"identities"`
	State      ClearanceState `json:"state"`
	// Version is the declaration's version when this was published; a gate
	// ignores a clearance event older than the one it holds.
	Version int       `json:"version"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
	// ReleaseNote is the number of the declaration's release note; the
	// crossing that uses the clearance carries it.
	ReleaseNote string `json:"release_note,omitempty"`
}

// Matches reports whether a read at gate, in direction, at time t is covered
// by this clearance.
func (c *Clearance) Matches(gate string, dir Direction, id Identity, t time.Time) bool {
	if c.State != ClearanceActive || c.Gate != gate || c.Direction != dir || !c.Window.Contains(t) {
		return false
	}
	for _, ci := range c.Identities {
		if ci.Kind == id.Kind && normalizeIdentity(ci.Value) == normalizeIdentity(id.Value) {
			return true
		}
	}
	return false
}

// IdentitiesMatch reports whether two identities name the same thing once
// normalised as a clearance compares them (the gate uses it to tell two
// objects crossing at once apart).
func IdentitiesMatch(a, b Identity) bool {
	return a.Kind == b.Kind && normalizeIdentity(a.Value) == normalizeIdentity(b.Value)
}

// normalizeIdentity makes a camera read and a declared identifier comparable:
// case, spaces, dashes and the middle dot of Chinese plates do not count.
func normalizeIdentity(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch r {
		case ' ', '-', '·', '.', '_':
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		out = append(out, r)
	}
	return string(out)
}

// ClearanceOf derives the clearance a declaration currently grants.
func ClearanceOf(d *PreDeclaration, reason string) Clearance {
	st := ClearanceRevoked
	switch d.Status {
	case StatusCleared:
		st = ClearanceActive
	case StatusCrossed, StatusArrived, StatusClosed:
		st = ClearanceUsed
	}
	return Clearance{ID: d.ID, Firm: d.Firm, Gate: d.Gate, Direction: d.Direction, Window: d.Window,
		ObjectKind: d.Object.Kind, Identities: d.Identifiers(), State: st, Version: d.Version,
		Reason: reason, At: d.UpdatedAt, ReleaseNote: noteNumber(d)}
}

func noteNumber(d *PreDeclaration) string {
	if d.ReleaseNote == nil {
		return ""
	}
	return d.ReleaseNote.Number
}

// Decision is a gate's verdict on one crossing.
type Decision string

// Decisions.
const (
	DecisionAuthorized   Decision = "authorized"   // identity matches an active clearance
	DecisionUnauthorized Decision = "unauthorized" // identified but not cleared
	DecisionUnidentified Decision = "unidentified" // nobody could identify it
	DecisionPerson       Decision = "person"       // a person on the line
)

// Crossing is one decided passage through a gate, as published on
// bondgate.gate.crossings and served by GET /v1/crossings.
type Crossing struct {
	ID          string    `json:"id"`
	Seq         uint64    `json:"seq"`
	Gate        string    `json:"gate"`
	Segment     int       `json:"segment"`
	Decision    Decision  `json:"decision"`
	Direction   Direction `json:"direction"`
	ObjectClass string    `json:"object_class,omitempty"`
	ClearanceID string    `json:"clearance_id,omitempty"`
	ReleaseNote string    `json:"release_note,omitempty"` // the clearance's release-note number
	Identity    *Identity `json:"identity"`
	Time        time.Time `json:"time"`
	TrackIDs    []string  `json:"track_ids,omitempty"`
	Snapshot    string    `json:"snapshot,omitempty"`
	EventIDs    []string  `json:"event_ids,omitempty"` // the sensor events it was decided from
	DecidedAt   time.Time `json:"decided_at"`
}

// AlarmKind says why an alarm was raised.
type AlarmKind string

// Alarm kinds.
const (
	AlarmUnauthorized  AlarmKind = "unauthorized_crossing"
	AlarmUnidentified  AlarmKind = "unidentified_crossing"
	AlarmPerson        AlarmKind = "person_on_line"
	AlarmSensorFault   AlarmKind = "sensor_fault"
	AlarmSensorTamper  AlarmKind = "sensor_tamper"
	AlarmSensorSilent  AlarmKind = "sensor_silent"
	AlarmQuarantine    AlarmKind = "event_quarantined"
	AlarmStoreCorrupt  AlarmKind = "store_corrupt"
	AlarmOverdue       AlarmKind = "overdue"
	AlarmClearanceLate AlarmKind = "clearance_late"
	// AlarmEventAside: a gate set a stored sensor event aside because it
	// could not decide on it; it decides on without it.
	AlarmEventAside AlarmKind = "event_set_aside"
	// AlarmIDConflict: the zone received a crossing or alarm under an ID it
	// holds already with other content; the new one was not applied.
	AlarmIDConflict AlarmKind = "id_conflict"
)

// Alarm is something an officer must look at, as published on
// bondgate.gate.alarms.
type Alarm struct {
	ID       string    `json:"id"`
	Gate     string    `json:"gate,omitempty"`
	Kind     AlarmKind `json:"kind"`
	Severity Severity  `json:"severity"`
	Message  string    `json:"message"` // English, for logs and readers without Params
	// Params are the values Message was built from, named per Kind, so a
	// reader can word the alarm in its own language (the console does).
	Params     map[string]string `json:"params,omitempty"`
	CrossingID string            `json:"crossing_id,omitempty"`
	DeviceID   string            `json:"device_id,omitempty"`
	RecordID   string            `json:"record_id,omitempty"`
	Time       time.Time         `json:"time"`
	State      AlarmState        `json:"state"`
	AckedBy    string            `json:"acked_by,omitempty"`
	AckedAt    *time.Time        `json:"acked_at,omitempty"`
	AckNote    string            `json:"ack_note,omitempty"`
}
