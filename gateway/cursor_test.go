package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSinceSeqAtTheTopOfUint64DoesNotWrap: since_seq is "after this seq";
// the largest uint64 has nothing after it, and adding one to it must not
// wrap round to the start of the log. Past the range, or negative, is a 400.
func TestSinceSeqAtTheTopOfUint64DoesNotWrap(t *testing.T) {
	g := startGate(t, t.TempDir(), func(c *Config) { c.Window = 300 * time.Millisecond })
	now := time.Now()
	st, _, raw := g.post(tokGate, []any{ev("CAM-1-c1", "CAM-1", "camera.detection", now, map[string]any{"object_class": "engine", "track_id": "t-c1"}),
		ev("IR-1-c1-a", "IR-1", "infrared.break", now.Add(100*time.Millisecond), map[string]any{"beam": "A", "segment": 1}),
		ev("IR-1-c1-b", "IR-1", "infrared.break", now.Add(200*time.Millisecond), map[string]any{"beam": "B", "segment": 1})})
	require.Equal(t, http.StatusAccepted, st, string(raw))
	eventually(t, "the crossing is decided", func() bool { return len(g.crossings(0)) == 1 })

	for _, path := range []string{"/v1/events", "/v1/crossings"} {
		st, raw := g.do(http.MethodGet, path+"?since_seq=18446744073709551615", tokCustoms, nil)
		require.Equal(t, http.StatusOK, st, string(raw))
		var body struct {
			Items []json.RawMessage `json:"items"`
		}
		require.NoError(t, json.Unmarshal(raw, &body))
		assert.Empty(t, body.Items, "%s after the top of uint64 holds nothing", path)

		st, raw = g.do(http.MethodGet, path+"?since_seq=18446744073709551614", tokCustoms, nil)
		require.Equal(t, http.StatusOK, st, string(raw))

		for _, bad := range []string{"18446744073709551616", "99999999999999999999999", "-1", fmt.Sprint(-1 << 62)} {
			st, raw := g.do(http.MethodGet, path+"?since_seq="+bad, tokCustoms, nil)
			assert.Equal(t, http.StatusBadRequest, st, "%s since_seq=%s: %s", path, bad, raw)
			assert.Contains(t, string(raw), "since_seq")
		}
	}
}
