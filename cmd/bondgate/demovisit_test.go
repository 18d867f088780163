package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/demo"
	"github.com/bondgate/bondgate/internal/zone"
)

// The visit story tells a foreign aircraft from entry to write-off: the
// visit departs and today's period is verified. Customs locks a verified
// period, so the next run on the same day uses the other firm, and once both
// firms' books for today are closed the command does nothing, says why and
// exits 3.
func TestDemoVisitStoryFromEntryToWriteOff(t *testing.T) {
	s := startZoneStack(t)
	today := time.Now().In(zone.Shanghai).Format(zone.DateLayout)
	visit := func() string {
		var out bytes.Buffer
		err := demo.RunVisit(context.Background(), demo.Options{API: s.api, Gate: s.gate, MROToken: "mro-hna", OtherMROToken: "mro-gameco",
			Officer: "officer-1", GateTok: "gate-mro-1", Timeout: 90 * time.Second, Out: &out})
		require.NoError(t, err, out.String())
		return out.String()
	}
	verified := func(firm string) {
		t.Helper()
		var ws struct {
			Items []zone.WriteOff `json:"items"`
		}
		s.do(http.MethodGet, s.api+"/v1/writeoffs?firm="+firm, "officer-1", nil, &ws)
		require.Len(t, ws.Items, 1, firm)
		w := ws.Items[0]
		assert.Equal(t, zone.WriteOffVerified, w.Status)
		assert.Equal(t, today, w.From)
		assert.Equal(t, 1, w.Summary.VisitsDeparted, "the story's visit departed inside the period")
		var vs struct {
			Items []zone.Visit `json:"items"`
		}
		s.do(http.MethodGet, s.api+"/v1/maintenance/visits?firm="+firm, "officer-1", nil, &vs)
		require.Len(t, vs.Items, 1, firm)
		v := vs.Items[0]
		assert.Equal(t, zone.VisitDeparted, v.Status)
		assert.True(t, v.Foreign)
		assert.Equal(t, zone.DepositExempt, v.Deposit)
		require.Len(t, v.RemovedParts, 1)
		assert.Equal(t, zone.DispositionFinal, v.RemovedParts[0].Disposition.Status, "the scrap was approved")
	}

	out := visit()
	for _, fact := range []string{"inbound pre-declared", "crossed in", "in repair", "part consumed", "scrap approved",
		"repaired", "crossed out", "departed", "write-off verified", "opening"} {
		assert.Contains(t, out, fact)
	}
	verified("HNA-TECHNIC")

	out = visit()
	assert.Regexp(t, `HNA-TECHNIC's write-off period \S+ \(`+today+` to `+today+`\) is verified: its books for today are closed`, out)
	assert.Contains(t, out, "GAMECO drafts write-off period")
	verified("GAMECO")

	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "--story", "visit", "--api", s.api, "--gate", s.gate}, &stdout, &stderr)
	assert.Equal(t, 3, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	assert.Contains(t, stderr.String(), "today's books are closed for every firm the demo may use (2 firms, each said above); nothing was done")
	assert.Equal(t, 2, strings.Count(stdout.String(), "its books for today are closed"), stdout.String())
	var decls struct {
		Items []zone.PreDeclaration `json:"items"`
	}
	s.do(http.MethodGet, s.api+"/v1/predeclarations", "officer-1", nil, &decls)
	assert.Len(t, decls.Items, 4, "the refused run declared nothing")
}
