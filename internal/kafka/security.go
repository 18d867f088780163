package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	saslplain "github.com/segmentio/kafka-go/sasl/plain"
	saslscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	kgoplain "github.com/twmb/franz-go/pkg/sasl/plain"
	kgoscram "github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/bondgate/bondgate/internal/zone"
)

// SASL mechanisms bondgate speaks.
const (
	MechanismPlain    = "PLAIN"
	MechanismSCRAM256 = "SCRAM-SHA-256"
	MechanismSCRAM512 = "SCRAM-SHA-512"
)

// Security is how every bondgate Kafka client reaches the cluster: TLS (a
// nil TLS is plaintext) and SASL (an empty Mechanism is none). It is built
// once from the command line (LoadSecurity) and handed to every client a
// process makes: publisher writers, consumer readers, probes and admin.
type Security struct {
	TLS       *tls.Config
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "" for none
	Username  string
	Password  string
}

// SecurityFiles names what LoadSecurity reads; the password only ever
// comes from a file, never from the command line.
type SecurityFiles struct {
	CA           string // PEM CAs the brokers' certificates chain to; turns TLS on
	Cert, Key    string // client certificate and key (mTLS); turn TLS on
	Mechanism    string
	Username     string
	PasswordFile string
}

// LoadSecurity checks and reads f. TLS is on when any of CA, Cert or Key
// is given (no CA: the system's roots). A SASL mechanism needs a user and
// a password file; the file's trailing newline is not part of the password.
func LoadSecurity(f SecurityFiles) (Security, error) {
	var s Security
	if f.CA != "" || f.Cert != "" || f.Key != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if f.CA != "" {
			raw, err := os.ReadFile(f.CA)
			if err != nil {
				return s, zone.Errorf(zone.EINVALID, "kafka TLS CA: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(raw) {
				return s, zone.Errorf(zone.EINVALID, "kafka TLS CA %s holds no PEM certificate", f.CA)
			}
			cfg.RootCAs = pool
		}
		if (f.Cert == "") != (f.Key == "") {
			return s, zone.Errorf(zone.EINVALID, "--kafka-tls-cert and --kafka-tls-key go together")
		}
		if f.Cert != "" {
			pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
			if err != nil {
				return s, zone.Errorf(zone.EINVALID, "kafka client certificate: %v", err)
			}
			// Presented whatever CAs the broker names, as a client with one
			// certificate should (Go would otherwise send none on a mismatch
			// and the broker's refusal would hide the real cause).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
		}
		s.TLS = cfg
	}
	mech := strings.ToUpper(strings.TrimSpace(f.Mechanism))
	switch mech {
	case "":
		if f.Username != "" || f.PasswordFile != "" {
			return s, zone.Errorf(zone.EINVALID, "--kafka-username and --kafka-password-file need --kafka-sasl-mechanism")
		}
		return s, nil
	case MechanismPlain, MechanismSCRAM256, MechanismSCRAM512:
	default:
		return s, zone.Errorf(zone.EINVALID, "--kafka-sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", f.Mechanism)
	}
	if f.Username == "" || f.PasswordFile == "" {
		return s, zone.Errorf(zone.EINVALID, "SASL %s needs --kafka-username and --kafka-password-file", mech)
	}
	raw, err := os.ReadFile(f.PasswordFile)
	if err != nil {
		return s, zone.Errorf(zone.EINVALID, "kafka password file: %v", err)
	}
	pass := strings.TrimRight(string(raw), "\r\n")
	if pass == "" {
		return s, zone.Errorf(zone.EINVALID, "kafka password file %s is empty", f.PasswordFile)
	}
	s.Mechanism, s.Username, s.Password = mech, f.Username, pass
	if s.saslGo() == nil {
		return Security{}, zone.Errorf(zone.EINVALID, "SASL %s: user or password cannot be SASLprep-normalised", mech)
	}
	return s, nil
}

// String says how clients connect, for logs; never the password.
func (s Security) String() string {
	var parts []string
	if s.TLS != nil {
		parts = append(parts, "tls")
		if s.TLS.GetClientCertificate != nil || len(s.TLS.Certificates) > 0 {
			parts[0] = "mtls"
		}
	}
	if s.Mechanism != "" {
		parts = append(parts, "sasl "+s.Mechanism+" as "+s.Username)
	}
	if len(parts) == 0 {
		return "plaintext"
	}
	return strings.Join(parts, ", ")
}

// tlsConfig is a copy per client: tls.Config must not change once used.
func (s Security) tlsConfig() *tls.Config {
	if s.TLS == nil {
		return nil
	}
	return s.TLS.Clone()
}

// saslGo is the mechanism for kafka-go (writers, readers, probes).
func (s Security) saslGo() sasl.Mechanism {
	switch s.Mechanism {
	case MechanismPlain:
		return saslplain.Mechanism{Username: s.Username, Password: s.Password}
	case MechanismSCRAM256, MechanismSCRAM512:
		algo := saslscram.SHA256
		if s.Mechanism == MechanismSCRAM512 {
			algo = saslscram.SHA512
		}
		// Fails only on a user or password SASLprep cannot normalise; a
		// PLAIN fallback would send the password in the clear, so such a
		// client gets no SASL and the broker refuses it, visibly.
		m, err := saslscram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil
		}
		return m
	}
	return nil
}

// transport is a kafka-go transport with this security.
func (s Security) transport(dial time.Duration, metadataTTL time.Duration, clientID string) *kafkago.Transport {
	return &kafkago.Transport{DialTimeout: dial, MetadataTTL: metadataTTL, ClientID: clientID,
		TLS: s.tlsConfig(), SASL: s.saslGo()}
}

// dialer is a kafka-go dialer (readers use one) with this security.
func (s Security) dialer(timeout time.Duration, clientID string) *kafkago.Dialer {
	return &kafkago.Dialer{Timeout: timeout, ClientID: clientID, DualStack: true,
		TLS: s.tlsConfig(), SASLMechanism: s.saslGo()}
}

// kgoOpts are the franz-go options (admin) with this security.
func (s Security) kgoOpts() []kgo.Opt {
	var opts []kgo.Opt
	if s.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(s.tlsConfig()))
	}
	switch s.Mechanism {
	case MechanismPlain:
		opts = append(opts, kgo.SASL(kgoplain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()))
	case MechanismSCRAM256:
		opts = append(opts, kgo.SASL(kgoscram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()))
	case MechanismSCRAM512:
		opts = append(opts, kgo.SASL(kgoscram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()))
	}
	return opts
}

// AuthError is a refusal no retry will cure: the broker's certificate is
// not trusted, the broker rejects ours, the password is wrong, or an ACL
// denies what bondgate needs. /readyz shows its text, which names the cause.
type AuthError struct {
	Cause string // what failed, in an operator's words
	Err   error
}

func (e *AuthError) Error() string { return "auth failed: " + e.Cause + ": " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuth reports whether err is (or wraps) an AuthError.
func IsAuth(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// classify turns a TLS, SASL or authorization failure into an AuthError
// naming its cause; other errors come back unchanged.
func (s Security) classify(err error) error {
	if err == nil || IsAuth(err) {
		return err
	}
	cause := s.authCause(err)
	var werrs kafkago.WriteErrors // one error per message, not wrapped
	if cause == "" && errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil && cause == "" {
				cause = s.authCause(e)
			}
		}
	}
	if cause == "" {
		return err
	}
	return &AuthError{Cause: cause, Err: err}
}

func (s Security) authCause(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	var header tls.RecordHeaderError
	var op *net.OpError
	var kgoErr kafkago.Error
	msg := err.Error()
	switch {
	case errors.As(err, &host):
		return "the broker's TLS certificate does not name the address dialled"
	case errors.As(err, &unknownCA), errors.As(err, &verify), strings.Contains(msg, "x509: "):
		return "the broker's TLS certificate is not trusted (check --kafka-tls-ca)"
	case errors.As(err, &header):
		return "the broker does not speak TLS on this port"
	case errors.As(err, &op) && op.Op == "remote error", strings.Contains(msg, "remote error: tls:"):
		return "the broker refused our TLS handshake (client certificate missing or not trusted? check --kafka-tls-cert)"
	case errors.As(err, &kgoErr):
		switch kgoErr {
		case kafkago.SASLAuthenticationFailed, kafkago.IllegalSASLState:
			return s.saslCause()
		case kafkago.UnsupportedSASLMechanism:
			return fmt.Sprintf("the broker does not offer SASL %s", s.Mechanism)
		case kafkago.TopicAuthorizationFailed, kafkago.GroupAuthorizationFailed, kafkago.ClusterAuthorizationFailed:
			return fmt.Sprintf("an ACL denies %s", s.principal())
		}
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState):
		return s.saslCause()
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Sprintf("the broker does not offer SASL %s", s.Mechanism)
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed):
		return fmt.Sprintf("an ACL denies %s", s.principal())
	}
	return ""
}

func (s Security) saslCause() string {
	return fmt.Sprintf("SASL %s as %q refused (wrong user or password?)", s.Mechanism, s.Username)
}

func (s Security) principal() string {
	if s.Username == "" {
		return "this client"
	}
	return "User:" + s.Username
}
