package decide

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const corrGate = "G-MRO-1"

var corrT0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// newQuiet is a correlator that does not log noise into test output.
func newQuiet(cfg CorrelatorConfig) *Correlator {
	cfg.Logger = slog.New(slog.DiscardHandler)
	return NewCorrelator(cfg)
}

// corrBook is an in-memory ClearanceBook: the clearances a test lists, each
// usable once.
type corrBook struct {
	gate       string
	clearances []zone.Clearance
	used       map[string]bool
	claims     int
}

func newCorrBook(cs ...zone.Clearance) *corrBook {
	return &corrBook{gate: corrGate, clearances: cs, used: map[string]bool{}}
}

func (b *corrBook) Claim(id zone.Identity, dir zone.Direction, at time.Time) (string, bool) {
	for i := range b.clearances {
		c := &b.clearances[i]
		if !b.used[c.ID] && c.Matches(b.gate, dir, id, at) {
			b.used[c.ID] = true
			b.claims++
			return c.ID, true
		}
	}
	return "", false
}

// clearance is an active clearance at the test gate for one identity,
// usable all day.
func corrClearance(id string, dir zone.Direction, kind, value string) zone.Clearance {
	return zone.Clearance{ID: id, Firm: "HNA-TECHNIC", Gate: corrGate, Direction: dir,
		Window:     zone.Window{From: corrT0.Add(-12 * time.Hour), To: corrT0.Add(12 * time.Hour)},
		ObjectKind: zone.KindEngine, Identities: []zone.Identity{{Kind: kind, Value: value}},
		State: zone.ClearanceActive, Version: 1}
}

func corrAt(sec float64) time.Time { return corrT0.Add(time.Duration(sec * float64(time.Second))) }

// brk is an infrared break at sec seconds past T0.
func brkEv(sec float64, beam string, seg int) SensorEvent {
	return SensorEvent{EventID: fmt.Sprintf("IR-1-%s%d@%g", beam, seg, sec), DeviceID: "IR-1", Gate: corrGate,
		Time: corrAt(sec), Type: EventBreak, Beam: beam, Segment: seg}
}

// det is a camera detection; reads alternate kind, value, confidence.
func detEv(sec float64, trackID, class string, dir zone.Direction, reads ...Read) SensorEvent {
	return SensorEvent{EventID: fmt.Sprintf("CAM-1-%s@%g", trackID, sec), DeviceID: "CAM-1", Gate: corrGate,
		Time: corrAt(sec), Type: EventDetection, ObjectClass: class, TrackID: trackID, Direction: dir,
		Reads: reads, Snapshot: "nvr://cam-1/" + trackID + ".jpg"}
}

func readTag(v string, conf float64) Read {
	return Read{Kind: zone.ReadStandTag, Value: v, Confidence: conf}
}
func readPlate(v string, conf float64) Read {
	return Read{Kind: zone.ReadVehiclePlate, Value: v, Confidence: conf}
}

func hbEv(sec float64, device string) SensorEvent {
	return SensorEvent{EventID: fmt.Sprintf("%s-hb@%g", device, sec), DeviceID: device, Gate: corrGate, Time: corrAt(sec), Type: EventHeartbeat}
}

// corrDecided is what a test compares: one line per crossing or alarm.
type corrDecided struct {
	ID        string
	Decision  zone.Decision
	Direction zone.Direction
	Identity  string
	Clearance string
	Alarms    []zone.AlarmKind
}

func summarizeOutcomes(outs []Outcome) []corrDecided {
	var ds []corrDecided
	for _, o := range outs {
		d := corrDecided{}
		if x := o.Crossing; x != nil {
			d = corrDecided{ID: x.ID, Decision: x.Decision, Direction: x.Direction, Clearance: x.ClearanceID}
			if x.Identity != nil {
				d.Identity = x.Identity.Value
			}
		}
		for _, a := range o.Alarms {
			d.Alarms = append(d.Alarms, a.Kind)
			if o.Crossing != nil {
				if a.CrossingID != o.Crossing.ID {
					panic("alarm does not link its crossing")
				}
			} else if d.ID == "" {
				d.ID = a.ID
			}
		}
		ds = append(ds, d)
	}
	return ds
}

// runStream observes events with seq 1..n, moving the gate clock along with
// the events as a live gate would, then advances past the window.
func runStream(c *Correlator, book ClearanceBook, evs []SensorEvent) []Outcome {
	var outs []Outcome
	var last time.Time
	for i, ev := range evs {
		outs = append(outs, c.Observe(uint64(i+1), ev, book)...)
		outs = append(outs, c.Advance(ev.Time, book)...)
		if ev.Time.After(last) {
			last = ev.Time
		}
	}
	return append(outs, c.Advance(last.Add(c.cfg.Window+time.Second), book)...)
}

func TestCorrelatorDecisions(t *testing.T) {
	unauth := []zone.AlarmKind{zone.AlarmUnauthorized}
	unident := []zone.AlarmKind{zone.AlarmUnidentified}
	cases := []struct {
		name       string
		clearances []zone.Clearance
		events     []SensorEvent
		want       []corrDecided
	}{
		{
			name:       "stand tag read before an inbound pair authorizes",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events:     []SensorEvent{detEv(-2, "t-1", "engine", zone.In, readTag("STAND-0042", 0.97)), brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want:       []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"}},
		},
		{
			name:       "B then A is outbound and needs an outbound clearance",
			clearances: []zone.Clearance{corrClearance("PD-2", zone.Out, zone.ReadVehiclePlate, "琼A·D1234")},
			events:     []SensorEvent{brkEv(0, "B", 2), brkEv(1.5, "A", 2), detEv(3, "t-2", "vehicle", "", readPlate("琼AD1234", 0.91))},
			want:       []corrDecided{{ID: "X-G-MRO-1-2", Decision: zone.DecisionAuthorized, Direction: zone.Out, Identity: "琼AD1234", Clearance: "PD-2"}},
		},
		{
			name:       "cleared for the other direction is unauthorized",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events:     []SensorEvent{detEv(-1, "t-1", "engine", "", readTag("STAND-0042", 0.97)), brkEv(0, "B", 1), brkEv(1, "A", 1)},
			want:       []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnauthorized, Direction: zone.Out, Identity: "STAND-0042", Alarms: unauth}},
		},
		{
			name:   "identified but not cleared is unauthorized",
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(1, "B", 1), detEv(4, "t-9", "vehicle", zone.In, readPlate("琼B·77777", 0.95))},
			want:   []corrDecided{{ID: "X-G-MRO-1-2", Decision: zone.DecisionUnauthorized, Direction: zone.In, Identity: "琼B·77777", Alarms: unauth}},
		},
		{
			name:       "a read below the confidence threshold does not identify",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events:     []SensorEvent{detEv(-1, "t-1", "engine", zone.In, readTag("STAND-0042", 0.6)), brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want:       []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name:   "no camera at all is unidentified",
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(0.8, "B", 1)},
			want:   []corrDecided{{ID: "X-G-MRO-1-2", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name:       "a camera detection outside the window does not count",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events:     []SensorEvent{detEv(-15, "t-1", "engine", zone.In, readTag("STAND-0042", 0.99)), brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want:       []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name:       "a track moving the other way does not identify",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events:     []SensorEvent{detEv(-1, "t-1", "engine", zone.Out, readTag("STAND-0042", 0.99)), brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want:       []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name:   "a person alone on the line",
			events: []SensorEvent{detEv(0, "p-1", "person", zone.In), brkEv(0.2, "A", 3), brkEv(0.6, "B", 3)},
			want:   []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionPerson, Direction: zone.In, Alarms: []zone.AlarmKind{zone.AlarmPerson}}},
		},
		{
			name:       "a person beside a cleared engine is its crew",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events: []SensorEvent{detEv(-1, "p-1", "person", zone.In), detEv(-1, "t-1", "engine", zone.In, readTag("STAND-0042", 0.9)),
				brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want: []corrDecided{{ID: "X-G-MRO-1-4", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"}},
		},
		{
			name:   "an unknown object with no read is unidentified, not a person",
			events: []SensorEvent{detEv(0, "u-1", "unknown", ""), detEv(0, "p-1", "person", ""), brkEv(1, "A", 1), brkEv(2, "B", 1)},
			want:   []corrDecided{{ID: "X-G-MRO-1-4", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name: "one track identifies at most one crossing",
			events: []SensorEvent{detEv(0, "t-1", "vehicle", zone.In, readPlate("琼B·77777", 0.95)),
				brkEv(1, "A", 1), brkEv(2, "B", 1), brkEv(4, "A", 1), brkEv(5, "B", 1)},
			want: []corrDecided{
				{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnauthorized, Direction: zone.In, Identity: "琼B·77777", Alarms: unauth},
				{ID: "X-G-MRO-1-5", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident},
			},
		},
		{
			name:       "a clearance is consumed by its crossing",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events: []SensorEvent{detEv(0, "t-1", "engine", zone.In, readTag("STAND-0042", 0.95)), brkEv(1, "A", 1), brkEv(2, "B", 1),
				detEv(30, "t-2", "engine", zone.In, readTag("STAND-0042", 0.95)), brkEv(31, "A", 1), brkEv(32, "B", 1)},
			want: []corrDecided{
				{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"},
				{ID: "X-G-MRO-1-6", Decision: zone.DecisionUnauthorized, Direction: zone.In, Identity: "STAND-0042", Alarms: unauth},
			},
		},
		{
			name:       "segments are independent",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(0.1, "B", 2), brkEv(0.5, "B", 1), brkEv(0.7, "A", 2),
				detEv(1, "t-1", "engine", zone.In, readTag("STAND-0042", 0.95))},
			want: []corrDecided{
				{ID: "X-G-MRO-1-3", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0042", Clearance: "PD-1"},
				{ID: "X-G-MRO-1-4", Decision: zone.DecisionUnidentified, Direction: zone.Out, Alarms: unident},
			},
		},
		{
			name:   "breaks on different segments never pair; a lone break is noise",
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(0.5, "B", 2), brkEv(30, "A", 3)},
			want:   nil,
		},
		{
			name:   "a partner later than the window is not a pair",
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(12, "B", 1)},
			want:   nil,
		},
		{
			name:   "the same beam twice then its partner is one crossing",
			events: []SensorEvent{brkEv(0, "A", 1), brkEv(1, "A", 1), brkEv(2, "B", 1)},
			want:   []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
		{
			name:   "direction follows each event's own time, not arrival order",
			events: []SensorEvent{brkEv(1, "A", 1), brkEv(0.4, "B", 1)},
			want:   []corrDecided{{ID: "X-G-MRO-1-2", Decision: zone.DecisionUnidentified, Direction: zone.Out, Alarms: unident}},
		},
		{
			name:       "replayed initialized detections do not identify",
			clearances: []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042")},
			events: []SensorEvent{func() SensorEvent {
				e := detEv(-1, "t-1", "engine", zone.In, readTag("STAND-0042", 0.99))
				e.State = StateInitialized
				return e
			}(), brkEv(0, "A", 1), brkEv(1, "B", 1)},
			want: []corrDecided{{ID: "X-G-MRO-1-3", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: unident}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newQuiet(CorrelatorConfig{Gate: corrGate})
			book := newCorrBook(tc.clearances...)
			got := summarizeOutcomes(runStream(c, book, tc.events))
			assert.Equal(t, tc.want, got)
			// Once the gate has heard newer events, nothing old is held.
			last := tc.events[len(tc.events)-1].Time.Add(40 * time.Second)
			c.Observe(uint64(len(tc.events)+1), hbEv(last.Sub(corrT0).Seconds(), "IR-1"), book)
			c.Advance(last, book)
			assert.Zero(t, c.LowWater(), "nothing is held once the window passed")
		})
	}
}

func TestCorrelatorDecidesAuthorizedAtOnce(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook(corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042"))
	require.Empty(t, c.Observe(1, detEv(-1, "t-1", "engine", zone.In, readTag("STAND-0042", 0.97)), book))
	require.Empty(t, c.Observe(2, brkEv(0, "A", 1), book))
	outs := c.Observe(3, brkEv(0.5, "B", 1), book)
	require.Len(t, outs, 1, "the last beam decides when the read is already there")
	x := outs[0].Crossing
	require.NotNil(t, x)
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, "PD-1", x.ClearanceID)
	assert.Equal(t, uint64(3), x.Seq)
	assert.True(t, x.Time.Equal(corrAt(0.5)), "crossing time is the completing beam's")
	assert.Equal(t, "engine", x.ObjectClass)
	assert.Equal(t, []string{"t-1"}, x.TrackIDs)
	assert.Equal(t, "nvr://cam-1/t-1.jpg", x.Snapshot)
	assert.Equal(t, []string{"IR-1-A1@0", "IR-1-B1@0.5", "CAM-1-t-1@-1"}, x.EventIDs)
	assert.Empty(t, outs[0].Alarms)
}

func TestCorrelatorWaitsOutTheWindowBeforeUnidentified(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, Window: 5 * time.Second})
	book := newCorrBook(corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042"))
	c.Observe(1, brkEv(0, "A", 1), book)
	c.Observe(2, brkEv(1, "B", 1), book)
	assert.Empty(t, c.Advance(corrAt(6), book), "the window has not passed: a camera may still speak")
	assert.Equal(t, uint64(1), c.LowWater())

	// A late camera event inside the window still identifies it.
	outs := c.Observe(3, detEv(5.5, "t-1", "engine", zone.In, readTag("STAND-0042", 0.9)), book)
	require.Len(t, outs, 1)
	assert.Equal(t, zone.DecisionAuthorized, outs[0].Crossing.Decision)

	c.Observe(4, brkEv(20, "A", 1), book)
	c.Observe(5, brkEv(21, "B", 1), book)
	assert.Empty(t, c.Advance(corrAt(26), book))
	outs = c.Advance(corrAt(26.001), book)
	require.Len(t, outs, 1)
	assert.Equal(t, zone.DecisionUnidentified, outs[0].Crossing.Decision)
	a := outs[0].Alarms[0]
	assert.Equal(t, "A-G-MRO-1-5-unidentified_crossing", a.ID)
	assert.Equal(t, "X-G-MRO-1-5", a.CrossingID)
	assert.Equal(t, zone.SeverityCritical, a.Severity)
	assert.Equal(t, zone.AlarmOpen, a.State)
	assert.Zero(t, countCrossings(c.Advance(corrAt(100), book)), "decided once")
}

func TestCorrelatorGateClockNeverRunsBack(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook()
	c.Observe(1, brkEv(0, "A", 1), book)
	c.Observe(2, brkEv(1, "B", 1), book)
	require.Len(t, c.Advance(corrAt(12), book), 1)
	c.Observe(3, brkEv(13, "A", 1), book)
	c.Observe(4, brkEv(14, "B", 1), book)
	// A clock step back does not undo time already passed; the window of
	// the second crossing is measured on the gate clock from 14 s.
	assert.Empty(t, c.Advance(corrAt(-3600), book))
	assert.Len(t, c.Advance(corrAt(24.5), book), 1)
}

func TestCorrelatorIgnoresOtherGates(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	e1, e2 := brkEv(0, "A", 1), brkEv(1, "B", 1)
	e1.Gate, e2.Gate = "G-MAIN", "G-MAIN"
	c.Observe(1, e1, nil)
	c.Observe(2, e2, nil)
	assert.Empty(t, c.Advance(corrAt(60), nil))
	assert.Empty(t, c.Sensors())
}

func TestCorrelatorSensorHealth(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, SilentAfter: 30 * time.Second})
	book := newCorrBook()
	c.Observe(1, hbEv(0, "IR-1"), book)
	c.Observe(2, hbEv(0, "CAM-1"), book)
	c.Observe(3, hbEv(20, "IR-1"), book)
	assert.Empty(t, c.Advance(corrAt(30), book))

	outs := c.Advance(corrAt(31), book)
	require.Len(t, outs, 1, "CAM-1 went silent; IR-1 spoke at 20 s")
	a := outs[0].Alarms[0]
	assert.Equal(t, zone.AlarmSensorSilent, a.Kind)
	assert.Equal(t, "A-G-MRO-1-2-sensor_silent", a.ID)
	assert.Equal(t, "CAM-1", a.DeviceID)
	assert.True(t, a.Time.Equal(corrAt(30)))
	assert.Equal(t, []SensorState{
		{DeviceID: "CAM-1", LastSeen: corrAt(0), OK: false, Problem: "silent", LastSeq: 2, Silent: true},
		{DeviceID: "IR-1", LastSeen: corrAt(20), OK: true, LastSeq: 3},
	}, c.Sensors())

	outs = c.Advance(corrAt(90), book)
	require.Len(t, outs, 1, "IR-1 now silent too; CAM-1 is not reported twice")
	assert.Equal(t, "IR-1", outs[0].Alarms[0].DeviceID)
	assert.Empty(t, c.Advance(corrAt(300), book))

	// Recovery, then silence again, is a new alarm.
	assert.Empty(t, c.Observe(4, hbEv(301, "CAM-1"), book))
	assert.True(t, c.Sensors()[0].OK)
	outs = c.Advance(corrAt(332), book)
	require.Len(t, outs, 1)
	assert.Equal(t, "A-G-MRO-1-4-sensor_silent", outs[0].Alarms[0].ID)
}

func TestCorrelatorFaultsAndTamper(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	fault := SensorEvent{EventID: "IR-2-50", DeviceID: "IR-2", Gate: corrGate, Time: corrAt(5), Type: EventInfraredFault, Code: "E12", Message: "emitter dirty"}
	outs := c.Observe(7, fault, nil)
	require.Len(t, outs, 1)
	a := outs[0].Alarms[0]
	assert.Equal(t, zone.AlarmSensorFault, a.Kind)
	assert.Equal(t, "A-G-MRO-1-7-sensor_fault", a.ID)
	assert.Equal(t, zone.SeverityWarning, a.Severity)
	assert.Contains(t, a.Message, "emitter dirty")
	assert.Nil(t, outs[0].Crossing)

	// A heartbeat does not mend a fault; an explicit clear does.
	c.Observe(8, hbEv(6, "IR-2"), nil)
	require.False(t, c.Sensors()[0].OK)
	assert.Equal(t, "fault (code E12)", c.Sensors()[0].Problem)
	clearEv := fault
	clearEv.EventID, clearEv.State, clearEv.Time = "IR-2-52", StateCleared, corrAt(7)
	assert.Empty(t, c.Observe(9, clearEv, nil))
	assert.True(t, c.Sensors()[0].OK)

	tamper := SensorEvent{EventID: "CAM-2-3", DeviceID: "CAM-2", Gate: corrGate, Time: corrAt(8), Type: EventCameraFault, Code: TamperCode}
	outs = c.Observe(10, tamper, nil)
	require.Len(t, outs, 1)
	assert.Equal(t, zone.AlarmSensorTamper, outs[0].Alarms[0].Kind)
	assert.Equal(t, zone.SeverityCritical, outs[0].Alarms[0].Severity)
	assert.Equal(t, "tamper (code 137)", c.Sensors()[0].Problem)

	// A camera replaying its fault state after a reconnect raises nothing.
	replay := SensorEvent{EventID: "CAM-3-1", DeviceID: "CAM-3", Gate: corrGate, Time: corrAt(9), Type: EventCameraFault, Code: "E1", State: StateInitialized}
	assert.Empty(t, c.Observe(11, replay, nil))
}

func TestCorrelatorSeedSensorSuppressesRepeats(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate, SilentAfter: 30 * time.Second})
	c.SeedSensor(SensorState{DeviceID: "IR-2", LastSeen: corrAt(0), LastSeq: 12, Silent: true})
	c.SeedSensor(SensorState{DeviceID: "IR-1", LastSeen: corrAt(90), LastSeq: 10, Fault: "E12"})
	assert.Empty(t, c.Advance(corrAt(100), nil), "silence already reported before the restart")
	// Replayed events the state already includes change nothing.
	fault := SensorEvent{EventID: "IR-1-50", DeviceID: "IR-1", Gate: corrGate, Time: corrAt(0), Type: EventInfraredFault, Code: "E12"}
	assert.Empty(t, c.Observe(10, fault, nil))
	ss := c.Sensors()
	assert.False(t, ss[0].OK)
	assert.False(t, ss[1].OK)
	assert.Equal(t, "silent", ss[1].Problem)
}

// A restart that replays from LowWater with the clearance book as it stood
// on disk must reproduce the same crossing IDs as a run that never stopped.
func TestCorrelatorReplayFromLowWater(t *testing.T) {
	clearances := []zone.Clearance{corrClearance("PD-1", zone.In, zone.ReadStandTag, "STAND-0042"),
		corrClearance("PD-2", zone.Out, zone.ReadVehiclePlate, "琼A·D1234")}
	streams := map[string]struct {
		events    []SensorEvent
		crossings int
	}{
		"camera before beams": {events: []SensorEvent{
			hbEv(0, "IR-1"),
			detEv(0, "t-1", "engine", zone.In, readTag("STAND-0042", 0.95)),
			brkEv(1, "A", 1), brkEv(2, "B", 1), // authorized at once
			detEv(3, "t-1", "engine", zone.In, readTag("STAND-0042", 0.95)),
			brkEv(4, "A", 2), brkEv(5, "B", 2), // pending: t-1 is used, decided unidentified
			detEv(9, "t-3", "vehicle", zone.In, readPlate("琼B·77777", 0.9)),
			brkEv(30, "B", 1), brkEv(31, "A", 1),
			detEv(33, "t-4", "vehicle", zone.Out, readPlate("琼A·D1234", 0.9)),
		}, crossings: 3},
		// The track that authorizes a crossing starts after its beams: the
		// replay point must still reach back to the beams, or the track
		// comes back free and the next crossing takes it.
		"camera after beams": {events: []SensorEvent{
			hbEv(0, "IR-1"),
			brkEv(1, "A", 1), brkEv(2, "B", 1), // pending
			detEv(3, "t-1", "engine", zone.In, readTag("STAND-0042", 0.95)), // authorizes it
			brkEv(4, "A", 2), brkEv(5, "B", 2), // t-1 is used: unidentified
			hbEv(6, "IR-1"),
			brkEv(30, "B", 1), brkEv(31, "A", 1),
			detEv(33, "t-4", "vehicle", zone.Out, readPlate("琼A·D1234", 0.9)),
		}, crossings: 3},
	}
	for name, st := range streams {
		t.Run(name, func(t *testing.T) {
			events := st.events
			whole := summarizeOutcomes(runStream(newQuiet(CorrelatorConfig{Gate: corrGate}), newCorrBook(clearances...), events))
			require.Len(t, whole, st.crossings)
			for cut := 1; cut < len(events); cut++ {
				book := newCorrBook(clearances...)
				c := newQuiet(CorrelatorConfig{Gate: corrGate})
				var outs []Outcome
				for i, ev := range events[:cut] {
					outs = append(outs, c.Observe(uint64(i+1), ev, book)...)
					outs = append(outs, c.Advance(ev.Time, book)...)
				}
				low := c.LowWater()
				sensors := c.Sensors()
				seen := map[string]zone.Crossing{}
				for _, o := range outs {
					if o.Crossing != nil {
						seen[o.Crossing.ID] = *o.Crossing
					}
				}
				// Restart: a fresh correlator, sensors restored, replay from low,
				// told which crossings are already on disk.
				c2 := newQuiet(CorrelatorConfig{Gate: corrGate, Recorded: func(id string) (zone.Crossing, bool) {
					x, ok := seen[id]
					return x, ok
				}})
				for _, s := range sensors {
					c2.SeedSensor(s)
				}
				from := cut + 1
				if low != 0 {
					from = int(low)
				}
				var rest []Outcome
				for i := from - 1; i < len(events); i++ {
					rest = append(rest, c2.Observe(uint64(i+1), events[i], book)...)
					rest = append(rest, c2.Advance(events[i].Time, book)...)
				}
				rest = append(rest, c2.Advance(corrAt(60), book)...)
				for _, o := range rest {
					if o.Crossing != nil {
						_, dup := seen[o.Crossing.ID]
						require.False(t, dup, "a recorded crossing is not decided again")
					}
					outs = append(outs, o)
				}
				assert.Equal(t, whole, summarizeOutcomes(outs), "cut after event %d, replay from seq %d", cut, low)
			}
		})
	}
}

func TestCorrelatorMemoryStaysBounded(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook()
	seq := uint64(0)
	decisions := 0
	for i := range 5000 {
		base := float64(i * 7)
		for _, ev := range []SensorEvent{
			detEv(base, fmt.Sprintf("t-%d", i), "vehicle", zone.In, readPlate(fmt.Sprintf("P%d", i), 0.9)),
			brkEv(base+1, "A", 1+i%3), brkEv(base+2, "B", 1+i%3), brkEv(base+3, "A", 3), hbEv(base+3, "IR-1"),
		} {
			seq++
			decisions += countCrossings(c.Observe(seq, ev, book))
			decisions += countCrossings(c.Advance(ev.Time, book))
		}
	}
	decisions += countCrossings(c.Advance(corrAt(float64(5000*7+15)), book))
	assert.Equal(t, 5000, decisions, "every crossing decided once")
	assert.LessOrEqual(t, len(c.tracks), 10)
	assert.LessOrEqual(t, len(c.pending), 3)
	assert.LessOrEqual(t, len(c.open), 3)
	assert.Greater(t, c.LowWater(), seq-30, "only the last few tracks are held")
}

func countCrossings(outs []Outcome) int {
	n := 0
	for _, o := range outs {
		if o.Crossing != nil {
			n++
		}
	}
	return n
}

// BenchmarkCorrelatorAuthorizedDecision measures the correlator's part of
// "last beam → decision": the Observe call of the completing beam, with the
// read already present and 500 clearances in the book. It reports p50/p99.
func BenchmarkCorrelatorAuthorizedDecision(b *testing.B) {
	var cls []zone.Clearance
	for i := range 500 {
		cl := corrClearance(fmt.Sprintf("PD-%d", i), zone.In, zone.ReadStandTag, fmt.Sprintf("STAND-%04d", i))
		cl.Window.To = corrT0.Add(1000 * time.Hour)
		cls = append(cls, cl)
	}
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	var lat []time.Duration
	seq := uint64(0)
	i := 0
	for b.Loop() {
		book := newCorrBook(cls...) // fresh, so every crossing finds its clearance
		base := float64(i * 7)
		seq++
		c.Observe(seq, detEv(base, fmt.Sprintf("t-%d", i), "engine", zone.In, readTag(fmt.Sprintf("STAND-%04d", i%500), 0.95)), book)
		seq++
		c.Observe(seq, brkEv(base+1, "A", 1), book)
		seq++
		start := time.Now()
		outs := c.Observe(seq, brkEv(base+2, "B", 1), book)
		lat = append(lat, time.Since(start))
		if len(outs) != 1 || outs[0].Crossing.Decision != zone.DecisionAuthorized {
			b.Fatalf("crossing %d not authorized at once: %+v", i, outs)
		}
		c.Advance(corrAt(base+2), book)
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// An alarm carries its kind's params beside the English message, so the
// console can word it in Chinese.
func TestCorrelatorAlarmCarriesParams(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook()
	outs := runStream(c, book, []SensorEvent{detEv(-1, "t-1", "engine", zone.In, readTag("STAND-0099", 0.97)), brkEv(0, "A", 4), brkEv(1, "B", 4)})
	var alarms []zone.Alarm
	for _, o := range outs {
		alarms = append(alarms, o.Alarms...)
	}
	require.Len(t, alarms, 1)
	a := alarms[0]
	assert.Equal(t, zone.AlarmUnauthorized, a.Kind)
	assert.Equal(t, map[string]string{"identity_kind": string(zone.ReadStandTag), "identity": "STAND-0099", "direction": "in", "segment": "4"}, a.Params)
	assert.Contains(t, a.Message, "STAND-0099", "the English text stays")
}

// Two cleared engines cross at once on two segments: each camera track
// identifies one crossing, so both are authorized, each with its own
// clearance and its own track, whatever order the events come in.
func TestCorrelatorTwoEnginesAtOnceOnTwoSegments(t *testing.T) {
	clearances := func() *corrBook {
		return newCorrBook(corrClearance("PD-A", zone.In, zone.ReadStandTag, "STAND-0042"),
			corrClearance("PD-B", zone.In, zone.ReadStandTag, "STAND-0108"))
	}
	engA := detEv(0, "t-a", "engine", zone.In, readTag("STAND-0042", 0.97))
	engB := detEv(0.2, "t-b", "engine", zone.In, readTag("STAND-0108", 0.95))
	engB.DeviceID, engB.EventID = "CAM-2", "CAM-2-t-b@0.2"
	beams := []SensorEvent{brkEv(1, "A", 1), brkEv(1.1, "A", 2), brkEv(2, "B", 1), brkEv(2.1, "B", 2)}
	orders := map[string][]SensorEvent{
		"cameras first":      append([]SensorEvent{engA, engB}, beams...),
		"beams first":        append(append([]SensorEvent(nil), beams...), engA, engB),
		"interleaved":        {beams[0], engB, beams[1], beams[2], engA, beams[3]},
		"other camera first": append([]SensorEvent{engB, engA}, beams...),
	}
	for name, evs := range orders {
		t.Run(name, func(t *testing.T) {
			c := newQuiet(CorrelatorConfig{Gate: corrGate})
			book := clearances()
			outs := runStream(c, book, evs)
			require.Len(t, outs, 2, "%+v", summarizeOutcomes(outs))
			used := map[string]bool{}
			tracks := map[string]bool{}
			for _, o := range outs {
				x := o.Crossing
				require.NotNil(t, x)
				assert.Equal(t, zone.DecisionAuthorized, x.Decision, "segment %d", x.Segment)
				assert.Empty(t, o.Alarms)
				require.Len(t, x.TrackIDs, 1, "one track per crossing: %v", x.TrackIDs)
				used[x.ClearanceID] = true
				tracks[x.TrackIDs[0]] = true
			}
			assert.Equal(t, map[string]bool{"PD-A": true, "PD-B": true}, used)
			assert.Equal(t, map[string]bool{"t-a": true, "t-b": true}, tracks)
		})
	}
}

// A track goes to the crossing nearest it in time: an engine read just
// before segment 2 is not taken by an earlier crossing on segment 1 whose
// window it also touches.
func TestCorrelatorTrackGoesToTheNearestCrossing(t *testing.T) {
	c := newQuiet(CorrelatorConfig{Gate: corrGate})
	book := newCorrBook(corrClearance("PD-B", zone.In, zone.ReadStandTag, "STAND-0108"))
	evs := []SensorEvent{brkEv(0, "A", 1), brkEv(1, "B", 1), brkEv(6, "A", 2), brkEv(7, "B", 2),
		detEv(6.5, "t-b", "engine", zone.In, readTag("STAND-0108", 0.95))}
	got := summarizeOutcomes(runStream(c, book, evs))
	assert.Equal(t, []corrDecided{
		{ID: "X-G-MRO-1-4", Decision: zone.DecisionAuthorized, Direction: zone.In, Identity: "STAND-0108", Clearance: "PD-B"},
		{ID: "X-G-MRO-1-2", Decision: zone.DecisionUnidentified, Direction: zone.In, Alarms: []zone.AlarmKind{zone.AlarmUnidentified}},
	}, got)
}
