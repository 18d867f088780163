package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
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

// securedCase is one way of securing the broker, the client settings it
// accepts and the ones it must refuse with a named cause.
type securedCase struct {
	name        string
	broker      BrokerConfig
	right       Security
	wrong       Security
	wrongReason string // part of the AuthError's text
}

func securedCases(t *testing.T) []securedCase {
	ca, other := tlstest.NewCA(t, "kafka-ca"), tlstest.NewCA(t, "someone-else")
	server := ca.Server(t)
	trusting := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	mtlsServer := tlsconf.ServerConfig(server.TLS)
	mtlsServer.NextProtos = nil
	mtlsServer.ClientCAs, mtlsServer.ClientAuth = ca.Pool(), tls.RequireAndVerifyClientCert
	client := ca.Client(t, "gate-1")
	users := []SASLUser{
		{User: "plain-user", Password: "p-secret", Mechanism: MechanismPlain},
		{User: "scram256", Password: "s256-secret", Mechanism: MechanismSCRAM256},
		{User: "scram512", Password: "s512-secret", Mechanism: MechanismSCRAM512},
	}
	sasl := func(mech, user, pass string) Security {
		return Security{Mechanism: mech, Username: user, Password: pass}
	}
	return []securedCase{
		{name: "TLS", broker: BrokerConfig{TLS: tlsconf.ServerConfig(server.TLS)},
			right: Security{TLS: trusting}, wrong: Security{TLS: tlstest.ClientConfig(other)},
			wrongReason: "certificate is not trusted"},
		{name: "mTLS", broker: BrokerConfig{TLS: mtlsServer},
			right: Security{TLS: tlstest.ClientConfig(ca, client.TLS)}, wrong: Security{TLS: trusting},
			wrongReason: "refused our TLS handshake"},
		{name: "SASL-PLAIN", broker: BrokerConfig{Users: users},
			right: sasl(MechanismPlain, "plain-user", "p-secret"), wrong: sasl(MechanismPlain, "plain-user", "guess"),
			wrongReason: `SASL PLAIN as "plain-user" refused`},
		{name: "SCRAM-SHA-256", broker: BrokerConfig{Users: users},
			right: sasl(MechanismSCRAM256, "scram256", "s256-secret"), wrong: sasl(MechanismSCRAM256, "scram256", "guess"),
			wrongReason: `SASL SCRAM-SHA-256 as "scram256" refused`},
		{name: "SCRAM-SHA-512 over TLS", broker: BrokerConfig{Users: users, TLS: tlsconf.ServerConfig(server.TLS)},
			right:       Security{TLS: trusting, Mechanism: MechanismSCRAM512, Username: "scram512", Password: "s512-secret"},
			wrong:       Security{TLS: trusting, Mechanism: MechanismSCRAM512, Username: "scram512", Password: "s256-secret"},
			wrongReason: `SASL SCRAM-SHA-512 as "scram512" refused`},
	}
}

// TestSecuredBrokerRoundTripAndRefusals: for TLS, mTLS, SASL PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512, events published with the right
// settings are consumed with them, and the wrong settings give an
// AuthError naming the cause, on the probe and on the link of both a
// publisher and a consumer (what /readyz shows), within seconds.
func TestSecuredBrokerRoundTripAndRefusals(t *testing.T) {
	for _, tc := range securedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, tc.broker)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			require.NoError(t, Probe(ctx, b.Addrs(), tc.right, zone.TopicClearances))
			perr := Probe(ctx, b.Addrs(), tc.wrong, zone.TopicClearances)
			require.Error(t, perr)
			assert.True(t, IsAuth(perr), "a refusal is an AuthError, not a network blip: %v", perr)
			assert.Contains(t, perr.Error(), "auth failed: ")
			assert.Contains(t, perr.Error(), tc.wrongReason)

			// Right settings: a publish/consume round trip.
			ob := newBoltOutbox(t)
			const n = 20
			for i := range n {
				e, err := zone.NewEvent(fmt.Sprintf("sec-%03d", i), "test", zone.TypeClearance, "D-1", time.Now(), map[string]int{"i": i})
				require.NoError(t, err)
				m, err := e.Message(zone.TopicClearances, "D-1")
				require.NoError(t, err)
				_, err = ob.Append(m)
				require.NoError(t, err)
			}
			pub := NewPublisher(PublisherConfig{Name: "sec", Brokers: b.Addrs(), Security: tc.right,
				Topics: []string{zone.TopicClearances}, WriteTimeout: 5 * time.Second}, ob, testLog())
			pctx, pcancel := context.WithCancel(ctx)
			pdone := make(chan error, 1)
			go func() { pdone <- pub.Run(pctx) }()
			eventually(t, 30*time.Second, func() bool { return ob.depth(t) == 0 }, "outbox never drained over %s", tc.name)
			pcancel()
			require.NoError(t, <-pdone)

			got := newAppliedLog()
			c := NewConsumer(ConsumerConfig{Name: "sec", Brokers: b.Addrs(), Security: tc.right, GroupID: "sec-right"},
				map[string]Handler{zone.TopicClearances: got.handle}, testLog())
			runConsumer(t, c)
			eventually(t, 30*time.Second, func() bool { return got.count() == n }, "consumed %d of %d", got.count(), n)

			// Wrong settings: both links say so, naming the cause.
			bad := NewConsumer(ConsumerConfig{Name: "bad", Brokers: b.Addrs(), Security: tc.wrong, GroupID: "sec-wrong",
				ProbeInterval: 100 * time.Millisecond}, map[string]Handler{zone.TopicClearances: got.handle}, testLog())
			runConsumer(t, bad)
			badPub := NewPublisher(PublisherConfig{Name: "bad", Brokers: b.Addrs(), Security: tc.wrong,
				ProbeInterval: 100 * time.Millisecond}, newBoltOutbox(t), testLog())
			bctx, bcancel := context.WithCancel(ctx)
			bdone := make(chan error, 1)
			go func() { bdone <- badPub.Run(bctx) }()
			for name, l := range map[string]func() (bool, error, time.Time){"consumer": bad.Link, "publisher": badPub.Link} {
				eventually(t, 15*time.Second, func() bool { up, err, _ := l(); return Problem(up, err) != "" },
					"%s link never said auth failed", name)
				up, err, _ := l()
				assert.Contains(t, Problem(up, err), tc.wrongReason, name)
			}
			bcancel()
			require.NoError(t, <-bdone)
			assert.Equal(t, n, got.count(), "the refused consumer applied nothing")
		})
	}
}

// TestACLDenialIsNamed: a user the broker's ACLs let write the gate topics
// and only describe the clearances: asking for a topic it may not even see
// names the ACL, and so does its publisher once Kafka refuses a write.
func TestACLDenialIsNamed(t *testing.T) {
	b := startBroker(t, BrokerConfig{Users: []SASLUser{{User: "gate-1", Password: "pw", Mechanism: MechanismSCRAM512,
		ACLs: []UserACL{{Resource: "topic", Name: "bondgate.gate.", Pattern: "prefixed", Operation: "write"},
			{Resource: "topic", Name: "bondgate.gate.", Pattern: "prefixed", Operation: "describe"},
			{Resource: "topic", Name: zone.TopicClearances, Operation: "describe"}}}}})
	sec := Security{Mechanism: MechanismSCRAM512, Username: "gate-1", Password: "pw"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, Probe(ctx, b.Addrs(), sec, zone.TopicCrossings, zone.TopicAlarms, zone.TopicClearances))
	err := Probe(ctx, b.Addrs(), sec, zone.TopicRecords)
	require.Error(t, err)
	assert.True(t, IsAuth(err), "%v", err)
	assert.Contains(t, err.Error(), "auth failed: topic "+zone.TopicRecords+" is missing or an ACL hides it from User:gate-1")

	ob := newBoltOutbox(t)
	e, err := zone.NewEvent("acl-1", "test", zone.TypeClearance, "D-1", time.Now(), map[string]int{"i": 1})
	require.NoError(t, err)
	m, err := e.Message(zone.TopicClearances, "D-1")
	require.NoError(t, err)
	_, err = ob.Append(m)
	require.NoError(t, err)
	pub := NewPublisher(PublisherConfig{Name: "acl", Brokers: b.Addrs(), Security: sec, WriteTimeout: 2 * time.Second}, ob, testLog())
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pub.Run(pctx) }()
	eventually(t, 15*time.Second, func() bool { up, err, _ := pub.Link(); return Problem(up, err) != "" }, "no refusal on the link")
	up, lerr, _ := pub.Link()
	assert.Contains(t, Problem(up, lerr), "auth failed: an ACL denies User:gate-1")
	pcancel()
	assert.Error(t, <-done, "the refused message stays in the outbox")
	assert.Equal(t, 1, ob.depth(t), "refused, not quarantined")
}

// TestLoadSecurity: the password comes from a file (its newline is not part
// of it); half-given settings are refused with what is missing.
func TestLoadSecurity(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	s, err := LoadSecurity(SecurityFiles{Mechanism: "scram-sha-512", Username: "api", PasswordFile: pw})
	require.NoError(t, err)
	assert.Equal(t, Security{Mechanism: MechanismSCRAM512, Username: "api", Password: "s3cret"}, s)
	assert.Equal(t, "sasl SCRAM-SHA-512 as api", s.String(), "no password in logs")

	ca := tlstest.NewCA(t, "kafka-ca")
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM, 0o600))
	cert, key := ca.Client(t, "api").WriteFiles(t, dir, "api")
	s, err = LoadSecurity(SecurityFiles{CA: caFile, Cert: cert, Key: key})
	require.NoError(t, err)
	assert.Equal(t, "mtls", s.String())

	for name, f := range map[string]SecurityFiles{
		"mechanism unknown":      {Mechanism: "GSSAPI", Username: "u", PasswordFile: pw},
		"no password file":       {Mechanism: "PLAIN", Username: "u"},
		"user without mechanism": {Username: "u", PasswordFile: pw},
		"cert without key":       {Cert: cert},
		"CA not PEM":             {CA: pw},
	} {
		_, err := LoadSecurity(f)
		assert.Error(t, err, name)
	}
}
