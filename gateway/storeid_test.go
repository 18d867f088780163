package gateway

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestReplacedStoreReReadsClearances: the clearance consumer commits its
// offsets in Kafka, but the clearances live in the gate's own file. A file
// that is replaced — moved aside as corrupt, restored from a backup — must
// not resume at the old file's offsets, or the gate would refuse moves
// customs has cleared. A plain restart keeps its place.
func TestReplacedStoreReReadsClearances(t *testing.T) {
	addr := freeAddr(t)
	startBroker(t, addr)
	dir := t.TempDir()
	mod := func(c *Config) { c.Brokers = []string{addr} }
	now := time.Now().UTC()

	g := startGate(t, dir, mod)
	firstID := g.svc.storeID
	publishClearance(t, addr, "ce-1", engineClearance("D-GENX", "STAND-0042", 2, zone.ClearanceActive, now))
	eventually(t, "the clearance reached the cache", func() bool { return g.status().Clearances == 1 })
	g.stop()

	// A plain restart is the same file: same group, nothing re-read needed.
	g = startGate(t, dir, mod)
	assert.Equal(t, firstID, g.svc.storeID, "a restart keeps the store identity")
	assert.Equal(t, 1, g.status().Clearances, "the cache is there before any link")
	g.stop()

	// Restore: the file is replaced by a copy of an empty gate's file (as an
	// old backup would be). It must read the clearance again from Kafka.
	path := filepath.Join(dir, "gate-"+testGate+".db")
	empty := t.TempDir()
	e := startGate(t, empty, nil)
	e.stop()
	raw, err := os.ReadFile(filepath.Join(empty, "gate-"+testGate+".db"))
	require.NoError(t, err)
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	g = startGate(t, dir, mod)
	assert.NotEqual(t, firstID, g.svc.storeID)
	eventually(t, "the replaced store re-read the clearance", func() bool { return g.status().Clearances == 1 })
}
