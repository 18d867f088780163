package api

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// TestRebuildFromSnapshotAndTail: the primary writes a snapshot into the
// changelog after SnapshotEvery transactions; a node started on an empty
// disk later restores that snapshot, applies the transactions after it,
// ends with the primary's data, and reads fewer records than the log holds.
func TestRebuildFromSnapshotAndTail(t *testing.T) {
	b := kafkatest.StartBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, kafka.EnsureTopics(ctx, b.Addrs(), 1))

	start := func(rc ReplicaConfig) *Service {
		addr := proctest.FreeAddr(t)
		rc.AdvertiseURL, rc.Lease, rc.SnapshotEvery = "http://"+addr, 2*time.Second, 60
		s, err := New(Config{Addr: addr, DataDir: t.TempDir(), Brokers: b.Addrs(), Replica: rc,
			Log: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		proctest.WaitHTTP(t, "http://"+addr+"/healthz", 30*time.Second)
		return s
	}
	primary := start(ReplicaConfig{Changelog: true})
	select {
	case <-primary.rep.primary:
	case <-time.After(30 * time.Second):
		t.Fatal("the primary never took the lease")
	}
	alarms := bolt.NewAlarmStore(primary.db)
	put := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := alarms.Put(ctx, &zone.Alarm{ID: fmt.Sprintf("A-%04d", i), Gate: "G-MRO-1", Kind: zone.AlarmSensorSilent,
				Severity: "critical", Message: "sensor silent", Time: time.Now(), State: zone.AlarmOpen})
			require.NoError(t, err)
		}
	}
	put(0, 600)
	require.Eventually(t, func() bool {
		primary.rep.mu.Lock()
		defer primary.rep.mu.Unlock()
		return primary.rep.snapSeq > 540 // every 60 transactions
	}, 30*time.Second, 50*time.Millisecond, "no snapshot in the log")
	put(600, 630)

	fresh := start(ReplicaConfig{Standby: true})
	require.Eventually(t, func() bool {
		pp, err1 := primary.db.Position()
		fp, err2 := fresh.db.Position()
		pd, err3 := primary.db.ContentDigest()
		fd, err4 := fresh.db.ContentDigest()
		return err1 == nil && err2 == nil && err3 == nil && err4 == nil && pp == fp && pd == fd && pp.Seq >= 630
	}, 30*time.Second, 100*time.Millisecond, "the rebuilt node never matched the primary")

	got, err := bolt.NewAlarmStore(fresh.db).Alarm(ctx, "A-0629")
	require.NoError(t, err, "a transaction after the snapshot")
	assert.Equal(t, "sensor silent", got.Message)
	_, err = bolt.NewAlarmStore(fresh.db).Alarm(ctx, "A-0000")
	require.NoError(t, err, "a transaction inside the snapshot")

	end, err := primary.rep.cl.EndOffset(ctx)
	require.NoError(t, err)
	st := fresh.rep.rebuildStats()
	t.Logf("log %d records; rebuild read %d (%d bytes) from the snapshot at %d in %v", end, st.Records, st.Bytes, st.Snapshot, st.Took)
	assert.Greater(t, st.Snapshot, uint64(540), "the rebuild started from the snapshot")
	assert.Less(t, st.Records, end, "the rebuild read fewer records than the log holds")
	pos, err := fresh.db.Position()
	require.NoError(t, err)
	assert.LessOrEqual(t, fresh.rep.stats().applied, pos.Seq-st.Snapshot, "only the tail was applied record by record")
}
