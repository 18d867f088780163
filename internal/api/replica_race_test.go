package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/kafka/kafkatest"
)

// TestReplicateKeepsAVerdictThatRacedItsTimeout: the follower takes a
// write's waiter (it judged the record valid and will not apply it, since
// the write is in the file) at the moment the write's confirmation times
// out. The write must stand: undoing it would leave this file without a
// transaction every other node applied.
func TestReplicateKeepsAVerdictThatRacedItsTimeout(t *testing.T) {
	b := kafkatest.StartBroker(t)
	ctx := context.Background()
	require.NoError(t, kafka.EnsureTopics(ctx, b.Addrs(), 1))
	log := slog.New(slog.DiscardHandler)
	cl, err := kafka.NewChangelog(b.Addrs(), kafka.Security{}, log)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	const lease = 300 * time.Millisecond
	r := newReplica(ReplicaConfig{Changelog: true, Lease: lease, NodeID: "a"}, bolttest.MustOpenDB(t), cl, log)

	done := make(chan error, 1)
	go func() { done <- r.Replicate(bolt.TxRecord{Epoch: 1, Seq: 1}) }()
	// Play the follower: take the waiter as it does, and give the verdict
	// only after the write's own timeout has passed.
	var verdict chan bool
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if w := r.waiters[bolt.Position{Epoch: 1, Seq: 1}]; w != nil {
			verdict = w
			delete(r.waiters, bolt.Position{Epoch: 1, Seq: 1})
			return true
		}
		return false
	}, 10*time.Second, time.Millisecond)
	time.Sleep(2 * lease)
	verdict <- true
	select {
	case err := <-done:
		require.NoError(t, err, "the log accepted the write and the follower skipped it as already in the file")
	case <-time.After(10 * time.Second):
		t.Fatal("Replicate never returned")
	}
}
