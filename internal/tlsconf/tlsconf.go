// Package tlsconf builds the TLS configuration of the zone API and the gate
// service from PEM files (--tls-cert, --tls-key, --client-ca), and maps a
// verified client certificate to the gate principal it stands for.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/bondgate/bondgate/internal/zone"
)

// Files names the PEM files of a TLS listener.
type Files struct {
	// Cert and Key are the server certificate chain and its private key.
	Cert, Key string
	// ClientCA, when set, holds the CA certificates that sign gate
	// hardware's client certificates (mTLS). A client certificate is then
	// verified if given, but not required: tokens still work.
	ClientCA string
}

// Enabled reports whether TLS was asked for.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" || f.ClientCA != "" }

// Load builds the server configuration: TLS 1.2 at least, only AEAD cipher
// suites with forward secrecy for TLS 1.2 (TLS 1.3's are all fine), and,
// with ClientCA, client certificates verified when offered. It returns nil
// and no error when no file is named (plain HTTP).
func Load(f Files) (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("tls: --tls-cert and --tls-key go together (and --client-ca needs both)")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: loading %s and %s: %w", f.Cert, f.Key, err)
	}
	cfg := ServerConfig(cert)
	if f.ClientCA != "" {
		pemBytes, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("tls: client CA %s holds no PEM certificate", f.ClientCA)
		}
		RequestClientCerts(cfg, pool)
	}
	return cfg, nil
}

// ServerConfig is the hardened server configuration around cert.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		CipherSuites: []uint16{ // TLS 1.2 only; TLS 1.3 suites are not configurable
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		NextProtos:       []string{"h2", "http/1.1"},
	}
}

// RequestClientCerts makes cfg ask for client certificates signed by pool
// and verify any that is offered (tls.VerifyClientCertIfGiven): a
// certificate from another CA ends the handshake; no certificate is fine.
func RequestClientCerts(cfg *tls.Config, pool *x509.CertPool) {
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
}

// GatePrincipal maps a verified client certificate to the principal it
// stands for: the certificate's Subject Common Name is the gate ID (e.g.
// "G-MRO-1") and the principal has the gate role for that gate. Only
// certificates in state.VerifiedChains count (so only with --client-ca);
// ok is false when there is none or its CN is empty.
func GatePrincipal(state *tls.ConnectionState) (zone.Principal, bool) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return zone.Principal{}, false
	}
	leaf := state.VerifiedChains[0][0]
	gate := leaf.Subject.CommonName
	if gate == "" || len(gate) > 128 {
		return zone.Principal{}, false
	}
	return zone.Principal{Role: zone.RoleGate, Gate: gate}, true
}
