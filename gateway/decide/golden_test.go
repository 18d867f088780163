package decide

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update", false, "rewrite gateway/decide/testdata/golden from the recorded streams")

// goldenStreams are the recordings in fixtures/streams with the decisions
// each must produce.
var goldenStreams = []string{"genx-direct-entry", "unidentified-crossing", "person-on-line", "sensor-dropout", "camera-reconnect"}

// goldenResult is what a stream must produce: every crossing and alarm in
// the order decided, and the sensors' state at the end.
type goldenResult struct {
	Crossings []zone.Crossing `json:"crossings"`
	Alarms    []zone.Alarm    `json:"alarms"`
	Sensors   []SensorState   `json:"sensors"`
	// Unused lists the clearances no crossing consumed.
	Unused []string `json:"unused_clearances"`
}

// loadStream reads a recording the way the gate would take it: each line
// through ParseEvents, so a recording that the gate would refuse fails here.
func loadStream(t *testing.T, path string) []SensorEvent {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var evs []SensorEvent
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		got, err := ParseEvents(sc.Bytes())
		require.NoError(t, err, "%s:%d", path, line)
		evs = append(evs, got...)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, evs)
	return evs
}

func TestGoldenStreams(t *testing.T) {
	for _, name := range goldenStreams {
		t.Run(name, func(t *testing.T) {
			evs := loadStream(t, filepath.Join("..", "..", "fixtures", "streams", name+".jsonl"))
			var cls []zone.Clearance
			raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "streams", name+".clearances.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &cls))
			book := newCorrBook(cls...)

			// The gate clock follows the recording, as it does on a live
			// gate, and finally passes the window.
			c := newQuiet(CorrelatorConfig{Gate: corrGate})
			res := goldenResult{Crossings: []zone.Crossing{}, Alarms: []zone.Alarm{}, Unused: []string{}}
			collect := func(outs []Outcome) {
				for _, o := range outs {
					if o.Crossing != nil {
						res.Crossings = append(res.Crossings, *o.Crossing)
					}
					res.Alarms = append(res.Alarms, o.Alarms...)
				}
			}
			var last time.Time
			for i, ev := range evs {
				collect(c.Observe(uint64(i+1), ev, book))
				collect(c.Advance(ev.Time, book))
				if ev.Time.After(last) {
					last = ev.Time
				}
			}
			collect(c.Advance(last.Add(DefaultWindow+time.Second), book))
			res.Sensors = c.Sensors()
			for _, cl := range cls {
				if !book.used[cl.ID] {
					res.Unused = append(res.Unused, cl.ID)
				}
			}

			got, err := json.MarshalIndent(res, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *updateGolden {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./gateway/decide/ -run TestGoldenStreams -update to create it")
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

// The golden files are checked by machine above; these pin down in plain
// words what each recording is about, so a careless -update cannot bless a
// wrong answer.
func TestGoldenStreamsMeanWhatTheySay(t *testing.T) {
	read := func(name string) goldenResult {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".json"))
		require.NoError(t, err)
		var g goldenResult
		require.NoError(t, json.Unmarshal(raw, &g))
		return g
	}
	decisions := func(g goldenResult) []zone.Decision {
		var ds []zone.Decision
		for _, x := range g.Crossings {
			ds = append(ds, x.Decision)
		}
		return ds
	}
	kinds := func(g goldenResult) []zone.AlarmKind {
		var ks []zone.AlarmKind
		for _, a := range g.Alarms {
			ks = append(ks, a.Kind)
		}
		return ks
	}

	g := read("genx-direct-entry")
	require.Equal(t, []zone.Decision{zone.DecisionAuthorized}, decisions(g))
	assert.Equal(t, "PD-20240829-0001", g.Crossings[0].ClearanceID)
	assert.Equal(t, zone.In, g.Crossings[0].Direction)
	assert.Equal(t, &zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-0042"}, g.Crossings[0].Identity)
	assert.Equal(t, "engine", g.Crossings[0].ObjectClass)
	assert.Empty(t, g.Alarms)

	g = read("unidentified-crossing")
	assert.Equal(t, []zone.Decision{zone.DecisionUnidentified, zone.DecisionUnidentified}, decisions(g))
	assert.Equal(t, []zone.AlarmKind{zone.AlarmUnidentified, zone.AlarmUnidentified}, kinds(g))
	assert.Equal(t, []string{"PD-20261126-0007"}, g.Unused, "a 0.41 plate read must not use the clearance")
	// Kind and params let the console word an alarm in Chinese.
	assert.Equal(t, map[string]string{"direction": "in", "segment": "2", "object_class": "vehicle"}, g.Alarms[0].Params)
	assert.Equal(t, map[string]string{"direction": "out", "segment": "3"}, g.Alarms[1].Params)

	g = read("person-on-line")
	assert.Equal(t, []zone.Decision{zone.DecisionPerson}, decisions(g))
	assert.Equal(t, []zone.AlarmKind{zone.AlarmPerson}, kinds(g))
	assert.Equal(t, map[string]string{"direction": "in", "segment": "2"}, g.Alarms[0].Params)

	g = read("sensor-dropout")
	assert.Empty(t, g.Crossings)
	assert.Equal(t, []zone.AlarmKind{zone.AlarmSensorSilent, zone.AlarmSensorFault, zone.AlarmSensorTamper}, kinds(g))
	for _, a := range g.Alarms {
		assert.Equal(t, "IR-2", a.DeviceID)
	}
	assert.Equal(t, map[string]string{"device": "IR-2", "since": "2026-11-26T03:00:20Z", "after_seconds": "60"}, g.Alarms[0].Params)
	assert.Equal(t, map[string]string{"device": "IR-2", "code": "137", "detail": "enclosure opened"}, g.Alarms[2].Params)

	g = read("camera-reconnect")
	assert.Equal(t, []zone.Decision{zone.DecisionAuthorized}, decisions(g))
	assert.Empty(t, g.Alarms, "replayed state after a reconnect raises nothing")
	assert.Equal(t, []string{"PD-20261126-0012"}, g.Unused, "a replayed plate read must not use a clearance")
	for _, s := range g.Sensors {
		assert.True(t, s.OK, "%s", s.DeviceID)
	}
}
