package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// hwFixture reads fixtures/hardware/<proto>/<name> with every time in it
// moved to at (the camera's clock), so a replay lands inside the
// correlation window and the clearance's window.
func hwFixture(t testing.TB, name string, at time.Time) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "fixtures", "hardware", name))
	require.NoError(t, err)
	raw = regexp.MustCompile(`<dateTime>[^<]*</dateTime>`).ReplaceAll(raw, []byte("<dateTime>"+at.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339Nano)+"</dateTime>"))
	raw = regexp.MustCompile(`UtcTime="[^"]*"`).ReplaceAll(raw, []byte(`UtcTime="`+at.UTC().Format(time.RFC3339Nano)+`"`))
	// (The multipart fixture's part lengths are advisory: readers go by
	// the boundary.)
	return raw
}

// hardwareDevices is the device list the hardware tests' gate uses.
func hardwareDevices() []Device {
	return []Device{
		{ID: "CAM-1", Kind: DeviceISAPI, Segment: 1, Direction: zone.In, ReadKind: zone.ReadStandTag, ObjectClass: "engine",
			Basic: &BasicCredentials{User: "cam1", PasswordSHA256: passwordHash("cam1-pass")}},
		{ID: "CAM-2", Kind: DeviceONVIF, Segment: 1, Direction: zone.In,
			Basic: &BasicCredentials{User: "cam2", PasswordSHA256: passwordHash("cam2-pass")}},
		{ID: "IR-1", Kind: DeviceJSON, Segment: 1},
	}
}

// hwPost posts a hardware body with Basic credentials (user "" for none,
// a "Bearer …" user for a token).
func (g *testGateSvc) hwPost(path, contentType string, body []byte, user, pass string) (int, http.Header, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.http.URL+path, bytes.NewReader(body))
	require.NoError(g.t, err)
	req.Header.Set("Content-Type", contentType)
	switch {
	case strings.HasPrefix(user, "Bearer "):
		req.Header.Set("Authorization", user)
	case user != "":
		req.SetBasicAuth(user, pass)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(g.t, err)
	return res.StatusCode, res.Header, raw
}

func hardwareGate(t *testing.T) *testGateSvc {
	return startGate(t, t.TempDir(), func(c *Config) {
		c.Devices = hardwareDevices()
		c.Window = 500 * time.Millisecond
	})
}

// waitDecision waits for the gate's first crossing and returns it.
func waitDecision(t *testing.T, g *testGateSvc) zone.Crossing {
	t.Helper()
	var xs []zone.Crossing
	eventually(t, "a crossing is decided", func() bool { xs = g.crossings(0); return len(xs) > 0 })
	return xs[0]
}

// TestISAPIANPRMultipartAuthorizesTheCrossing is the ANPR camera's story:
// its multipart push (XML + picture) reads the stand tag STAND0042, the
// beams break, and the crossing is authorized by the GEnx-1B clearance;
// the stored event keeps its origin and its picture.
func TestISAPIANPRMultipartAuthorizesTheCrossing(t *testing.T) {
	g := hardwareGate(t)
	now := time.Now().UTC()
	seedClearance(t, g.svc, "ce-1", engineClearance("D-GENX", "STAND-0042", 1, zone.ClearanceActive, now))
	body := hwFixture(t, "isapi/anpr-multipart.bin", now)
	st, _, raw := g.hwPost("/v1/hardware/isapi/CAM-1", `multipart/form-data; boundary=MIME_boundary`, body, "cam1", "cam1-pass")
	require.Equal(t, http.StatusOK, st, string(raw))
	stored := g.storedEvents()

	// The camera repeats the active event: nothing new is stored.
	again := hwFixture(t, "isapi/anpr-multipart.bin", now.Add(time.Second))
	st, _, raw = g.hwPost("/v1/hardware/isapi/CAM-1", `multipart/form-data; boundary=MIME_boundary`, again, "cam1", "cam1-pass")
	require.Equal(t, http.StatusOK, st, string(raw))
	assert.Equal(t, stored, g.storedEvents(), "a repeat while active stores nothing new")

	st, _, raw = g.post(tokGate, crossPair("IR-1-000001", 1, now.Add(200*time.Millisecond)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	x := waitDecision(t, g)
	assert.Equal(t, zone.DecisionAuthorized, x.Decision)
	assert.Equal(t, "D-GENX", x.ClearanceID)

	st, raw = g.do(http.MethodGet, "/v1/events?since_seq=0", tokCustoms, nil)
	require.Equal(t, http.StatusOK, st)
	var evs struct {
		Items []struct {
			Event struct {
				Source   map[string]string `json:"source"`
				Snapshot string            `json:"snapshot"`
				Reads    []map[string]any  `json:"reads"`
			} `json:"event"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(raw, &evs))
	first := evs.Items[0].Event
	assert.Equal(t, map[string]string{"kind": "isapi", "device": "CAM-1"}, first.Source)
	require.NotEmpty(t, first.Snapshot)
	pic, err := os.ReadFile(filepath.Join(g.svc.cfg.DataDir, first.Snapshot))
	require.NoError(t, err, "the picture is under the gate's data folder")
	assert.Equal(t, []byte{0xFF, 0xD8}, pic[:2])
}

// An ANPR read of a tag nobody cleared makes the crossing unauthorized.
func TestISAPIPlateWithoutClearanceIsUnauthorized(t *testing.T) {
	g := hardwareGate(t)
	now := time.Now().UTC()
	st, _, raw := g.hwPost("/v1/hardware/isapi/CAM-1", "application/xml", hwFixture(t, "isapi/anpr.xml", now), "cam1", "cam1-pass")
	require.Equal(t, http.StatusOK, st, string(raw))
	st, _, raw = g.post(tokGate, crossPair("IR-1-000001", 1, now.Add(200*time.Millisecond)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	x := waitDecision(t, g)
	assert.Equal(t, zone.DecisionUnauthorized, x.Decision)
	require.NotNil(t, x.Identity)
	assert.Equal(t, "STAND0042", x.Identity.Value)
}

// An ONVIF line crossing carries no identity: the crossing is
// unidentified. The Notify is answered with an empty SOAP envelope, and
// the Initialized replay stores a state, no detection.
func TestONVIFLineCrossingIsUnidentified(t *testing.T) {
	g := hardwareGate(t)
	now := time.Now().UTC()
	st, h, raw := g.hwPost("/v1/hardware/onvif/CAM-2", "application/soap+xml", hwFixture(t, "onvif/notify-line-crossed.xml", now), "cam2", "cam2-pass")
	require.Equal(t, http.StatusOK, st, string(raw))
	assert.Contains(t, h.Get("Content-Type"), "application/soap+xml")
	assert.Contains(t, string(raw), "<env:Body/>")
	st, _, raw = g.hwPost("/v1/hardware/onvif/CAM-2", "application/soap+xml", hwFixture(t, "onvif/notify-initialized.xml", now), "cam2", "cam2-pass")
	require.Equal(t, http.StatusOK, st, string(raw))
	st, _, raw = g.post(tokGate, crossPair("IR-1-000001", 1, now.Add(200*time.Millisecond)))
	require.Equal(t, http.StatusAccepted, st, string(raw))
	x := waitDecision(t, g)
	assert.Equal(t, zone.DecisionUnidentified, x.Decision)
	_, raw = g.do(http.MethodGet, "/v1/events?since_seq=0", tokGate, nil)
	assert.Contains(t, string(raw), `"state":"initialized"`)
	assert.Contains(t, string(raw), `"source":{"kind":"onvif","device":"CAM-2"}`)
}

// TestHardwareDeviceAuthentication: a device posts with its own Basic
// credentials or the gate token; another device's credentials are 403,
// none or wrong ones 401 with a Basic challenge.
func TestHardwareDeviceAuthentication(t *testing.T) {
	g := hardwareGate(t)
	now := time.Now().UTC()
	xml := hwFixture(t, "isapi/heartbeat-videoloss-inactive.xml", now)
	for _, c := range []struct {
		name, path, user, pass string
		want                   int
	}{
		{"own credentials", "/v1/hardware/isapi/CAM-1", "cam1", "cam1-pass", 200},
		{"gate token", "/v1/hardware/isapi/CAM-1", "Bearer " + tokGate, "", 200},
		{"no credentials", "/v1/hardware/isapi/CAM-1", "", "", 401},
		{"wrong password", "/v1/hardware/isapi/CAM-1", "cam1", "guess", 401},
		{"another device's credentials", "/v1/hardware/isapi/CAM-1", "cam2", "cam2-pass", 403},
		{"another gate's token", "/v1/hardware/isapi/CAM-1", "Bearer " + tokOtherGate, "", 403},
		{"a customs token", "/v1/hardware/isapi/CAM-1", "Bearer " + tokCustoms, "", 403},
		{"a device not on the list", "/v1/hardware/isapi/CAM-9", "Bearer " + tokGate, "", 404},
		{"an onvif device on the isapi path", "/v1/hardware/isapi/CAM-2", "cam2", "cam2-pass", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, h, raw := g.hwPost(c.path, "application/xml", xml, c.user, c.pass)
			require.Equal(t, c.want, st, string(raw))
			if st == 401 {
				assert.Contains(t, h.Get("WWW-Authenticate"), "Basic realm=")
			}
		})
	}
}

// Refused bodies store nothing and name what is wrong; an XML bomb is
// refused before parsing.
func TestHardwareRefusalsStoreNothing(t *testing.T) {
	g := hardwareGate(t)
	bomb := `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><EventNotificationAlert>&b;</EventNotificationAlert>`
	st, _, raw := g.hwPost("/v1/hardware/isapi/CAM-1", "application/xml", []byte(bomb), "cam1", "cam1-pass")
	require.Equal(t, http.StatusBadRequest, st, string(raw))
	assert.Contains(t, string(raw), "document type declaration")
	st, _, raw = g.hwPost("/v1/hardware/onvif/CAM-2", "application/soap+xml", bytes.Repeat([]byte("x"), 300<<10), "cam2", "cam2-pass")
	require.Equal(t, http.StatusRequestEntityTooLarge, st, string(raw))
	assert.Zero(t, g.storedEvents())
}

func TestSnapshotRetentionPrunesOldestPastTheCap(t *testing.T) {
	dir := t.TempDir()
	st := newSnapshotStore(dir, time.Hour, 2500, quietLog())
	for i := range 3 {
		_, err := st.put("CAM-1", fmt.Sprintf("ev-%d", i), bytes.Repeat([]byte{1}, 1000))
		require.NoError(t, err)
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		require.NoError(t, os.Chtimes(filepath.Join(dir, "snapshots", "CAM-1", fmt.Sprintf("ev-%d.jpg", i)), old, old))
	}
	n, err := st.prune(time.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "3,000 bytes over a 2,500 cap: the oldest goes")
	_, err = os.Stat(filepath.Join(dir, "snapshots", "CAM-1", "ev-0.jpg"))
	assert.True(t, os.IsNotExist(err))
	n, err = st.prune(time.Now().Add(2 * time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "past the retention all go")
}
