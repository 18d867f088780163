package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/demo"
	"github.com/bondgate/bondgate/internal/zone"
)

// Every demo run stands on its own: run after run against one system, and
// after a run that failed, the story comes out whole; a failure names the
// crossing and what the gate decided, and leaves nothing cleared behind.
func TestDemoRunsAgainAndAgain(t *testing.T) {
	s := startZoneStack(t)
	run := func(o demo.Options) (string, error) {
		var out bytes.Buffer
		o.API, o.Gate, o.MROToken, o.Officer = s.api, s.gate, "mro-hna", "officer-1"
		if o.GateTok == "" {
			o.GateTok = "gate-mro-1"
		}
		if o.Timeout == 0 {
			o.Timeout = 90 * time.Second
		}
		o.Transit, o.Out = 40*time.Minute, &out
		err := demo.Run(context.Background(), o)
		return out.String(), err
	}
	ok := func(what string) {
		out, err := run(demo.Options{})
		require.NoError(t, err, "%s:\n%s", what, out)
		require.Contains(t, out, "arrived", what)
	}
	// A crossing the gate does not authorize for the run's declaration fails
	// the run at once, named (this recording's plate read is too weak).
	start := time.Now()
	out, err := run(demo.Options{Recording: "unidentified-crossing", Timeout: 60 * time.Second})
	require.Error(t, err, out)
	assert.Less(t, time.Since(start), 45*time.Second, "fails when the gate decides, not at the timeout")
	assert.Regexp(t, `crossing X-G-MRO-1-\S+ \(segment 2, in, at [^)]+\) unidentified`, err.Error())
	assert.Contains(t, err.Error(), "is cancelled, so it is not left behind")

	ok("a run after a failed one")
	ok("the next run, straight after")

	// A run that fails after clearing (the sensors' token is refused) must
	// not leave a clearance for the next run's crossing to take.
	out, err = run(demo.Options{GateTok: "gate-main"})
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "is cancelled, so it is not left behind")
	ok("the run after a failed one")

	// No declaration any run made is left cleared.
	var list struct {
		Items []zone.PreDeclaration `json:"items"`
	}
	s.do(http.MethodGet, s.api+"/v1/predeclarations?status=cleared", "officer-1", nil, &list)
	for _, d := range list.Items {
		assert.NotEqual(t, "956-482", d.Object.ESN, "%s left cleared", d.ID)
	}
}
