package http

import (
	"encoding/json"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// declareAs submits engineJSON edited by edit for the firm of token.
func (a *api) declareAs(token string, edit func(m map[string]any)) *zone.PreDeclaration {
	a.t.Helper()
	var m map[string]any
	require.NoError(a.t, json.Unmarshal([]byte(engineJSON), &m))
	edit(m)
	raw, err := json.Marshal(m)
	require.NoError(a.t, err)
	r := a.post("/v1/predeclarations", token, string(raw))
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	var d zone.PreDeclaration
	require.NoError(a.t, json.Unmarshal(r.Body, &d))
	return &d
}

func conveyance(stand, plate string) func(m map[string]any) {
	return func(m map[string]any) {
		c := map[string]any{"stand_tag": stand}
		if plate != "" {
			c["vehicle_plate"] = plate
		}
		m["conveyance"] = c
	}
}

func (a *api) clear(id string) reply {
	a.t.Helper()
	return a.do(req{method: "POST", path: "/v1/predeclarations/" + id + "/decision", token: tokOfficer, body: `{"decision":"clear"}`})
}

// TestLookAlikeIdentitiesSecondClearRefused: two firms' declarations at one
// gate and direction, overlapping windows, whose stand tags (or plates) read
// the same to the gate: the second clearing is a 409 naming the first, and
// the second stays as it was.
func TestLookAlikeIdentitiesSecondClearRefused(t *testing.T) {
	for _, c := range []struct{ first, second func(m map[string]any) }{
		{conveyance("STAND-0042", ""), conveyance("stand_0042", "")},
		{conveyance("STAND-0042", ""), conveyance("Stand.00 42", "")},
		{conveyance("STAND-0042", "琼A·D1234"), conveyance("STAND-9999", "琼a d-1234")},
	} {
		a := newAPI(t)
		first := a.declareAs(tokHNA, c.first)
		second := a.declareAs(tokGAMECO, c.second)
		require.Equal(t, nethttp.StatusOK, a.clear(first.ID).Status)

		r := a.clear(second.ID)
		require.Equal(t, nethttp.StatusConflict, r.Status, "body: %s", r.Body)
		p := r.problem(t)
		assert.Contains(t, p.Detail, first.ID, "the problem names the first declaration")
		require.Len(t, p.Errors, 1)
		assert.Contains(t, p.Errors[0].Message, first.ID)
		assert.Equal(t, zone.StatusSubmitted, a.declaration(second.ID, tokOfficer).Status, "nothing changed")

		// Once the first is no longer active (revoked), the second clears.
		rv := a.post("/v1/predeclarations/"+first.ID+"/decision", tokOfficer, `{"decision":"revoke","reason":"wrong stand"}`)
		require.Equal(t, nethttp.StatusOK, rv.Status, "body: %s", rv.Body)
		require.Equal(t, nethttp.StatusOK, a.clear(second.ID).Status)
	}
}

// TestLookAlikeIdentitiesElsewhereClear: the same identity at another gate,
// in the other direction, or in a window that does not overlap is no clash;
// neither is a different identity.
func TestLookAlikeIdentitiesElsewhereClear(t *testing.T) {
	a := newAPI(t)
	first := a.declareAs(tokHNA, conveyance("STAND-0042", ""))
	require.Equal(t, nethttp.StatusOK, a.clear(first.ID).Status)
	later := time.Now().UTC().Add(6 * time.Hour)
	for name, edit := range map[string]func(m map[string]any){
		"other gate":      func(m map[string]any) { m["gate"] = "G-MAIN" },
		"other direction": func(m map[string]any) { m["direction"] = "out" },
		"later window": func(m map[string]any) {
			m["window"] = map[string]any{"from": later.Format(time.RFC3339), "to": later.Add(time.Hour).Format(time.RFC3339)}
		},
		"other identity": func(m map[string]any) { conveyance("STAND-0043", "")(m) },
	} {
		d := a.declareAs(tokGAMECO, func(m map[string]any) {
			conveyance("stand 0042", "")(m)
			edit(m)
		})
		r := a.clear(d.ID)
		assert.Equal(t, nethttp.StatusOK, r.Status, "%s: %s", name, r.Body)
	}
}

// TestLookAlikeIdentitiesClearedAtOnce: two officers clearing look-alike
// declarations at the same moment: exactly one wins.
func TestLookAlikeIdentitiesClearedAtOnce(t *testing.T) {
	a := newAPI(t)
	for range 5 {
		const tag = "STAND-7777"
		ids := []string{a.declareAs(tokHNA, conveyance(tag, "")).ID, a.declareAs(tokGAMECO, conveyance(strings.ToLower(tag), "")).ID}
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i] = a.clear(ids[i]).Status }()
		}
		wg.Wait()
		assert.ElementsMatch(t, []int{nethttp.StatusOK, nethttp.StatusConflict}, codes)
		// Free the tag for the next round.
		for _, id := range ids {
			a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, `{"decision":"revoke","reason":"round over"}`)
		}
	}
}
