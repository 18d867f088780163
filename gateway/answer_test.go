package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The 202 answer is written without reflection; it must stay the bytes
// c.JSON wrote (json.Encoder with HTML escaping, trailing newline).
func TestAcceptedJSONMatchesEncoder(t *testing.T) {
	ids := []string{"", "CAM-1-000001", "a\"b", `back\slash`, "<script>&", "tab\there", "nul\x00", "ünïcödé", "line\u2028sep",
		"bad\xffutf8", "del\x7f", "~!@#$%^*()_+{}|:?", "snowman ☃ and 🚀"}
	cases := [][]Accepted{nil, {}}
	for i, id := range ids {
		cases = append(cases, []Accepted{{EventID: id, Seq: uint64(i), Duplicate: i%2 == 1}})
	}
	var all []Accepted
	for i, id := range ids {
		all = append(all, Accepted{EventID: id, Seq: 1<<64 - 1 - uint64(i), Duplicate: i%3 == 0})
	}
	cases = append(cases, all)
	for _, acc := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(map[string]any{"accepted": acc}); err != nil {
			t.Fatal(err)
		}
		if got := appendAcceptedJSON(nil, acc); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("accepted %+v:\n got  %q\n want %q", acc, got, want.Bytes())
		}
	}
}

func FuzzAcceptedJSON(f *testing.F) {
	f.Add("CAM-1-000001", uint64(7), false)
	f.Add("<&>\u2028\xff", uint64(0), true)
	f.Fuzz(func(t *testing.T, id string, seq uint64, dup bool) {
		acc := []Accepted{{EventID: id, Seq: seq, Duplicate: dup}, {EventID: id + "x", Seq: seq / 2}}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(map[string]any{"accepted": acc}); err != nil {
			t.Fatal(err)
		}
		if got := appendAcceptedJSON(nil, acc); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("got %q, want %q", got, want.Bytes())
		}
	})
}

// Over HTTP the 202 carries the same bytes and content type as before, and
// ?pretty still indents.
func TestPostEventsAnswerBytes(t *testing.T) {
	g := startGate(t, t.TempDir(), nil)
	now := time.Now()
	batch := []map[string]any{ev("CAM-<1>&", "CAM-1", "heartbeat", now, nil), ev("CAM-2", "CAM-1", "heartbeat", now, nil)}
	for _, path := range []string{"/v1/events", "/v1/events?pretty"} {
		raw, err := json.Marshal(batch)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, g.http.URL+path, bytes.NewReader(raw))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tokGate)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, res.StatusCode, string(got))
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
		var body acceptedBody
		require.NoError(t, json.Unmarshal(got, &body))
		require.Len(t, body.Accepted, 2)
		assert.Equal(t, path == "/v1/events?pretty", body.Accepted[0].Duplicate, "the second post repeats the first")
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		if path != "/v1/events" {
			enc.SetIndent("", "  ")
		}
		require.NoError(t, enc.Encode(map[string]any{"accepted": body.Accepted}))
		assert.Equal(t, want.String(), string(got))
	}
}
