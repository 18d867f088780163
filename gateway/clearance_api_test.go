package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// GET /v1/clearances/{id} answers whether this gate holds one clearance:
// the demo waits on it, since the count in /v1/status can stay the same
// while one clearance arrives and another leaves.
func TestGateAnswersForOneClearance(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-held", zone.Clearance{ID: "DECL-HELD", Gate: testGate, Direction: zone.In,
		Window: zone.Window{From: now.Add(-time.Hour), To: now.Add(time.Hour)}, ObjectKind: zone.KindEngine,
		Identities: []zone.Identity{{Kind: zone.ReadStandTag, Value: "STAND-9"}}, State: zone.ClearanceActive, Version: 1})

	st, raw := g.do(http.MethodGet, "/v1/clearances/DECL-HELD", tokCustoms, nil)
	require.Equal(t, http.StatusOK, st, string(raw))
	var held HeldClearance
	require.NoError(t, json.Unmarshal(raw, &held))
	assert.Equal(t, "DECL-HELD", held.Clearance.ID)
	assert.Equal(t, zone.ClearanceActive, held.Clearance.State)
	assert.Empty(t, held.UsedBy)

	st, raw = g.do(http.MethodGet, "/v1/clearances/DECL-HELD", tokGate, nil)
	assert.Equal(t, http.StatusOK, st, string(raw))
	st, raw = g.do(http.MethodGet, "/v1/clearances/DECL-ELSEWHERE", tokCustoms, nil)
	assert.Equal(t, http.StatusNotFound, st, string(raw))
	assert.Contains(t, string(raw), "DECL-ELSEWHERE")
	st, _ = g.do(http.MethodGet, "/v1/clearances/DECL-HELD", tokOtherGate, nil)
	assert.Equal(t, http.StatusForbidden, st, "another gate's token")
	st, _ = g.do(http.MethodGet, "/v1/clearances/DECL-HELD", "", nil)
	assert.Equal(t, http.StatusUnauthorized, st)
}
