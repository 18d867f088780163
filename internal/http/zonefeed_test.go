package http

import (
	"context"
	"encoding/json"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures/stats"
	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// withZoneFeed gives a the crossing, alarm and stats services on its own
// store, and the green-channel histogram on its registry.
func withZoneFeed(a *api) *bolt.CrossingStore {
	cs := bolt.NewCrossingStore(a.db)
	decls := a.srv.cfg.Declarations
	decls.Store = &zone.DecisionObserver{DeclarationStore: decls.Store, OnDecided: GreenChannelMetric(a.registry)}
	a.srv.cfg.Crossings = &zone.CrossingService{Store: cs, Declarations: decls}
	a.srv.cfg.Alarms = &zone.AlarmService{Store: bolt.NewAlarmStore(a.db), Now: time.Now}
	a.srv.cfg.Stats = &zone.StatsService{Source: bolt.NewStatsSource(a.db), DedicatedGates: map[string]bool{"G-MRO-1": true}, Now: time.Now}
	return cs
}

func (a *api) declaration(id, token string) *zone.PreDeclaration {
	a.t.Helper()
	r := a.get("/v1/predeclarations/"+id, token)
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var d zone.PreDeclaration
	require.NoError(a.t, json.Unmarshal(r.Body, &d))
	return &d
}

func TestCrossingFlowsBackThroughArrivalToClose(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	d := a.submit(tokHNA)
	r := a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)

	crossedAt := time.Now().UTC().Add(-45 * time.Minute).Truncate(time.Second)
	x := zone.Crossing{ID: "X-G-MRO-1-31", Seq: 31, Gate: "G-MRO-1", Segment: 1, Decision: zone.DecisionAuthorized,
		Direction: zone.In, ObjectClass: "engine", ClearanceID: d.ID, Identity: &zone.Identity{Kind: "stand_tag", Value: "STAND-0042"},
		Time: crossedAt, DecidedAt: crossedAt}
	ev, err := zone.NewEvent("G-MRO-1-31", "bondgate/gate/G-MRO-1", zone.TypeCrossing, x.ID, x.Time, x)
	require.NoError(t, err)
	_, err = a.srv.cfg.Crossings.ApplyCrossingEvent(context.Background(), ev)
	require.NoError(t, err)

	got := a.declaration(d.ID, tokHNA)
	require.Equal(t, zone.StatusCrossed, got.Status)
	require.Equal(t, "X-G-MRO-1-31", got.CrossingID)

	// Only the owner firm records the arrival.
	arrive := `{"at":"` + crossedAt.Add(40*time.Minute).Format(time.RFC3339) + `"}`
	require.Equal(t, nethttp.StatusNotFound, a.post("/v1/predeclarations/"+d.ID+"/arrival", tokGAMECO, arrive).Status)
	r = a.post("/v1/predeclarations/"+d.ID+"/arrival", tokHNA, arrive)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	got = a.declaration(d.ID, tokHNA)
	require.Equal(t, zone.StatusArrived, got.Status)
	require.InDelta(t, 40.0, *got.TransitMinutes, 0.001)

	// Close: another firm cannot, a gate cannot, the owner (or customs) can, once.
	require.Equal(t, nethttp.StatusNotFound, a.post("/v1/predeclarations/"+d.ID+"/close", tokGAMECO, "").Status)
	require.Equal(t, nethttp.StatusForbidden, a.post("/v1/predeclarations/"+d.ID+"/close", tokGate, "").Status)
	r = a.post("/v1/predeclarations/"+d.ID+"/close", tokHNA, `{"reason":"shop visit complete"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, zone.StatusClosed, a.declaration(d.ID, tokOfficer).Status)
	r = a.post("/v1/predeclarations/"+d.ID+"/close", tokOfficer, "")
	require.Equal(t, nethttp.StatusConflict, r.Status)
	r.problem(t)

	// Crossings, customs only.
	r = a.get("/v1/crossings?gate=G-MRO-1&since="+crossedAt.Add(-time.Minute).Format(time.RFC3339), tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var l struct {
		Items []zone.Crossing `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &l))
	require.Len(t, l.Items, 1)
	require.Equal(t, d.ID, l.Items[0].ClearanceID)
	r = a.get("/v1/crossings?since="+crossedAt.Add(time.Minute).Format(time.RFC3339), tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status)
	require.JSONEq(t, `{"items":[]}`, string(r.Body))
	require.Equal(t, nethttp.StatusForbidden, a.get("/v1/crossings", tokHNA).Status)
	require.Equal(t, nethttp.StatusBadRequest, a.get("/v1/crossings?since=yesterday", tokOfficer).Status)

	// The green channel saw one decision.
	metrics := a.get("/metrics", "")
	require.Contains(t, string(metrics.Body), "bondgate_green_channel_decision_seconds_count 1")
}

func TestAlarmsListAckForbiddenNotFound(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	st := bolt.NewAlarmStore(a.db)
	ctx := context.Background()
	for _, al := range []zone.Alarm{
		{ID: "A-G-MRO-1-5-person_on_line", Gate: "G-MRO-1", Kind: zone.AlarmPerson, Severity: "critical", Message: "person crossed in on segment 1", CrossingID: "X-G-MRO-1-5", Time: time.Now()},
		{ID: "A-G-MAIN-9-unidentified_crossing", Gate: "G-MAIN", Kind: zone.AlarmUnidentified, Severity: "critical", Message: "crossing in on segment 1 that no camera identified", CrossingID: "X-G-MAIN-9", Time: time.Now()},
	} {
		_, err := st.Put(ctx, &al)
		require.NoError(t, err)
	}
	list := func(q string) []zone.Alarm {
		r := a.get("/v1/alarms"+q, tokOfficer)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var l struct {
			Items []zone.Alarm `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &l))
		return l.Items
	}
	open := list("?state=open")
	require.Len(t, open, 2)
	require.Equal(t, "A-G-MAIN-9-unidentified_crossing", open[0].ID, "newest first")
	require.Equal(t, "X-G-MAIN-9", open[0].CrossingID, "each alarm links to its crossing")
	require.Len(t, list("?state=open&gate=G-MRO-1"), 1)

	id := "A-G-MRO-1-5-person_on_line"
	require.Equal(t, nethttp.StatusForbidden, a.get("/v1/alarms", tokHNA).Status)
	require.Equal(t, nethttp.StatusForbidden, a.post("/v1/alarms/"+id+"/ack", tokGate, `{"note":"x"}`).Status)
	require.Equal(t, nethttp.StatusUnauthorized, a.get("/v1/alarms", "").Status)
	r := a.post("/v1/alarms/NOPE/ack", tokOfficer, `{"note":"x"}`)
	require.Equal(t, nethttp.StatusNotFound, r.Status)
	r.problem(t)
	r = a.post("/v1/alarms/"+id+"/ack", tokOfficer, `{"note":`+strconv.Quote(strings.Repeat("x", 2001))+`}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	require.Contains(t, r.problem(t).fields(), "note")
	r = a.post("/v1/alarms/"+id+"/ack", tokOfficer, `{"nota":"typo"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status, "unknown fields are still refused")
	require.Equal(t, nethttp.StatusBadRequest, a.get("/v1/alarms?state=closed", tokOfficer).Status)

	r = a.post("/v1/alarms/"+id+"/ack", tokOfficer, `{"note":"a marshaller walked the line; briefed"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var acked zone.Alarm
	require.NoError(t, json.Unmarshal(r.Body, &acked))
	require.Equal(t, zone.AlarmAcked, acked.State)
	require.Equal(t, "customs:HK-0031", acked.AckedBy)
	r = a.post("/v1/alarms/"+id+"/ack", tokOfficer, `{"note":"again"}`)
	require.Equal(t, nethttp.StatusConflict, r.Status)

	// As CONTRACT.md names it: no body at all.
	other := list("?state=open")[0].ID
	r = a.post("/v1/alarms/"+other+"/ack", tokOfficer, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)

	require.Len(t, list("?state=open"), 0)
	acks := list("?state=acked")
	require.Len(t, acks, 2)
	notes := []string{acks[0].AckNote, acks[1].AckNote}
	require.ElementsMatch(t, []string{"a marshaller walked the line; briefed", ""}, notes)

	// The acknowledgement is in the verified audit trail.
	r = a.get("/v1/audit?verify=true&limit=1000", tokAuditor)
	require.Equal(t, nethttp.StatusOK, r.Status)
	require.Contains(t, string(r.Body), `"verified":true`)
	require.Contains(t, string(r.Body), `"action":"ack"`)
}

func TestStatsEndpointReproducesTheSource(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	hist, err := stats.History()
	require.NoError(t, err)
	_, err = bolt.NewStatsSource(a.db).ImportHistory(context.Background(), hist)
	require.NoError(t, err)

	r := a.get("/v1/stats?from=2025-01-01&to=2025-09-01", tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var s struct {
		Aircraft, Engines, PartsBatches, Total struct {
			Count  int        `json:"count"`
			Value  zone.Money `json:"value"`
			Growth struct {
				ValuePercent string `json:"value_percent"`
			} `json:"growth"`
		}
		Transit struct {
			Median  float64 `json:"direct_entry_median_minutes"`
			Samples int     `json:"samples"`
			Target  int     `json:"target_minutes"`
		} `json:"transit"`
		Savings struct {
			Cost string `json:"vehicle_cost_cny"`
		} `json:"savings"`
	}
	require.NoError(t, json.Unmarshal(fixJSONKeys(r.Body), &s))
	require.Equal(t, 58, s.Aircraft.Count)
	require.Equal(t, 9, s.Engines.Count)
	require.Equal(t, 6, s.PartsBatches.Count)
	require.Equal(t, "37020000000.00", s.Total.Value.Amount)
	require.Equal(t, "67.4", s.Total.Growth.ValuePercent)
	require.Equal(t, 40, s.Transit.Target)
	require.Equal(t, "270000.00", s.Savings.Cost)

	r = a.get("/v1/stats?from=2024-01-01&to=2025-01-01", tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status)
	require.Contains(t, string(r.Body), `"amount":"31130000000.00"`)
	require.Contains(t, string(r.Body), `"value_increase_times":"3.3"`)

	require.Equal(t, nethttp.StatusForbidden, a.get("/v1/stats", tokAuditor).Status)
	require.Equal(t, nethttp.StatusBadRequest, a.get("/v1/stats?from=soon", tokOfficer).Status)
	require.Equal(t, nethttp.StatusBadRequest, a.get("/v1/stats?from=2025-09-01&to=2025-01-01", tokOfficer).Status)
}

// fixJSONKeys maps parts_batches onto the Go field name for the test's
// anonymous struct.
func fixJSONKeys(b []byte) []byte {
	return []byte(strings.ReplaceAll(string(b), `"parts_batches"`, `"partsbatches"`))
}

// openAlarm stores a fresh open alarm and returns its ID (authorization
// matrix rows of the alarm routes).
func openAlarm(a *api) string {
	a.t.Helper()
	id := "A-G-MRO-1-" + ulid.Make().String() + "-person_on_line"
	_, err := bolt.NewAlarmStore(a.db).Put(context.Background(), &zone.Alarm{ID: id, Gate: "G-MRO-1", Kind: zone.AlarmPerson,
		Severity: "critical", Message: "person crossed in on segment 1", Time: time.Now()})
	require.NoError(a.t, err)
	return id
}

// arrivedDeclaration is HNA-TECHNIC's declaration that crossed and reached
// the workshop (ready to close).
func arrivedDeclaration(a *api) string {
	a.t.Helper()
	id := a.submit(tokHNA).ID
	r := a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	a.cross(id)
	r = a.post("/v1/predeclarations/"+id+"/arrival", tokHNA, "")
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	return id
}
