package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// The clearance event from the zone carries the release-note number; the
// gate keeps it in its clearance cache, on disk, and the crossing that uses
// the clearance carries it — after a restart with no link too.
func TestCrossingCarriesTheReleaseNoteOffline(t *testing.T) {
	now := time.Now().UTC()
	const number = "HK6401-2026-0H4KQ2-000123"
	d := &zone.PreDeclaration{ID: "D-GENX", Firm: "HNA-TECHNIC", Gate: testGate, Direction: zone.In, Status: zone.StatusCleared,
		Object: zone.Object{Kind: zone.KindEngine, ESN: "956-123", Model: "GEnx-1B"}, Conveyance: zone.Conveyance{StandTag: "STAND-0042"},
		Window: zone.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, Version: 2, UpdatedAt: now,
		ReleaseNote: &zone.ReleaseNote{Number: number, IssuedAt: now}}
	cl := zone.ClearanceOf(d, "")
	require.Equal(t, number, cl.ReleaseNote, "the clearance event carries the number")

	dir := t.TempDir()
	g := startGate(t, dir, nil)
	seedClearance(t, g.svc, "ce-1", cl)
	g.stop()

	g2 := startGate(t, dir, func(c *Config) { c.Window = 500 * time.Millisecond }) // no brokers: offline
	cached, _, ok := g2.svc.book.Get("D-GENX")
	require.True(t, ok)
	assert.Equal(t, number, cached.ReleaseNote, "the cache on disk holds the number")
	st, _, raw := g2.post(tokGate, engineCrossing(1, "STAND-0042", now.Add(-time.Second)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "crossing decided", func() bool { return len(g2.crossings(0)) == 1 })
	x := g2.crossings(0)[0]
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, number, x.ReleaseNote, "the gate's crossing record carries the note")
}
