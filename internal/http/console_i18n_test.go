package http

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsoleNamesEveryAlarmKind: every alarm kind the API documents has a
// label in both of the console's languages, so an officer never reads a
// raw kind such as equipment_overdue.
func TestConsoleNamesEveryAlarmKind(t *testing.T) {
	raw, err := openAPIFiles.ReadFile("openapi/alarms.json")
	require.NoError(t, err)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	kinds := doc.Components.Schemas["Alarm"].Properties["kind"].Enum
	require.Contains(t, kinds, "equipment_overdue")

	js, err := consoleFiles.ReadFile("console/i18n.js")
	require.NoError(t, err)
	zh, en, ok := strings.Cut(string(js), "\n  'en': {")
	require.True(t, ok, "i18n.js has an English block")
	for _, k := range kinds {
		label := regexp.MustCompile(`\n    'alarm\.` + regexp.QuoteMeta(k) + `': '[^']+'`)
		assert.Regexp(t, label, zh, "zh-CN label of %s", k)
		assert.Regexp(t, label, en, "English label of %s", k)
	}
}
