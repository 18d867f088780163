package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// FuzzZoneFeedApply feeds message values from the gate topics to the zone
// API's consumer apply function, on a real bbolt file holding one cleared
// declaration. It must answer nil or ErrPoison: any other error is retried
// forever and would stop every crossing and alarm behind the message.
func FuzzZoneFeedApply(f *testing.F) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(f)
	at := time.Now().UTC()
	decls := &zone.DeclarationService{Store: bolt.NewDeclarationStore(db), Now: time.Now,
		NewID: func() string { return "D-FUZZ" }, Source: "bondgate/fuzz"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	feed := newZoneFeed(db, decls, []string{"127.0.0.1:1"}, kafka.Security{}, []string{"G-MRO-1"}, prometheus.NewRegistry(), nil, time.Hour, log)

	var d zone.PreDeclaration
	require.NoError(f, json.Unmarshal([]byte(engineBody), &d))
	d.Window.From, d.Window.To = at.Add(-time.Hour), at.Add(time.Hour)
	_, _, err := decls.Submit(ctx, zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}, d, nil)
	require.NoError(f, err)
	_, err = decls.Decide(ctx, zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}, "D-FUZZ", zone.ActClear, "")
	require.NoError(f, err)

	seed := func(topic, id, typ string, data any) {
		e, err := zone.NewEvent(id, "bondgate/gate/G-MRO-1", typ, "G-MRO-1", at, data)
		require.NoError(f, err)
		raw, err := json.Marshal(e)
		require.NoError(f, err)
		f.Add(topic == zone.TopicAlarms, raw)
	}
	x := zone.Crossing{ID: "X-1", Seq: 1, Gate: "G-MRO-1", Segment: 1, Decision: zone.DecisionAuthorized,
		Direction: zone.In, ObjectClass: "engine", ClearanceID: "D-FUZZ",
		Identity: &zone.Identity{Kind: zone.ReadStandTag, Value: "STAND-0042"}, Time: at, DecidedAt: at}
	seed(zone.TopicCrossings, "ev-x-1", zone.TypeCrossing, x)
	x2 := x
	x2.ID, x2.Direction = "X-2", zone.Out
	seed(zone.TopicCrossings, "ev-x-2", zone.TypeCrossing, x2)
	x3 := x
	x3.ID, x3.ClearanceID, x3.Decision = "X-3", "NO-SUCH", zone.DecisionAuthorized
	seed(zone.TopicCrossings, "ev-x-3", zone.TypeCrossing, x3)
	seed(zone.TopicAlarms, "ev-a-1", zone.TypeAlarm, zone.Alarm{ID: "G-MRO-1-A-1", Gate: "G-MRO-1",
		Kind: zone.AlarmUnidentified, Severity: "critical", Message: "nobody identified", CrossingID: "X-9", Time: at})
	seed(zone.TopicAlarms, "ev-a-2", zone.TypeCrossing, x)
	// Found by this target: IDs too long to be bbolt keys made the consumer
	// retry forever.
	seed(zone.TopicCrossings, "ev-long", zone.TypeCrossing, zone.Crossing{ID: strings.Repeat("X", 40000), Gate: "G-MRO-1"})
	seed(zone.TopicCrossings, "ev-long-gate", zone.TypeCrossing, zone.Crossing{ID: "X-L", Gate: strings.Repeat("G", 33000)})
	seed(zone.TopicAlarms, "ev-long-alarm", zone.TypeAlarm, zone.Alarm{ID: strings.Repeat("A", 33000), Gate: "G-MRO-1"})
	seed(zone.TopicAlarms, strings.Repeat("E", 33000), zone.TypeAlarm, zone.Alarm{ID: "A-L", Gate: "G-MRO-1"})
	for _, s := range []string{`{"id":"1","source":"s","type":"bondgate.crossing.decided","data":{"id":"X","gate":"G"}}`,
		`{"id":"1","source":"s","type":"bondgate.crossing.decided","data":{"id":"X","gate":"G","time":"x"}}`,
		`{"id":"2","source":"s","type":"bondgate.alarm.raised","data":{"id":"A","acked_at":"2026-01-01T00:00:00Z","state":"acked"}}`,
		`{"id":"3","source":"s","type":"bondgate.alarm.raised","data":[]}`, `{}`, `null`, ``} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}

	f.Fuzz(func(t *testing.T, alarms bool, value []byte) {
		topic := zone.TopicCrossings
		if alarms {
			topic = zone.TopicAlarms
		}
		apply := feed.handlers()[topic]
		err := kafka.Apply(ctx, apply, value)
		if err != nil && !errors.Is(err, kafka.ErrPoison) {
			t.Fatalf("apply returned a retriable error (the consumer would be stuck) for %.300q: %.300v", value, err)
		}
		if err2 := kafka.Apply(ctx, apply, value); (err == nil) != (err2 == nil) {
			t.Fatalf("re-delivery answered %v, first %v", err2, err)
		}
	})
}
