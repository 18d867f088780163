package http

import (
	"context"
	"encoding/json"
	nethttp "net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// outOfYears are times outside 2000–2199 (UTC): the first is the one that
// once stopped a gate (its UTC year is 10000).
var outOfYears = []string{
	"9999-12-31T23:30:00-01:00",
	"1999-12-31T23:59:59Z",
	"2000-01-01T00:30:00+01:00", // 1999 in UTC
	"2200-01-01T00:00:00Z",
	"0001-01-01T00:00:00Z",
}

// withWindow returns engineJSON with one end of its window replaced.
func withWindow(t *testing.T, end, value string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(engineJSON), &m))
	m["window"].(map[string]any)[end] = value
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return string(raw)
}

// crossedDeclaration submits, clears and crosses a declaration of HNA.
func (a *api) crossedDeclaration() *zone.PreDeclaration {
	a.t.Helper()
	d := a.submit(tokHNA)
	require.Equal(a.t, nethttp.StatusOK, a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`).Status)
	a.cross(d.ID)
	return a.declaration(d.ID, tokHNA)
}

// TestTimeFieldsOutsideYearsRefused: every time the API takes, in a body or
// a query, is refused with a 400 naming it when it lies outside 2000–2199,
// and nothing is stored.
func TestTimeFieldsOutsideYearsRefused(t *testing.T) {
	a := newAPI(t)
	withRecords(a)
	withZoneFeed(a)
	crossed := a.crossedDeclaration()
	declsBefore := a.count()
	entries := func() int {
		r := a.get("/v1/temporary-entries?limit=500", tokOfficer)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		return len(r.json(t)["items"].([]any))
	}
	entriesBefore := entries()

	for _, bad := range outOfYears {
		refused := func(r reply, field string) {
			t.Helper()
			require.Equal(t, nethttp.StatusBadRequest, r.Status, "%s=%s: %s", field, bad, r.Body)
			assert.Contains(t, r.problem(t).fields(), field, "%s=%s", field, bad)
		}
		// Bodies.
		refused(a.post("/v1/predeclarations", tokHNA, withWindow(t, "from", bad)), "window.from")
		refused(a.post("/v1/predeclarations", tokHNA, withWindow(t, "to", bad)), "window.to")
		refused(a.post("/v1/temporary-entries", tokHNA,
			strings.Replace(temporaryEntryJSON, "2026-11-20T08:00:00Z", bad, 1)), "entered_at")
		refused(a.post("/v1/predeclarations/"+crossed.ID+"/arrival", tokHNA, `{"at":"`+bad+`"}`), "at")
		// Queries.
		q := url.QueryEscape(bad)
		for _, c := range []struct{ path, field string }{
			{"/v1/crossings?since=" + q, "since"},
			{"/v1/stats?from=" + q, "from"},
			{"/v1/stats?to=" + q, "to"},
			{"/v1/parts/ledger?from=" + q, "from"},
			{"/v1/parts/lots/L1/ledger?to=" + q, "to"},
			{"/v1/temporary-entries?due_before=" + q, "due_before"},
		} {
			refused(a.get(c.path, tokOfficer), c.field)
		}
	}
	// A date alone is a query time too.
	assert.Equal(t, []string{"from"}, a.get("/v1/stats?from=1999-12-31", tokOfficer).problem(t).fields())

	assert.Equal(t, declsBefore, a.count(), "no declaration stored")
	assert.Equal(t, entriesBefore, entries(), "no temporary entry stored")
	assert.Equal(t, zone.StatusCrossed, a.declaration(crossed.ID, tokHNA).Status, "no arrival recorded")
}

// TestSubmitRefusesEndedWindow: a window already over when submitted, or
// one whose from is not before its to, is a 400 naming window.to; a window
// still open (even if it began long ago) is taken.
func TestSubmitRefusesEndedWindow(t *testing.T) {
	a := newAPI(t)
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	for name, w := range map[string][2]string{
		"ended an hour ago":  {ts(-3 * time.Hour), ts(-time.Hour)},
		"ended a second ago": {ts(-time.Hour), ts(-time.Second)},
		"from equals to":     {ts(time.Hour), ts(time.Hour)},
		"from after to":      {ts(2 * time.Hour), ts(time.Hour)},
	} {
		body := withWindow(t, "to", w[1])
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		m["window"].(map[string]any)["from"] = w[0]
		raw, _ := json.Marshal(m)
		r := a.post("/v1/predeclarations", tokHNA, string(raw))
		require.Equal(t, nethttp.StatusBadRequest, r.Status, "%s: %s", name, r.Body)
		assert.Equal(t, []string{"window.to"}, r.problem(t).fields(), name)
	}
	assert.Equal(t, 0, a.count(), "nothing stored")

	r := a.post("/v1/predeclarations", tokHNA, withWindow(t, "from", ts(-48*time.Hour)))
	assert.Equal(t, nethttp.StatusCreated, r.Status, "an open window that began long ago: %s", r.Body)
}

// TestArrivalInTheFutureRefused: an arrival stamped later than now (beyond
// the clock-skew allowance) is a 400 and records nothing; one within the
// allowance is taken.
func TestArrivalInTheFutureRefused(t *testing.T) {
	a := newAPI(t)
	d := a.crossedDeclaration()
	path := "/v1/predeclarations/" + d.ID + "/arrival"
	for _, ahead := range []time.Duration{time.Hour, 26 * 365 * 24 * time.Hour, zone.ClockSkew + 10*time.Second} {
		at := time.Now().UTC().Add(ahead).Format(time.RFC3339)
		r := a.post(path, tokHNA, `{"at":"`+at+`"}`)
		require.Equal(t, nethttp.StatusBadRequest, r.Status, "%s ahead: %s", ahead, r.Body)
		assert.Equal(t, []string{"at"}, r.problem(t).fields())
	}
	got := a.declaration(d.ID, tokHNA)
	assert.Equal(t, zone.StatusCrossed, got.Status)
	assert.Nil(t, got.TransitMinutes)

	at := time.Now().UTC().Add(30 * time.Second).Format(time.RFC3339)
	r := a.post(path, tokHNA, `{"at":"`+at+`"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "within the skew allowance: %s", r.Body)
}

// TestTemporaryEntryInTheFutureRefused: entered_at later than now is a 400
// (CONTRACT "Temporary entries, tightened") and stores nothing.
func TestTemporaryEntryInTheFutureRefused(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	future := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	r := a.post("/v1/temporary-entries", tokHNA, strings.Replace(temporaryEntryJSON, "2026-11-20T08:00:00Z", future, 1))
	require.Equal(t, nethttp.StatusBadRequest, r.Status, "body: %s", r.Body)
	assert.Equal(t, []string{"entered_at"}, r.problem(t).fields())
	l := a.get("/v1/temporary-entries", tokHNA)
	assert.Empty(t, l.json(t)["items"], "nothing stored")

	now := time.Now().UTC().Format(time.RFC3339)
	a.createEntry(tokHNA, strings.Replace(temporaryEntryJSON, "2026-11-20T08:00:00Z", now, 1))
}

// TestZoneServicesCheckTimesToo: callers that reach the services without
// the HTTP layer (fixtures, tools) meet the same rules.
func TestZoneServicesCheckTimesToo(t *testing.T) {
	a := newAPI(t)
	var d zone.PreDeclaration
	require.NoError(t, json.Unmarshal([]byte(engineJSON), &d))
	d.Window.To = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	p := zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}
	_, _, err := a.srv.cfg.Declarations.Submit(context.Background(), p, d, nil)
	require.Equal(t, zone.EINVALID, zone.ErrorCode(err), "%v", err)
	assert.Equal(t, "window.to", zone.ErrorFields(err)[0].Field)
}
