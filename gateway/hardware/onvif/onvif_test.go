package onvif

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/decide"
	"github.com/bondgate/bondgate/gateway/hardware"
	"github.com/bondgate/bondgate/internal/zone"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "fixtures", "hardware", "onvif", name))
	require.NoError(t, err)
	return raw
}

var cam = hardware.Camera{Device: "CAM-2", Segment: 1, Direction: zone.In}

// A line crossing is a detection at the message's UtcTime, tracked by the
// device's ObjectId; the same Notify re-sent maps to the same event ID.
func TestLineCrossedIsADetection(t *testing.T) {
	msgs, err := ParseNotify(fixture(t, "notify-line-crossed.xml"))
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, TopicLineCrossed, msgs[0].Topic)
	assert.Equal(t, "17", msgs[0].Data["ObjectId"])
	evs := Events(cam, msgs)
	require.Len(t, evs, 1)
	assert.Equal(t, decide.EventDetection, evs[0].Type)
	assert.Equal(t, time.Date(2026, 11, 26, 10, 15, 2, 120e6, time.UTC), evs[0].Time)
	assert.Equal(t, zone.In, evs[0].Direction)
	assert.Equal(t, &decide.Source{Kind: "onvif", Device: "CAM-2"}, evs[0].Source)
	again, _ := ParseNotify(fixture(t, "notify-line-crossed.xml"))
	assert.Equal(t, evs[0].EventID, Events(cam, again)[0].EventID)
}

// Initialized is replayed state: a heartbeat marked initialized, never a
// detection; a field or motion state turning off is a heartbeat.
func TestInitializedIsStateNotAnEvent(t *testing.T) {
	msgs, err := ParseNotify(fixture(t, "notify-initialized.xml"))
	require.NoError(t, err)
	evs := Events(cam, msgs)
	require.Len(t, evs, 1)
	assert.Equal(t, decide.EventHeartbeat, evs[0].Type)
	assert.Equal(t, decide.StateInitialized, evs[0].State)

	msgs, err = ParseNotify(fixture(t, "notify-field-inside.xml"))
	require.NoError(t, err)
	assert.Equal(t, decide.EventDetection, Events(cam, msgs)[0].Type)
	msgs, err = ParseNotify(fixture(t, "notify-motion-off.xml"))
	require.NoError(t, err)
	assert.Equal(t, decide.EventHeartbeat, Events(cam, msgs)[0].Type)
}

func TestNotifyRefusals(t *testing.T) {
	good := string(fixture(t, "notify-line-crossed.xml"))
	for body, field := range map[string]string{
		`<!DOCTYPE x [<!ENTITY a "a">]>` + good:                                       "body",
		strings.Replace(good, `UtcTime="2026-11-26T10:15:02.120Z"`, `UtcTime="x"`, 1): "NotificationMessage[0].Message.UtcTime",
		strings.Replace(good, `"Changed"`, `"Exploded"`, 1):                           "NotificationMessage[0].Message.PropertyOperation",
		strings.Replace(good, "GateLine1", "Gate\xffLine", 1):                         "body",
		"<notsoap/>": "body",
	} {
		_, err := ParseNotify([]byte(body))
		var e *Error
		require.ErrorAs(t, err, &e, body[:min(60, len(body))])
		assert.Equal(t, field, e.Field)
	}
}

func FuzzParseNotify(f *testing.F) {
	for _, n := range []string{"notify-line-crossed.xml", "notify-field-inside.xml", "notify-motion-off.xml", "notify-initialized.xml"} {
		f.Add(fixture(f, n))
	}
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "&b;&b;"><!ENTITY b "x">]><e>&a;</e>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := ParseNotify(body)
		if err != nil {
			return
		}
		for _, ev := range Events(cam, msgs) {
			if ev.Time.Year() < 2000 || ev.Time.Year() > 9999 {
				continue
			}
			ev.Gate = "G-MRO-1"
			raw, err := json.Marshal(ev)
			require.NoError(t, err)
			_, err = decide.ParseEvents(raw)
			require.NoError(t, err, "%s", raw)
		}
	})
}
