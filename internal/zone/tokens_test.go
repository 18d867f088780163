package zone_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokens(t *testing.T) {
	sum := sha256.Sum256([]byte("officer-2"))
	file := `[{"token":"mro-hna","role":"mro","firm":"HNA-TECHNIC"},
	 {"token_sha256":"` + hex.EncodeToString(sum[:]) + `","role":"customs","officer":"HK-0032"},
	 {"token":"gate-mro-1","role":"gate","gate":"G-MRO-1"}]`
	toks, err := zone.ParseTokens(strings.NewReader(file))
	require.NoError(t, err)
	assert.Equal(t, 3, toks.Len())

	p, err := toks.Authenticate("Bearer mro-hna")
	require.NoError(t, err)
	assert.Equal(t, zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}, p)

	p, err = toks.Authenticate("bearer officer-2")
	require.NoError(t, err)
	assert.Equal(t, "customs:HK-0032", p.Actor())

	for _, h := range []string{"", "Bearer ", "Basic mro-hna", "Bearer nope", "mro-hna"} {
		_, err := toks.Authenticate(h)
		assert.Equal(t, zone.EUNAUTHORIZED, zone.ErrorCode(err), h)
	}
}

func TestTokensFileRefusesBadEntries(t *testing.T) {
	for _, f := range []string{
		`[{"token":"x","role":"wizard"}]`,
		`[{"token":"x","role":"mro"}]`,
		`[{"token":"x","role":"gate"}]`,
		`[{"role":"customs"}]`,
		`[{"token":"x","token_sha256":"ab","role":"customs"}]`,
		`[{"token_sha256":"zz","role":"customs"}]`,
		`[{"token":"x","role":"customs","colour":"red"}]`,
	} {
		_, err := zone.ParseTokens(strings.NewReader(f))
		assert.Error(t, err, f)
	}
}

// AuthenticateShared answers as Authenticate does, with the principal Tokens
// holds: the same one for every request with that token, whatever a caller
// does to a copy it got from Authenticate.
func TestTokensAuthenticateShared(t *testing.T) {
	toks, err := zone.NewTokens([]zone.TokenRecord{
		{Token: "mro-hna", Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
		{Token: "gate-mro-1", Role: zone.RoleGate, Gate: "G-MRO-1"},
	})
	require.NoError(t, err)
	for _, h := range []string{"Bearer mro-hna", "bearer gate-mro-1 ", "", "Bearer ", "Basic mro-hna", "Bearer nope"} {
		want, werr := toks.Authenticate(h)
		got, err := toks.AuthenticateShared(h)
		assert.Equal(t, zone.ErrorCode(werr), zone.ErrorCode(err), h)
		if werr != nil {
			assert.Nil(t, got, h)
			continue
		}
		require.NotNil(t, got, h)
		assert.Equal(t, want, *got, h)
		again, _ := toks.AuthenticateShared(h)
		assert.Same(t, got, again, h)
		want.Firm = "changed" // a copy: the next caller is not affected
		p, _ := toks.Authenticate(h)
		assert.Equal(t, *got, p, h)
		assert.NotEqual(t, "changed", got.Firm, h)
	}
}
