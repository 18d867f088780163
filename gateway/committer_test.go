package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A group waits for stragglers at most the linger in all. Requests that
// keep arriving closer together than the linger must not hold one group
// open until they stop: before, each straggler re-armed the wait, and this
// whole stream (a request every 5 ms for about half a second, linger 50 ms)
// went out in a single commit.
func TestCommitterLingerIsBoundedPerGroup(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gate.db"), bolt.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	store, err := bolt.NewGateStore(db)
	require.NoError(t, err)
	c := newCommitter(store, 50*time.Millisecond, 0, nil)
	c.crowded = true // the last group had company, so this one lingers
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { c.run(ctx); close(ran) }()
	t.Cleanup(func() { cancel(); <-ran })

	const requests = 100
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			acc, err := c.Submit(ctx, []decide.SensorEvent{{EventID: fmt.Sprintf("HB-%03d", i), DeviceID: "HB-1", Raw: []byte(`{}`)}})
			if err == nil && len(acc) != 1 {
				err = fmt.Errorf("%d answers", len(acc))
			}
			assert.NoError(t, err)
		})
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	st := c.Stats()
	t.Logf("%d requests in %d commits", st.Requests, st.Commits)
	require.Equal(t, uint64(requests), st.Requests)
	require.GreaterOrEqual(t, st.Commits, uint64(3), "a group must not wait past its linger for stragglers")
}
