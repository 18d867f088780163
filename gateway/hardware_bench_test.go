package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// BenchmarkHardwareIngest: one camera posting one new event per request,
// each answered after fsync, through ISAPI XML, ONVIF Notify and (the
// baseline) the gate's own JSON. Reports events per second.
func BenchmarkHardwareIngest(b *testing.B) {
	for _, kind := range []string{"json", "isapi", "onvif"} {
		b.Run(kind, func(b *testing.B) {
			g := startGate(b, b.TempDir(), func(c *Config) {
				c.Devices = hardwareDevices()
				c.DeviceRate = -1
				c.Hardware.RepeatGap = time.Nanosecond // each post a new event
			})
			base := time.Now().Add(-time.Hour).UTC()
			isapiXML := hwFixture(b, "isapi/linedetection.xml", base)
			onvifXML := hwFixture(b, "onvif/notify-line-crossed.xml", base)
			dt := regexp.MustCompile(`<dateTime>[^<]*</dateTime>`)
			ut := regexp.MustCompile(`UtcTime="[^"]*"`)
			client := &http.Client{}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				at := base.Add(time.Duration(i) * 2 * time.Millisecond)
				var req *http.Request
				switch kind {
				case "json":
					body := mustJSON(b, ev(fmt.Sprintf("CAM-1-%d", i), "IR-1", "heartbeat", at, nil))
					req, _ = http.NewRequest(http.MethodPost, g.http.URL+"/v1/events", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tokGate)
				case "isapi":
					body := dt.ReplaceAll(isapiXML, []byte("<dateTime>"+at.Format(time.RFC3339Nano)+"</dateTime>"))
					req, _ = http.NewRequest(http.MethodPost, g.http.URL+"/v1/hardware/isapi/CAM-1", bytes.NewReader(body))
					req.SetBasicAuth("cam1", "cam1-pass")
				case "onvif":
					body := ut.ReplaceAll(onvifXML, []byte(`UtcTime="`+at.Format(time.RFC3339Nano)+`"`))
					req, _ = http.NewRequest(http.MethodPost, g.http.URL+"/v1/hardware/onvif/CAM-2", bytes.NewReader(body))
					req.SetBasicAuth("cam2", "cam2-pass")
				}
				res, err := client.Do(req)
				if err != nil || res.StatusCode >= 300 {
					b.Fatalf("post %d: %v %v", i, err, res)
				}
				res.Body.Close()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ev/s")
		})
	}
}
