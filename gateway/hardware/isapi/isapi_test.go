package isapi

import (
	"bytes"
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
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "fixtures", "hardware", "isapi", name))
	require.NoError(t, err)
	return raw
}

var cam = hardware.Camera{Device: "CAM-1", Segment: 1, Channel: 1, Direction: zone.In, ReadKind: zone.ReadStandTag, ObjectClass: decide.ClassEngine}

// An ANPR alert's plate becomes a stand-tag read (as the device list says)
// on a detection, with the camera's confidence and the lane's direction.
func TestANPRPlateBecomesADetectionWithARead(t *testing.T) {
	a, err := ParseAlert(fixture(t, "anpr.xml"))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 26, 10, 15, 2, 0, time.UTC), a.Time, "the camera's offset is honoured")
	m := &Mapper{Camera: cam}
	got := m.Map(a)
	require.Len(t, got.Events, 1)
	ev := got.Events[0]
	assert.True(t, got.Fresh)
	assert.Equal(t, decide.EventDetection, ev.Type)
	assert.Equal(t, decide.ClassEngine, ev.ObjectClass)
	assert.Equal(t, zone.In, ev.Direction)
	assert.Equal(t, []decide.Read{{Kind: zone.ReadStandTag, Value: "STAND0042", Confidence: 0.97}}, ev.Reads)
	assert.Equal(t, &decide.Source{Kind: "isapi", Device: "CAM-1"}, ev.Source)

	// Without a read_kind the plate is a vehicle plate on a vehicle.
	plain := (&Mapper{Camera: hardware.Camera{Device: "CAM-2"}}).Map(a).Events[0]
	assert.Equal(t, zone.ReadVehiclePlate, plain.Reads[0].Kind)
	assert.Equal(t, decide.ClassVehicle, plain.ObjectClass)
	assert.Empty(t, plain.Direction, "no lane direction configured: the beams decide")
}

// A camera repeats an active event every second while it lasts: every
// repeat keeps the first one's event ID (the gate's seen-set then stores
// nothing new); after the gap, or after "inactive", it is a new event.
func TestRepeatedActiveAlertKeepsItsEventID(t *testing.T) {
	a, err := ParseAlert(fixture(t, "linedetection.xml"))
	require.NoError(t, err)
	m := &Mapper{Camera: cam}
	first := m.Map(a)
	require.Len(t, first.Events, 1)
	for i := 1; i <= 4; i++ {
		r := a
		r.Time = a.Time.Add(time.Duration(i) * time.Second)
		r.ActivePostCount = i + 1
		again := m.Map(r)
		require.Len(t, again.Events, 1)
		assert.Equal(t, first.Events[0].EventID, again.Events[0].EventID)
		assert.False(t, again.Fresh)
	}
	end := a
	end.EventState, end.Time = "inactive", a.Time.Add(5*time.Second)
	assert.Empty(t, m.Map(end).Events)
	next := a
	next.Time = a.Time.Add(6 * time.Second)
	assert.NotEqual(t, first.Events[0].EventID, m.Map(next).Events[0].EventID)
	later := next
	later.Time = next.Time.Add(DefaultGap + time.Second)
	assert.NotEqual(t, m.Map(next).Events[0].EventID, m.Map(later).Events[0].EventID, "past the gap it is a new event")
}

// Video loss and tamper are camera faults (tamper with the tamper code);
// "inactive" clears them, and a videoloss "inactive" is the heartbeat.
func TestFaultsAndHeartbeat(t *testing.T) {
	m := &Mapper{Camera: cam}
	hb, err := ParseAlert(fixture(t, "heartbeat-videoloss-inactive.xml"))
	require.NoError(t, err)
	evs := m.Map(hb).Events
	require.Len(t, evs, 1)
	assert.Equal(t, decide.EventHeartbeat, evs[0].Type)

	tamper, err := ParseAlert(fixture(t, "tamperdetection-active.xml"))
	require.NoError(t, err)
	evs = m.Map(tamper).Events
	require.Len(t, evs, 1)
	assert.Equal(t, decide.EventCameraFault, evs[0].Type)
	assert.Equal(t, decide.TamperCode, evs[0].Code)
	tamper.EventState = "inactive"
	evs = m.Map(tamper).Events
	require.Len(t, evs, 1)
	assert.Equal(t, decide.StateCleared, evs[0].State)

	loss, err := ParseAlert(fixture(t, "videoloss-active.xml"))
	require.NoError(t, err)
	evs = m.Map(loss).Events
	require.Len(t, evs, 1)
	assert.Equal(t, "videoloss", evs[0].Code)
}

// Fielddetection of a human is a person detection; another channel's
// alerts are not this device's.
func TestFieldDetectionOfAHumanAndOtherChannels(t *testing.T) {
	a, err := ParseAlert(fixture(t, "fielddetection-human.xml"))
	require.NoError(t, err)
	m := &Mapper{Camera: hardware.Camera{Device: "CAM-1", Channel: 1}}
	assert.Equal(t, decide.ClassPerson, m.Map(a).Events[0].ObjectClass)
	a.ChannelID = 2
	assert.Empty(t, m.Map(a).Events)
}

// The multipart ANPR push gives the alert and its scene picture.
func TestMultipartANPRKeepsTheScenePicture(t *testing.T) {
	body := fixture(t, "anpr-multipart.bin")
	a, pic, err := ParseRequest(`multipart/form-data; boundary="MIME_boundary"`, body)
	require.NoError(t, err)
	assert.Equal(t, "STAND0042", a.ANPR.LicensePlate)
	require.NotNil(t, pic)
	assert.Equal(t, "detectionPicture.jpg", pic.Name)
	assert.True(t, bytes.HasPrefix(pic.Data, []byte{0xFF, 0xD8}))
}

// Unsafe or malformed documents are refused naming what is wrong.
func TestRefusals(t *testing.T) {
	good := string(fixture(t, "anpr.xml"))
	bomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><EventNotificationAlert><eventType>&lol2;</eventType></EventNotificationAlert>`
	for body, field := range map[string]string{
		bomb:                                   "body",
		strings.Replace(good, "+08:00", "", 1): "dateTime",
		strings.Replace(good, "<eventType>ANPR</eventType>", "", 1):             "eventType",
		strings.Replace(good, "UTF-8", "GB2312", 1):                             "body",
		strings.Replace(good, "STAND0042", "STAND\xff\xfe", 1):                  "body",
		strings.Replace(good, "<confidenceLevel>97", "<confidenceLevel>970", 1): "ANPR.confidenceLevel",
		`<other/>`:                    "body",
		strings.Repeat(" ", MaxXML+1): "body",
	} {
		_, err := ParseAlert([]byte(body))
		var e *Error
		require.ErrorAs(t, err, &e, body[:min(len(body), 60)])
		assert.Equal(t, field, e.Field)
	}
	huge := "--b\r\nContent-Disposition: form-data; name=\"p\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
		strings.Repeat("x", MaxPicture+1) + "\r\n--b--\r\n"
	_, _, err := ParseRequest("multipart/form-data; boundary=b", []byte(huge))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Contains(t, e.Message, "larger than")
}

// FuzzParseRequest: whatever arrives, the parser answers without panic,
// and what it accepts maps to events the gate's own parser accepts.
func FuzzParseRequest(f *testing.F) {
	for _, name := range []string{"anpr.xml", "linedetection.xml", "fielddetection-human.xml", "heartbeat-videoloss-inactive.xml", "tamperdetection-active.xml"} {
		f.Add("application/xml", fixture(f, name))
	}
	f.Add(`multipart/form-data; boundary=MIME_boundary`, fixture(f, "anpr-multipart.bin"))
	f.Add("application/xml", []byte(`<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><EventNotificationAlert>&a;&a;</EventNotificationAlert>`))
	f.Add("application/xml", []byte(strings.Repeat("<a>", 5000)))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		if len(body) > MaxBody {
			return
		}
		a, _, err := ParseRequest(ct, body)
		if err != nil {
			return
		}
		m := &Mapper{Camera: cam}
		for _, ev := range m.Map(a).Events {
			ev.Gate = "G-MRO-1"
			raw, err := json.Marshal(ev)
			require.NoError(t, err)
			if ev.Time.Year() < 2000 || ev.Time.Year() > 9999 {
				continue
			}
			_, err = decide.ParseEvents(raw)
			require.NoError(t, err, "%s", raw)
		}
	})
}
