package http

import (
	"encoding/base64"
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestAuditCursorAtTheTopDoesNotWrap: after= the top of uint64 is an empty
// page, not the trail again from its start; negative and larger values are
// a 400 naming after.
func TestAuditCursorAtTheTopDoesNotWrap(t *testing.T) {
	a := newAPI(t)
	a.submit(tokHNA)
	a.submit(tokHNA)
	all := a.get("/v1/audit", tokAuditor)
	require.Equal(t, nethttp.StatusOK, all.Status, "body: %s", all.Body)
	require.Len(t, all.json(t)["items"], 2)

	r := a.get("/v1/audit?after=18446744073709551615", tokAuditor)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Empty(t, r.json(t)["items"], "nothing follows the top of uint64")

	for _, v := range []string{"18446744073709551616", "99999999999999999999999", "-1", "-0", "1e3", "+1"} {
		r := a.get("/v1/audit?after="+v, tokAuditor)
		require.Equal(t, nethttp.StatusBadRequest, r.Status, "after=%s: %s", v, r.Body)
		assert.Equal(t, []string{"after"}, r.problem(t).fields(), v)
	}
}

// TestAlarmCursorOfZeroRefused: an alarm cursor decoding to 0 would start the
// list again from the newest; no page ever issues it, so it is a 400.
func TestAlarmCursorOfZeroRefused(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	zero := base64.RawURLEncoding.EncodeToString(make([]byte, 8))
	r := a.get("/v1/alarms?cursor="+zero, tokOfficer)
	require.Equal(t, nethttp.StatusBadRequest, r.Status, "body: %s", r.Body)
	assert.Equal(t, []string{"cursor"}, r.problem(t).fields())
	assert.Equal(t, zone.EINVALID, r.problem(t).Code)
}
