package gateway

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replayedDecision is what the replay test compares between two gates.
type replayedDecision struct {
	ID, Clearance string
	Decision      zone.Decision
	Tracks        []string
}

func decisionsOf(xs []zone.Crossing) []replayedDecision {
	out := make([]replayedDecision, len(xs))
	for i, x := range xs {
		out[i] = replayedDecision{ID: untagged(x.ID), Clearance: x.ClearanceID, Decision: x.Decision, Tracks: x.TrackIDs}
	}
	return out
}

// untagged is a stored crossing or alarm ID without the tag of the gate's
// open (see Decider.idTag), for comparing two gates' decisions.
func untagged(id string) string { return idTagRE.ReplaceAllString(id, "-") }

var idTagRE = regexp.MustCompile(`-[0-9a-f]{12}-`)

// alarmIDs lists the alarms a running gate has recorded, sorted.
func (g *testGateSvc) alarmIDs() []string {
	g.t.Helper()
	var ids []string
	keys, err := g.svc.store.Emitted()
	require.NoError(g.t, err)
	for _, k := range keys {
		if strings.HasPrefix(k, "A-") {
			ids = append(ids, k)
		}
	}
	sort.Strings(ids)
	return ids
}

// A restart replays the event log from the correlator's low-water mark. A
// crossing decided before the restart must be adopted as stored, not
// decided again: its clearance is used by now, so deciding again would make
// it unauthorized and take every track in its window, among them the person
// that the next crossing (pending at the restart) is decided on.
func TestRestartAdoptsStoredCrossingsAndDecidesPendingOnesAsUnbroken(t *testing.T) {
	const window = 4 * time.Second
	mod := func(c *Config) { c.Window = window }
	dir := t.TempDir()
	g := startGate(t, dir, mod)
	u := startGate(t, t.TempDir(), mod) // the same stream, never restarted
	now := time.Now().UTC()
	for _, s := range []*Service{g.svc, u.svc} {
		seedClearance(t, s, "ce-1", engineClearance("D-GENX", "STAND-0042", 2, zone.ClearanceActive, now))
	}

	// Times ahead of the gate clock, so the second crossing stays pending
	// (its window open) across the restart.
	t0 := now.Add(2 * time.Second)
	person := ev("CAM-1-000006", "CAM-1", "camera.detection", t0.Add(2500*time.Millisecond),
		map[string]any{"object_class": "person", "track_id": "t-6", "direction": "in"})
	stream := append(engineCrossing(1, "STAND-0042", t0), // seq 1-3: authorized at once
		append(crossPair("IR-1-000004", 2, t0.Add(1500*time.Millisecond)), // seq 4-5: pending
			person)...) // seq 6: a person in both crossings' windows
	for _, gate := range []*testGateSvc{g, u} {
		st, _, raw := gate.post(tokGate, stream)
		require.Equal(t, http.StatusAccepted, st, string(raw))
	}

	eventually(t, "first crossing authorized", func() bool { return len(g.crossings(0)) == 1 })
	first := g.crossings(0)[0]
	require.Equal(t, zone.DecisionAuthorized, first.Decision)
	require.Equal(t, "X-"+testGate+"-"+g.svc.idTag+"-3", first.ID)
	g.stop()

	g2 := startGate(t, dir, mod)
	require.Len(t, g2.crossings(0), 1, "the second crossing was decided before the restart: this machine is too slow for the test's window")

	eventually(t, "second crossing decided after the restart", func() bool { return len(g2.crossings(0)) == 2 })
	eventually(t, "second crossing decided in the unbroken run", func() bool { return len(u.crossings(0)) == 2 })
	got, want := g2.crossings(0), u.crossings(0)
	assert.Equal(t, decisionsOf(want), decisionsOf(got), "decisions after the restart equal an unbroken run's")
	assert.Equal(t, zone.DecisionPerson, got[1].Decision, "the person is the second crossing's, not taken by a re-decided first")
	assert.Equal(t, first, got[0], "the stored crossing is unchanged")

	alarms := g2.alarmIDs()
	assert.Equal(t, u.alarmIDs(), alarms)
	for _, id := range alarms {
		assert.False(t, strings.HasPrefix(id, "A-"+testGate+"-3-"), "no alarm for the adopted crossing: %s", id)
	}
	assert.Equal(t, u.status().OutboxDepth, g2.status().OutboxDepth, "nothing extra queued for Kafka")
	t.Logf("after restart: %d crossings (%s, %s), alarms %v", len(got), got[0].Decision, got[1].Decision, alarms)
}
