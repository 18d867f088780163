package gateway

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

// TestRestoredGateNeverReusesACrossingID follows the README's restore: a
// gate's file is backed up, the gate decides another crossing, then the
// file is replaced by the backup. The event seqs count again from the
// backup's point, so the next crossing is made from the same seqs as the
// one decided after the backup; its ID must still be new, and the zone
// (a real API store applying the gate topics) must record it, with no
// conflict.
func TestRestoredGateNeverReusesACrossingID(t *testing.T) {
	addr := freeAddr(t)
	startBroker(t, addr)
	dir := t.TempDir()
	mod := func(c *Config) { c.Brokers, c.Window = []string{addr}, 300*time.Millisecond }
	decide := func(g *testGateSvc, id string, n int) zone.Crossing {
		t.Helper()
		st, _, raw := g.post(tokGate, unidentifiedCrossing(id, time.Now().UTC()))
		require.Equal(t, http.StatusAccepted, st, string(raw))
		eventually(t, "crossing "+id+" decided and forwarded", func() bool {
			return len(g.crossings(0)) == n && g.status().OutboxDepth == 0
		})
		return g.crossings(0)[n-1]
	}

	g := startGate(t, dir, mod)
	a := decide(g, "a", 1)
	st, backup := g.do(http.MethodGet, "/v1/admin/backup", tokCustoms, nil)
	require.Equal(t, http.StatusOK, st)
	b := decide(g, "b", 2)
	g.stop()

	path := filepath.Join(dir, "gate-"+testGate+".db")
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, backup, 0o600))
	g = startGate(t, dir, mod)
	c := decide(g, "c", 2)
	require.Equal(t, b.Seq, c.Seq, "the restored file counts crossing seqs again")
	require.Equal(t, untagged(b.ID), untagged(c.ID), "and the correlator's ID is the same")
	assert.NotEqual(t, b.ID, c.ID, "the stored ID is not")
	assert.Equal(t, a, g.crossings(0)[0], "the crossing in the backup is kept as it was")

	// The zone applies everything the gate sent.
	db, err := bolt.Open(filepath.Join(t.TempDir(), "api.db"), bolt.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	svc := &zone.CrossingService{Store: bolt.NewCrossingStore(db), Log: quietLog()}
	ctx := context.Background()
	for _, m := range readTopic(t, addr, zone.TopicCrossings) {
		e, err := kafka.DecodeEvent(m.Value)
		require.NoError(t, err)
		_, err = svc.ApplyCrossingEvent(ctx, e)
		require.NoError(t, err)
	}
	alarms := 0
	for _, m := range readTopic(t, addr, zone.TopicAlarms) {
		e, err := kafka.DecodeEvent(m.Value)
		require.NoError(t, err)
		applied, err := svc.ApplyAlarmEvent(ctx, e)
		require.NoError(t, err)
		if applied {
			alarms++
		}
	}
	store := bolt.NewCrossingStore(db)
	for _, x := range []zone.Crossing{a, b, c} {
		got, err := store.Crossing(ctx, x.ID)
		require.NoError(t, err, "the zone recorded %s", x.ID)
		assert.Equal(t, x.Time.UTC(), got.Time.UTC())
		assert.Equal(t, x.EventIDs, got.EventIDs)
	}
	assert.Equal(t, 3, alarms, "an unidentified alarm for each crossing, none dropped as a repeat")
	page, err := bolt.NewAlarmStore(db).Alarms(ctx, zone.AlarmFilter{Limit: 100})
	require.NoError(t, err)
	for _, al := range page.Items {
		assert.NotEqual(t, zone.AlarmIDConflict, al.Kind, "no ID conflict: %s", al.Message)
	}
}
