package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/tlsconf"
	"github.com/bondgate/bondgate/internal/tlsconf/tlstest"
	"github.com/bondgate/bondgate/internal/zone"
)

// serve runs a TLS server with cfg on loopback that answers with the gate
// principal of the client certificate, or "none".
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := tlsconf.GatePrincipal(r.TLS); ok {
			_, _ = io.WriteString(w, string(p.Role)+":"+p.Gate)
			return
		}
		_, _ = io.WriteString(w, "none")
	})}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func get(t *testing.T, url string, cfg *tls.Config) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func TestLoadServesHTTPSAndMapsClientCerts(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "bondgate test CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	caFile := filepath.Join(dir, "clients.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))

	cfg, err := tlsconf.Load(tlsconf.Files{Cert: certFile, Key: keyFile, ClientCA: caFile})
	require.NoError(t, err)
	require.NotNil(t, cfg)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.Equal(t, tls.VerifyClientCertIfGiven, cfg.ClientAuth)
	addr := serve(t, cfg)
	url := "https://" + addr + "/"

	body, err := get(t, url, tlstest.ClientConfig(ca))
	require.NoError(t, err, "no client certificate is allowed: tokens still work")
	assert.Equal(t, "none", body)

	body, err = get(t, url, tlstest.ClientConfig(ca, ca.Client(t, "G-MRO-1").TLS))
	require.NoError(t, err)
	assert.Equal(t, string(zone.RoleGate)+":G-MRO-1", body, "a verified client certificate names its gate")

	other := tlstest.NewCA(t, "someone else's CA")
	_, err = get(t, url, tlstest.ClientConfig(ca, other.Client(t, "G-MRO-1").TLS))
	require.Error(t, err, "a certificate from another CA must end the handshake")

	old := tlstest.ClientConfig(ca)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	_, err = get(t, url, old)
	require.Error(t, err, "TLS 1.1 must be refused")

	_, err = get(t, url, &tls.Config{MinVersion: tls.VersionTLS12})
	require.Error(t, err, "a client that does not trust our CA must not connect")
}

func TestLoadRefusesHalfConfigurations(t *testing.T) {
	cfg, err := tlsconf.Load(tlsconf.Files{})
	require.NoError(t, err)
	assert.Nil(t, cfg, "no files: plain HTTP")

	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	for name, f := range map[string]tlsconf.Files{
		"cert without key":        {Cert: certFile},
		"key without cert":        {Key: keyFile},
		"client CA without cert":  {ClientCA: certFile},
		"key is not a key":        {Cert: certFile, Key: certFile},
		"missing file":            {Cert: filepath.Join(dir, "nope.crt"), Key: keyFile},
		"client CA holds no cert": {Cert: certFile, Key: keyFile, ClientCA: keyFile},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tlsconf.Load(f)
			require.Error(t, err)
		})
	}
}

func TestGatePrincipalNeedsAVerifiedChain(t *testing.T) {
	_, ok := tlsconf.GatePrincipal(nil)
	assert.False(t, ok, "plain HTTP")
	_, ok = tlsconf.GatePrincipal(&tls.ConnectionState{})
	assert.False(t, ok, "TLS without a client certificate")
	ca := tlstest.NewCA(t, "ca")
	leaf := ca.Client(t, "G-MAIN").TLS.Leaf
	_, ok = tlsconf.GatePrincipal(&tls.ConnectionState{PeerCertificates: nil})
	assert.False(t, ok)
	p, ok := tlsconf.GatePrincipal(&tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}})
	assert.True(t, ok)
	assert.Equal(t, zone.Principal{Role: zone.RoleGate, Gate: "G-MAIN"}, p)
}
