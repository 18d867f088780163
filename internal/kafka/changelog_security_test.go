package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChangelogOverSecuredBroker: the changelog client honours the same
// TLS and SASL settings as every other client. With the right ones a
// record appended is read back in order; with the wrong ones the append,
// the end offset and the follower each fail with an AuthError naming the
// cause, instead of retrying in silence.
func TestChangelogOverSecuredBroker(t *testing.T) {
	for _, tc := range securedCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, tc.broker)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			cl, err := NewChangelog(b.Addrs(), tc.right, testLog())
			require.NoError(t, err)
			defer cl.Close()
			require.NoError(t, cl.EnsureTopic(ctx))
			const n = 3
			for i := range n {
				off, err := cl.Append(ctx, fmt.Sprintf("tx/%d", i), []byte{byte(i)})
				require.NoError(t, err)
				assert.Equal(t, int64(i), off)
			}
			end, err := cl.EndOffset(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(n), end)
			var got []string
			stop := errors.New("read all")
			err = cl.Follow(ctx, 0, func(r ChangelogRecord) error {
				got = append(got, r.Key)
				if len(got) == n {
					return stop
				}
				return nil
			})
			require.ErrorIs(t, err, stop)
			assert.Equal(t, []string{"tx/0", "tx/1", "tx/2"}, got)

			bad, err := NewChangelog(b.Addrs(), tc.wrong, testLog())
			require.NoError(t, err)
			defer bad.Close()
			bctx, bcancel := context.WithTimeout(ctx, 3*time.Second) // franz-go retries a refused append until then
			defer bcancel()
			_, aerr := bad.Append(bctx, "tx/bad", []byte("x"))
			_, eerr := bad.EndOffset(bctx)
			ferr := bad.Follow(bctx, 0, func(ChangelogRecord) error { return errors.New("a refused follower read a record") })
			for what, err := range map[string]error{"append": aerr, "end offset": eerr, "follow": ferr} {
				require.Error(t, err, what)
				assert.True(t, IsAuth(err), "%s: a refusal is an AuthError: %v", what, err)
				assert.Contains(t, err.Error(), tc.wrongReason, what)
			}
			end, err = cl.EndOffset(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(n), end, "the refused client wrote nothing")
		})
	}
}
