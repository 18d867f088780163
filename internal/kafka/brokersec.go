package kafka

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bondgate/bondgate/internal/zone"
)

// SASLUser is one entry of `bondgate broker --sasl-users FILE`:
//
//	[{"user":"gate-1","password":"…","mechanism":"SCRAM-SHA-512"}]
//
// with, optionally, "superuser":true, or "acls" (which turns ACL checks
// on for the whole broker: a user with no ACL may then do nothing):
//
//	"acls":[{"resource":"topic","name":"bondgate.gate.","pattern":"prefixed","operation":"write"}]
type SASLUser struct {
	User      string    `json:"user"`
	Password  string    `json:"password"`
	Mechanism string    `json:"mechanism"`
	Superuser bool      `json:"superuser,omitempty"`
	ACLs      []UserACL `json:"acls,omitempty"`
}

// UserACL allows one operation on one resource, as Kafka's ACLs do.
type UserACL struct {
	Resource  string `json:"resource"`  // topic, group, cluster
	Name      string `json:"name"`      // topic or group name, or its prefix
	Pattern   string `json:"pattern"`   // literal (default) or prefixed
	Operation string `json:"operation"` // read, write, describe, create, all, …
}

// LoadSASLUsers reads and checks a users file.
func LoadSASLUsers(path string) ([]SASLUser, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, zone.Errorf(zone.EINVALID, "SASL users: %v", err)
	}
	var users []SASLUser
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&users); err != nil {
		return nil, zone.Errorf(zone.EINVALID, "SASL users %s: %v", path, err)
	}
	if len(users) == 0 {
		return nil, zone.Errorf(zone.EINVALID, "SASL users %s names no user", path)
	}
	for i, u := range users {
		users[i].Mechanism = strings.ToUpper(u.Mechanism)
		switch {
		case u.User == "" || u.Password == "":
			return nil, zone.Errorf(zone.EINVALID, "SASL users %s: entry %d needs user and password", path, i)
		case users[i].Mechanism != MechanismPlain && users[i].Mechanism != MechanismSCRAM256 && users[i].Mechanism != MechanismSCRAM512:
			return nil, zone.Errorf(zone.EINVALID, "SASL users %s: %s: mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", path, u.User, u.Mechanism)
		}
		for _, a := range u.ACLs {
			if _, err := a.kfake(); err != nil {
				return nil, zone.Errorf(zone.EINVALID, "SASL users %s: %s: %v", path, u.User, err)
			}
		}
	}
	return users, nil
}

func (a UserACL) kfake() (kfake.ACL, error) {
	rt, err := kmsg.ParseACLResourceType(a.Resource)
	if err != nil || rt == kmsg.ACLResourceTypeAny || rt == kmsg.ACLResourceTypeUnknown {
		return kfake.ACL{}, zone.Errorf(zone.EINVALID, "ACL resource %q: want topic, group or cluster", a.Resource)
	}
	pattern := kmsg.ACLResourcePatternTypeLiteral
	if a.Pattern != "" {
		if pattern, err = kmsg.ParseACLResourcePatternType(a.Pattern); err != nil ||
			(pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed) {
			return kfake.ACL{}, zone.Errorf(zone.EINVALID, "ACL pattern %q: want literal or prefixed", a.Pattern)
		}
	}
	op, err := kmsg.ParseACLOperation(a.Operation)
	if err != nil || op == kmsg.ACLOperationAny || op == kmsg.ACLOperationUnknown {
		return kfake.ACL{}, zone.Errorf(zone.EINVALID, "ACL operation %q: want read, write, describe, create, all, …", a.Operation)
	}
	name := a.Name
	if rt == kmsg.ACLResourceTypeCluster && name == "" {
		name = "kafka-cluster"
	}
	return kfake.ACL{Resource: rt, Name: name, Pattern: pattern, Operation: op, Allow: true}, nil
}

// securityOpts are kfake's options for cfg's TLS and users.
func securityOpts(cfg BrokerConfig) ([]kfake.Opt, error) {
	var opts []kfake.Opt
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) == 0 {
		return opts, nil
	}
	opts = append(opts, kfake.EnableSASL())
	acls := false
	for _, u := range cfg.Users {
		if u.Superuser {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
			continue
		}
		var list []kfake.ACL
		for _, a := range u.ACLs {
			k, err := a.kfake()
			if err != nil {
				return nil, err
			}
			list = append(list, k)
		}
		acls = acls || u.ACLs != nil
		opts = append(opts, kfake.User(u.Mechanism, u.User, u.Password, list...))
	}
	if acls {
		opts = append(opts, kfake.EnableACLs())
	}
	if cfg.DataDir != "" {
		// kfake restores the users of its data dir over those it is given;
		// the users file is the truth, so a changed password takes effect.
		// (ACLs are seeded into a fresh data dir only.)
		if err := os.Remove(filepath.Join(cfg.DataDir, "sasl.json")); err != nil && !os.IsNotExist(err) {
			return nil, zone.Errorf(zone.EUNAVAILABLE, "broker data dir: %v", err)
		}
	}
	return opts, nil
}
