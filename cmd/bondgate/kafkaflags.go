package main

import (
	"crypto/tls"
	"flag"
	"fmt"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/tlsconf"
)

// kafkaSecurityFlags adds the flags of how a client reaches Kafka (TLS,
// mTLS, SASL) to fs; call the result after parsing for the one
// kafka.Security every client of the process uses.
func kafkaSecurityFlags(fs *flag.FlagSet) func() (kafka.Security, error) {
	f := &kafka.SecurityFiles{}
	fs.StringVar(&f.CA, "kafka-tls-ca", "", "PEM CA certificates the brokers' certificates chain to; turns TLS to Kafka on")
	fs.StringVar(&f.Cert, "kafka-tls-cert", "", "PEM client certificate presented to the brokers (mTLS; with --kafka-tls-key)")
	fs.StringVar(&f.Key, "kafka-tls-key", "", "PEM private key of --kafka-tls-cert")
	fs.StringVar(&f.Mechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)")
	fs.StringVar(&f.Username, "kafka-username", "", "SASL user name")
	fs.StringVar(&f.PasswordFile, "kafka-password-file", "", "file holding the SASL password (never on the command line)")
	return func() (kafka.Security, error) { return kafka.LoadSecurity(*f) }
}

// brokerSecurityFlags adds the embedded broker's TLS and SASL flags; the
// result fills a kafka.BrokerConfig's TLS and Users.
func brokerSecurityFlags(fs *flag.FlagSet) func(*kafka.BrokerConfig) error {
	users := fs.String("sasl-users", "", `SASL users file: JSON [{"user":"…","password":"…","mechanism":"SCRAM-SHA-512"}] (optional "superuser":true or "acls"; see ops/KAFKA.md); with it every client must log in`)
	files := &tlsconf.Files{}
	fs.StringVar(&files.Cert, "tls-cert", "", "PEM certificate chain: speak TLS only (with --tls-key)")
	fs.StringVar(&files.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&files.ClientCA, "client-ca", "", "PEM CAs of client certificates: every client must present one (mTLS)")
	return func(cfg *kafka.BrokerConfig) error {
		tlsCfg, err := tlsconf.Load(*files)
		if err != nil {
			return err
		}
		if tlsCfg != nil {
			tlsCfg.NextProtos = nil // Kafka, not HTTP
			if files.ClientCA != "" {
				tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
		}
		cfg.TLS = tlsCfg
		if *users != "" {
			if cfg.Users, err = kafka.LoadSASLUsers(*users); err != nil {
				return fmt.Errorf("--sasl-users: %w", err)
			}
		}
		return nil
	}
}
