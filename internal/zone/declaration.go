package zone

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// ObjectKind is what crosses the gate.
type ObjectKind string

// Object kinds a pre-declaration may name.
const (
	KindEngine    ObjectKind = "engine"
	KindAircraft  ObjectKind = "aircraft"
	KindEquipment ObjectKind = "equipment"
	KindParts     ObjectKind = "parts"
)

// Direction of a move through a gate, seen from the zone.
type Direction string

// Directions.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// Regime is the customs regime a move is declared under.
type Regime string

// Regimes.
const (
	RegimeBondedMaintenance    Regime = "bonded_maintenance"
	RegimeTemporaryEntryRepair Regime = "temporary_entry_repair"
	RegimeZeroTariff           Regime = "zero_tariff"
)

// Object is the engine, aircraft, equipment or parts batch being moved.
// Which fields are required depends on Kind.
type Object struct {
	Kind         ObjectKind `json:"kind"`
	ESN          string     `json:"esn,omitempty"`          // engine serial number
	Model        string     `json:"model,omitempty"`        // engine model, e.g. GEnx-1B
	Owner        string     `json:"owner,omitempty"`        // the owner or operator
	Registration string     `json:"registration,omitempty"` // aircraft registration
	Type         string     `json:"type,omitempty"`         // aircraft type, e.g. A321
	Description  string     `json:"description,omitempty"`  // equipment or parts
	PartNumber   string     `json:"part_number,omitempty"`  // parts batch
	Quantity     int        `json:"quantity,omitempty"`     // parts batch
}

// Window is the booked time range during which the move may cross.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Contains reports whether t falls inside the window (both ends included).
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.From) && !t.After(w.To)
}

// Money is an amount in a currency. The amount stays a decimal string so no
// value is ever rounded through a float.
type Money struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// Conveyance holds the identifiers a gate camera will read.
type Conveyance struct {
	StandTag     string `json:"stand_tag,omitempty"`
	VehiclePlate string `json:"vehicle_plate,omitempty"`
}

// Status is a pre-declaration's state.
type Status string

// States of a pre-declaration.
const (
	StatusSubmitted  Status = "submitted"
	StatusInspection Status = "inspection"
	StatusCleared    Status = "cleared"
	StatusRejected   Status = "rejected"
	StatusRevoked    Status = "revoked"
	StatusCrossed    Status = "crossed"
	StatusArrived    Status = "arrived"
	StatusClosed     Status = "closed"
	StatusCancelled  Status = "cancelled"
	StatusExpired    Status = "expired"
)

// Statuses lists every state, for validation and docs.
var Statuses = []Status{StatusSubmitted, StatusInspection, StatusCleared, StatusRejected,
	StatusRevoked, StatusCrossed, StatusArrived, StatusClosed, StatusCancelled, StatusExpired}

// Valid reports whether s is a known state.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// Action moves a pre-declaration from one state to another.
type Action string

// Actions.
const (
	ActClear   Action = "clear"
	ActReject  Action = "reject"
	ActInspect Action = "inspect"
	ActRevoke  Action = "revoke"
	ActCancel  Action = "cancel"
	ActCross   Action = "cross"
	ActArrive  Action = "arrive"
	ActClose   Action = "close"
	ActExpire  Action = "expire"
)

// transitions is the whole state machine: (from, action) → to.
var transitions = map[Status]map[Action]Status{
	StatusSubmitted: {
		ActClear: StatusCleared, ActReject: StatusRejected, ActInspect: StatusInspection,
		ActCancel: StatusCancelled, ActExpire: StatusExpired,
	},
	StatusInspection: {
		ActClear: StatusCleared, ActReject: StatusRejected,
		ActCancel: StatusCancelled, ActExpire: StatusExpired,
	},
	StatusCleared: {
		ActCross: StatusCrossed, ActRevoke: StatusRevoked,
		ActCancel: StatusCancelled, ActExpire: StatusExpired,
	},
	// A crossing the gate authorized while its link was down can reach the
	// zone after the sweeper expired the declaration: it still happened.
	StatusExpired: {ActCross: StatusCrossed},
	StatusCrossed: {ActArrive: StatusArrived},
	StatusArrived: {ActClose: StatusClosed},
}

// NextStatus returns the state an action leads to from s, or ECONFLICT.
func NextStatus(s Status, a Action) (Status, error) {
	if to, ok := transitions[s][a]; ok {
		return to, nil
	}
	return "", Errorf(ECONFLICT, "cannot %s a pre-declaration that is %s", a, s)
}

// Transition is one recorded state change.
type Transition struct {
	From   Status    `json:"from"`
	To     Status    `json:"to"`
	Action Action    `json:"action"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// PreDeclaration is an MRO firm's advance declaration of one move through a
// gate. Once cleared by customs it is also the clearance a gate acts on; the
// clearance's ID is the declaration's.
type PreDeclaration struct {
	ID            string     `json:"id"`
	Firm          string     `json:"firm"`
	Object        Object     `json:"object"`
	Direction     Direction  `json:"direction"`
	Gate          string     `json:"gate"`
	Window        Window     `json:"window"`
	Regime        Regime     `json:"regime"`
	DeclaredValue Money      `json:"declared_value"`
	HSCode        string     `json:"hs_code"`
	Conveyance    Conveyance `json:"conveyance"`
	Status        Status     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// DecidedAt is when customs first cleared or rejected it (green-channel time).
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// ReleaseNote is issued by the clearing (release_note.go).
	ReleaseNote *ReleaseNote `json:"release_note,omitempty"`
	// Crossing facts, set when a gate reports the move.
	CrossingID string     `json:"crossing_id,omitempty"`
	CrossedAt  *time.Time `json:"crossed_at,omitempty"`
	// Late: the crossing reached the zone after the declaration had
	// expired (the gate's link was down past the window); an alarm of kind
	// late_crossing was raised with it.
	Late      bool       `json:"late,omitempty"`
	ArrivedAt *time.Time `json:"arrived_at,omitempty"`
	// TransitMinutes is gate → workshop, measured at arrival.
	TransitMinutes *float64     `json:"transit_minutes,omitempty"`
	History        []Transition `json:"history"`
	// Version counts changes; it lets consumers ignore stale events.
	Version int `json:"version"`
}

// Apply performs an action if the state machine allows it, recording who did
// it, when and why. An illegal action returns ECONFLICT and changes nothing.
func (d *PreDeclaration) Apply(a Action, actor string, at time.Time, reason string) error {
	to, err := NextStatus(d.Status, a)
	if err != nil {
		return err
	}
	at = at.UTC()
	d.History = append(d.History, Transition{From: d.Status, To: to, Action: a, Actor: actor, At: at, Reason: reason})
	d.Status = to
	d.UpdatedAt = at
	d.Version++
	return nil
}

// ClearanceActive reports whether a gate may let this move through at t.
func (d *PreDeclaration) ClearanceActive(t time.Time) bool {
	return d.Status == StatusCleared && d.Window.Contains(t)
}

// Identifiers returns the conveyance identities a gate camera may read for
// this move, by read kind.
func (d *PreDeclaration) Identifiers() []Identity {
	var ids []Identity
	if d.Conveyance.StandTag != "" {
		ids = append(ids, Identity{Kind: ReadStandTag, Value: d.Conveyance.StandTag})
	}
	if d.Conveyance.VehiclePlate != "" {
		ids = append(ids, Identity{Kind: ReadVehiclePlate, Value: d.Conveyance.VehiclePlate})
	}
	if d.Object.Kind == KindAircraft && d.Object.Registration != "" {
		ids = append(ids, Identity{Kind: ReadAircraftRegistration, Value: d.Object.Registration})
	}
	return ids
}

var (
	hsCodeRE   = regexp.MustCompile(`^[0-9]{6,10}$`)
	amountRE   = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,4})?$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// problems names the object's missing fields for its kind, or its kind when
// it is not one of allowed.
func (o Object) problems(allowed ...ObjectKind) []FieldError {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	blank := func(v string) bool { return strings.TrimSpace(v) == "" }
	if !slices.Contains(allowed, o.Kind) {
		names := make([]string, len(allowed))
		for i, k := range allowed {
			names[i] = string(k)
		}
		add("object.kind", "must be one of "+strings.Join(names, ", "))
		return fs
	}
	switch o.Kind {
	case KindEngine:
		if blank(o.ESN) {
			add("object.esn", "required for an engine")
		}
		if blank(o.Model) {
			add("object.model", "required for an engine")
		}
	case KindAircraft:
		if blank(o.Registration) {
			add("object.registration", "required for an aircraft")
		}
		if blank(o.Type) {
			add("object.type", "required for an aircraft")
		}
	case KindEquipment:
		if blank(o.Description) {
			add("object.description", "required for equipment")
		}
	case KindParts:
		if blank(o.Description) && blank(o.PartNumber) {
			add("object.description", "a parts batch needs a description or part_number")
		}
	}
	return fs
}

// Validate checks the rules a schema cannot express: object fields by kind,
// the window's order, a camera-readable identity, amounts and codes. It
// returns EINVALID naming every failing field.
func (d *PreDeclaration) Validate() error {
	var fs []FieldError
	add := func(f, m string) { fs = append(fs, FieldError{Field: f, Message: m}) }
	fs = append(fs, d.Object.problems(KindEngine, KindAircraft, KindEquipment, KindParts)...)
	if d.Direction != In && d.Direction != Out {
		add("direction", "must be in or out")
	}
	if strings.TrimSpace(d.Gate) == "" {
		add("gate", "required")
	}
	if d.Window.From.IsZero() {
		add("window.from", "required")
	}
	if d.Window.To.IsZero() {
		add("window.to", "required")
	}
	if !d.Window.From.IsZero() && !d.Window.To.IsZero() && !d.Window.To.After(d.Window.From) {
		add("window.to", "must be after window.from")
	}
	fs = timeProblems(fs, namedTime{"window.from", d.Window.From}, namedTime{"window.to", d.Window.To})
	switch d.Regime {
	case RegimeBondedMaintenance, RegimeTemporaryEntryRepair, RegimeZeroTariff:
	default:
		add("regime", "must be one of bonded_maintenance, temporary_entry_repair, zero_tariff")
	}
	if !amountRE.MatchString(d.DeclaredValue.Amount) {
		add("declared_value.amount", "must be a decimal string such as \"182000000.00\"")
	}
	if !currencyRE.MatchString(d.DeclaredValue.Currency) {
		add("declared_value.currency", "must be an ISO 4217 code such as CNY")
	}
	if !hsCodeRE.MatchString(d.HSCode) {
		add("hs_code", "must be 6 to 10 digits")
	}
	if len(d.Identifiers()) == 0 {
		add("conveyance", "needs a stand_tag or vehicle_plate (or, for an aircraft, its registration) for the gate cameras to read")
	}
	if len(fs) > 0 {
		return Invalid(fs...)
	}
	return nil
}
