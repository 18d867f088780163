package bolt_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func decodeEvent(t *testing.T, raw []byte) zone.Event {
	t.Helper()
	var ev zone.Event
	require.NoError(t, json.Unmarshal(raw, &ev), "outbox value must be one CloudEvents JSON document")
	require.Equal(t, "1.0", ev.SpecVersion)
	require.NotEmpty(t, ev.ID)
	return ev
}
