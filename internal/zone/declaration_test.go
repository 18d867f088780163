package zone_test

import (
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateMachine walks every (state, action) pair: the legal ones land on
// the expected state and record actor, time and reason; every other pair is a
// conflict that leaves the declaration untouched.
func TestStateMachine(t *testing.T) {
	legal := map[zone.Status]map[zone.Action]zone.Status{
		zone.StatusSubmitted: {
			zone.ActClear: zone.StatusCleared, zone.ActReject: zone.StatusRejected, zone.ActInspect: zone.StatusInspection,
			zone.ActCancel: zone.StatusCancelled, zone.ActExpire: zone.StatusExpired,
		},
		zone.StatusInspection: {
			zone.ActClear: zone.StatusCleared, zone.ActReject: zone.StatusRejected,
			zone.ActCancel: zone.StatusCancelled, zone.ActExpire: zone.StatusExpired,
		},
		zone.StatusCleared: {
			zone.ActCross: zone.StatusCrossed, zone.ActRevoke: zone.StatusRevoked,
			zone.ActCancel: zone.StatusCancelled, zone.ActExpire: zone.StatusExpired,
		},
		// A late crossing (the link was down past the window) still lands.
		zone.StatusExpired: {zone.ActCross: zone.StatusCrossed},
		zone.StatusCrossed: {zone.ActArrive: zone.StatusArrived},
		zone.StatusArrived: {zone.ActClose: zone.StatusClosed},
	}
	actions := []zone.Action{zone.ActClear, zone.ActReject, zone.ActInspect, zone.ActRevoke, zone.ActCancel,
		zone.ActCross, zone.ActArrive, zone.ActClose, zone.ActExpire}
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, from := range zone.Statuses {
		for _, a := range actions {
			want, ok := legal[from][a]
			name := string(from) + "/" + string(a)
			t.Run(name, func(t *testing.T) {
				d := &zone.PreDeclaration{ID: "D1", Status: from, Version: 3}
				err := d.Apply(a, "customs:HK-0031", at, "why")
				if !ok {
					require.Error(t, err)
					assert.Equal(t, zone.ECONFLICT, zone.ErrorCode(err))
					assert.Equal(t, from, d.Status, "a refused transition must change nothing")
					assert.Empty(t, d.History)
					assert.Equal(t, 3, d.Version)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, want, d.Status)
				require.Len(t, d.History, 1)
				tr := d.History[0]
				assert.Equal(t, zone.Transition{From: from, To: want, Action: a, Actor: "customs:HK-0031",
					At: at.UTC(), Reason: "why"}, tr)
				assert.Equal(t, time.UTC, tr.At.Location(), "transition times are stored in UTC")
				assert.Equal(t, 4, d.Version)
			})
		}
	}
}

func validEngine() zone.PreDeclaration {
	return zone.PreDeclaration{
		Object:        zone.Object{Kind: zone.KindEngine, ESN: "956-482", Model: "GEnx-1B", Owner: "Qatar Airways"},
		Direction:     zone.In,
		Gate:          "G-MRO-1",
		Window:        zone.Window{From: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)},
		Regime:        zone.RegimeBondedMaintenance,
		DeclaredValue: zone.Money{Amount: "182000000.00", Currency: "CNY"},
		HSCode:        "84111200",
		Conveyance:    zone.Conveyance{StandTag: "STAND-0042", VehiclePlate: "琼A·D1234"},
	}
}

func TestValidateNamesEachBadField(t *testing.T) {
	require.NoError(t, func() error { d := validEngine(); return d.Validate() }())
	cases := []struct {
		field  string
		break_ func(d *zone.PreDeclaration)
	}{
		{"object.esn", func(d *zone.PreDeclaration) { d.Object.ESN = " " }},
		{"object.model", func(d *zone.PreDeclaration) { d.Object.Model = "" }},
		{"object.kind", func(d *zone.PreDeclaration) { d.Object.Kind = "boat" }},
		{"object.registration", func(d *zone.PreDeclaration) { d.Object = zone.Object{Kind: zone.KindAircraft, Type: "A321"} }},
		{"direction", func(d *zone.PreDeclaration) { d.Direction = "sideways" }},
		{"gate", func(d *zone.PreDeclaration) { d.Gate = "" }},
		{"window.to", func(d *zone.PreDeclaration) { d.Window.To = d.Window.From }},
		{"window.from", func(d *zone.PreDeclaration) { d.Window.From = time.Time{} }},
		{"regime", func(d *zone.PreDeclaration) { d.Regime = "duty_paid" }},
		{"declared_value.amount", func(d *zone.PreDeclaration) { d.DeclaredValue.Amount = "1e9" }},
		{"declared_value.currency", func(d *zone.PreDeclaration) { d.DeclaredValue.Currency = "yuan" }},
		{"hs_code", func(d *zone.PreDeclaration) { d.HSCode = "8411.12" }},
		{"conveyance", func(d *zone.PreDeclaration) { d.Conveyance = zone.Conveyance{} }},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			d := validEngine()
			tc.break_(&d)
			err := d.Validate()
			require.Error(t, err)
			assert.Equal(t, zone.EINVALID, zone.ErrorCode(err))
			var names []string
			for _, f := range zone.ErrorFields(err) {
				names = append(names, f.Field)
			}
			assert.Contains(t, names, tc.field)
		})
	}
}

func TestAircraftRegistrationIsAnIdentity(t *testing.T) {
	d := validEngine()
	d.Object = zone.Object{Kind: zone.KindAircraft, Registration: "RP-C3441", Type: "A321"}
	d.Conveyance = zone.Conveyance{}
	require.NoError(t, d.Validate())
	assert.Equal(t, []zone.Identity{{Kind: zone.ReadAircraftRegistration, Value: "RP-C3441"}}, d.Identifiers())
}

func TestClearanceMatches(t *testing.T) {
	d := validEngine()
	d.ID, d.Status = "D1", zone.StatusCleared
	c := zone.ClearanceOf(&d, "")
	in := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tag := zone.Identity{Kind: zone.ReadStandTag, Value: "stand 0042"}
	assert.True(t, c.Matches("G-MRO-1", zone.In, tag, in), "case, spaces and dashes do not count")
	assert.True(t, c.Matches("G-MRO-1", zone.In, zone.Identity{Kind: zone.ReadVehiclePlate, Value: "琼AD1234"}, in))
	assert.False(t, c.Matches("G-MAIN", zone.In, tag, in), "other gate")
	assert.False(t, c.Matches("G-MRO-1", zone.Out, tag, in), "other direction")
	assert.False(t, c.Matches("G-MRO-1", zone.In, tag, d.Window.To.Add(time.Second)), "after the window")
	assert.False(t, c.Matches("G-MRO-1", zone.In, zone.Identity{Kind: zone.ReadVehiclePlate, Value: "STAND-0042"}, in), "a value under another kind")
	d.Status = zone.StatusRevoked
	r := zone.ClearanceOf(&d, "revoked")
	assert.Equal(t, zone.ClearanceRevoked, r.State)
	assert.False(t, r.Matches("G-MRO-1", zone.In, tag, in))
}
