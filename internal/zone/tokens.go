package zone

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TokenRecord is one entry of the tokens file. Token may be replaced by
// TokenSHA256 (hex) so the file need not hold the secret itself.
type TokenRecord struct {
	Token       string `json:"token,omitempty"`
	TokenSHA256 string `json:"token_sha256,omitempty"`
	Role        Role   `json:"role"`
	Firm        string `json:"firm,omitempty"`
	Officer     string `json:"officer,omitempty"`
	Gate        string `json:"gate,omitempty"`
}

type tokenEntry struct {
	hash [sha256.Size]byte
	p    Principal
}

// Tokens authenticates bearer tokens. Only SHA-256 hashes are kept in memory,
// and every comparison is constant-time.
type Tokens struct {
	entries []tokenEntry
}

// ParseTokens reads a tokens file (a JSON array of TokenRecord).
func ParseTokens(r io.Reader) (*Tokens, error) {
	var recs []TokenRecord
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&recs); err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	// Anything after the array (a second array pasted below the first) would
	// otherwise be ignored without a word.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("tokens file: unexpected data after the JSON array")
	}
	return NewTokens(recs)
}

// NewTokens builds an authenticator from records, hashing plain tokens.
func NewTokens(recs []TokenRecord) (*Tokens, error) {
	t := &Tokens{}
	for i, r := range recs {
		var e tokenEntry
		switch {
		case r.Token != "" && r.TokenSHA256 != "":
			return nil, fmt.Errorf("tokens file: entry %d: give token or token_sha256, not both", i)
		case r.Token != "":
			if !bearerToken(r.Token) {
				// Authenticate trims the header, so such a token could never match.
				return nil, fmt.Errorf("tokens file: entry %d: a token must be visible ASCII without spaces", i)
			}
			e.hash = sha256.Sum256([]byte(r.Token))
		case r.TokenSHA256 != "":
			b, err := hex.DecodeString(r.TokenSHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("tokens file: entry %d: token_sha256 must be 64 hex digits", i)
			}
			copy(e.hash[:], b)
		default:
			return nil, fmt.Errorf("tokens file: entry %d: no token", i)
		}
		if !r.Role.Valid() {
			return nil, fmt.Errorf("tokens file: entry %d: unknown role %q", i, r.Role)
		}
		if r.Role == RoleMRO && r.Firm == "" {
			return nil, fmt.Errorf("tokens file: entry %d: an mro token needs a firm", i)
		}
		if r.Role == RoleGate && r.Gate == "" {
			return nil, fmt.Errorf("tokens file: entry %d: a gate token needs a gate", i)
		}
		e.p = Principal{Role: r.Role, Firm: r.Firm, Officer: r.Officer, Gate: r.Gate}
		t.entries = append(t.entries, e)
	}
	return t, nil
}

// bearerToken reports whether tok can be sent as a bearer token and found
// again: visible ASCII only (no spaces, controls or other text).
func bearerToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x21 || tok[i] > 0x7e {
			return false
		}
	}
	return tok != ""
}

// Len is the number of tokens known.
func (t *Tokens) Len() int { return len(t.entries) }

// Authenticate resolves an Authorization header value ("Bearer <token>") to
// its principal, or EUNAUTHORIZED.
func (t *Tokens) Authenticate(header string) (Principal, error) {
	p, err := t.AuthenticateShared(header)
	if err != nil {
		return Principal{}, err
	}
	return *p, nil
}

// AuthenticateShared is Authenticate returning the principal Tokens holds
// itself, so a caller that keeps it behind an interface allocates nothing.
// It is shared by every request with that token: read it, never change it.
func (t *Tokens) AuthenticateShared(header string) (*Principal, error) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return nil, Errorf(EUNAUTHORIZED, "a bearer token is required")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(header[len(prefix):])))
	found, match := -1, 0
	// Look at every entry so the time taken does not say which one matched.
	for i := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].hash[:]) == 1 {
			if match == 0 {
				found = i
			}
			match = 1
		}
	}
	if found < 0 {
		return nil, Errorf(EUNAUTHORIZED, "unknown token")
	}
	return &t.entries[found].p, nil
}
