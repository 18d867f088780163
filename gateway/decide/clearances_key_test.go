package decide

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// The one-allocation key of an ASCII identity is the key the rune path
// makes, for every byte below 0x80 (control bytes and the NUL that ends
// the kind among them), and declines anything else.
func TestASCIIIdentityKeyIsTheRuneKey(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	word := func(top int) string {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(top))
		}
		return string(b)
	}
	for range 100_000 {
		id := zone.Identity{Kind: word(128), Value: word(128)}
		k, ok := asciiIdentityKey(id)
		require.True(t, ok, "%q", id)
		require.Equal(t, runeIdentityKey(id), k, "%q", id)
		require.Equal(t, runeIdentityKey(id), identityKey(id))
	}
	for _, id := range []zone.Identity{{Kind: zone.ReadVehiclePlate, Value: "ab\xc3\xa9"}, {Kind: "k\xff", Value: "X1"}, {Kind: zone.ReadStandTag, Value: "\xff"}} {
		_, ok := asciiIdentityKey(id)
		require.False(t, ok, "%q", id)
		require.Equal(t, runeIdentityKey(id), identityKey(id))
	}
}
