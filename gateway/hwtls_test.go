package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/tlsconf/tlstest"
)

// A camera may authenticate with a client certificate whose CN is its
// device ID; a certificate of another device is refused with 403.
func TestHardwareClientCertificateNamesTheDevice(t *testing.T) {
	ca := tlstest.NewCA(t, "bondgate camera CA")
	addr := freeAddr(t)
	cfg := tlsconf.ServerConfig(ca.Server(t).TLS)
	tlsconf.RequestClientCerts(cfg, ca.Pool())
	svc, err := New(Config{GateID: testGate, DataDir: t.TempDir(), Tokens: testTokens(t), Log: quietLog(),
		Addr: addr, TLS: cfg, Devices: hardwareDevices()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "https://" + addr
	eventually(t, "the gate serves HTTPS", func() bool {
		_, _, err := tlsPost(url+"/healthz", tlstest.ClientConfig(ca), "", nil)
		return err == nil
	})
	body := hwFixture(t, "isapi/heartbeat-videoloss-inactive.xml", time.Now())
	st, _, err := tlsPost(url+"/v1/hardware/isapi/CAM-1", tlstest.ClientConfig(ca, ca.Client(t, "CAM-1").TLS), "", body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, st, "CN = the device")
	st, _, err = tlsPost(url+"/v1/hardware/isapi/CAM-1", tlstest.ClientConfig(ca, ca.Client(t, "CAM-2").TLS), "", body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, st, "CN = another device")
	st, _, err = tlsPost(url+"/v1/hardware/isapi/CAM-1", tlstest.ClientConfig(ca), "", body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, st, "no certificate, no credentials")
}
