package http

import (
	"encoding/json"
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// nextOf reads events until one named name, skipping the others.
func (c *streamClient) nextOf(name string) sse {
	c.t.Helper()
	for {
		if ev := c.next(); ev.Event == name {
			return ev
		}
	}
}

// The console follows visits and write-offs live: a visit entering the zone
// and a submitted period reach the officer's stream with the record after.
func TestStreamVisitsAndWriteOffs(t *testing.T) {
	a := maintenanceAPI(t)
	c := a.openStream("")
	c.ready()

	id := visitOfHNA(a)
	var v zone.Visit
	for v.Status != zone.VisitInRepair {
		ch := c.nextOf(StreamVisit).change(t)
		assert.Equal(t, id, ch.ID)
		require.NoError(t, json.Unmarshal(ch.Record, &v))
	}
	assert.Equal(t, "HNA-TECHNIC", v.Firm)
	assert.Len(t, v.TaskCards, 0, "the card comes after it entered")

	w := writeOffOfHNA(a)
	r := a.post("/v1/writeoffs/"+w+"/submit", tokHNA, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var wo zone.WriteOff
	for wo.Status != zone.WriteOffSubmitted {
		ch := c.nextOf(StreamWriteOff).change(t)
		assert.Equal(t, w, ch.ID)
		require.NoError(t, json.Unmarshal(ch.Record, &wo))
	}
	assert.Equal(t, "HNA-TECHNIC", wo.Firm)
}
