package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

// gauge returns the value of name{label=value} (or the unlabelled series)
// gathered from reg; ok is false when the series is absent.
func gauge(t *testing.T, reg *prometheus.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if match {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestOpsGaugesFollowTheStore: the gauges behind the green-channel and
// open-alarm alerts read what the store holds, at scrape time.
func TestOpsGaugesFollowTheStore(t *testing.T) {
	ctx := context.Background()
	db := bolttest.MustOpenDB(t)
	submitted := time.Now().Add(-45 * time.Minute)
	n := 0
	svc := &zone.DeclarationService{Store: bolt.NewDeclarationStore(db), Now: func() time.Time { return submitted },
		NewID: func() string { n++; return "01DECL" + string(rune('A'+n)) }, Source: "test"}
	reg := prometheus.NewRegistry()
	alarms := bolt.NewAlarmStore(db)
	reg.MustRegister(newGreenChannelCollector(svc.Store), newAlarmCollector(alarms),
		newOverdueCollector(bolt.NewTemporaryEntryStore(db)))
	registerAPIStoreMetrics(reg, db.Outbox())

	v, ok := gauge(t, reg, "bondgate_green_channel_waiting_declarations", "status", "submitted")
	require.True(t, ok)
	assert.Zero(t, v)
	v, _ = gauge(t, reg, "bondgate_green_channel_oldest_waiting_seconds", "status", "submitted")
	assert.Less(t, v, 1.0, "nothing waits: 0")

	var d zone.PreDeclaration
	require.NoError(t, json.Unmarshal([]byte(engineBody), &d))
	mro := zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}
	first, _, err := svc.Submit(ctx, mro, d, nil)
	require.NoError(t, err)
	_, _, err = svc.Submit(ctx, mro, d, nil)
	require.NoError(t, err)

	v, _ = gauge(t, reg, "bondgate_green_channel_waiting_declarations", "status", "submitted")
	assert.Equal(t, 2.0, v)
	v, _ = gauge(t, reg, "bondgate_green_channel_oldest_waiting_seconds", "status", "submitted")
	assert.InDelta(t, 45*60, v, 60, "submitted 45 minutes ago")
	depth, _ := gauge(t, reg, "bondgate_api_outbox_depth", "", "")
	assert.Positive(t, depth, "the declarations' events wait in the outbox (no publisher here)")
	age, _ := gauge(t, reg, "bondgate_api_outbox_oldest_age_seconds", "", "")
	assert.Positive(t, age)

	_, err = svc.Decide(ctx, zone.Principal{Role: zone.RoleCustoms, Officer: "HK-1"}, first.ID, zone.ActClear, "")
	require.NoError(t, err)
	v, _ = gauge(t, reg, "bondgate_green_channel_waiting_declarations", "status", "submitted")
	assert.Equal(t, 1.0, v, "a decided declaration no longer waits")

	v, ok = gauge(t, reg, "bondgate_alarms_open", "kind", string(zone.AlarmUnidentified))
	require.True(t, ok, "crossing alarm kinds are exported at 0")
	assert.Zero(t, v)
	for i, kind := range []zone.AlarmKind{zone.AlarmUnidentified, zone.AlarmUnidentified, zone.AlarmSensorSilent} {
		_, err := alarms.Put(ctx, &zone.Alarm{ID: "A-" + string(rune('1'+i)), Gate: "G-MRO-1", Kind: kind, Severity: "critical",
			Message: "test", Time: time.Now(), State: zone.AlarmOpen})
		require.NoError(t, err)
	}
	v, _ = gauge(t, reg, "bondgate_alarms_open", "kind", string(zone.AlarmUnidentified))
	assert.Equal(t, 2.0, v)
	v, _ = gauge(t, reg, "bondgate_alarms_open", "kind", string(zone.AlarmSensorSilent))
	assert.Equal(t, 1.0, v)
	v, ok = gauge(t, reg, "bondgate_temporary_entries_overdue", "", "")
	require.True(t, ok)
	assert.Zero(t, v)
}
