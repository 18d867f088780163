package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// A RawJSON list (what GET /v1/predeclarations asks for) must hold exactly
// the records, in the order and with the cursors, of a decoded list.
func TestDeclarationsRawJSONMatchesDecoded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bolt.Options{})
	firms := []string{"HNA-TECHNIC", "GAMECO"}
	gates := []string{"G-MRO-1", "G-MAIN", "G-WEST"}
	for i := range 37 {
		d := f.create(t, engine(firms[i%2], gates[i%3], i))
		if i%4 == 1 {
			f.apply(t, d.ID, zone.ActClear)
		}
	}
	for _, firm := range append(firms, "") {
		for _, gate := range append(gates, "") {
			for _, st := range []zone.Status{"", zone.StatusSubmitted, zone.StatusCleared} {
				for _, limit := range []int{1, 5, 100} {
					name := fmt.Sprintf("firm=%s gate=%s status=%s limit=%d", firm, gate, st, limit)
					dec := zone.DeclarationFilter{Firm: firm, Gate: gate, Status: st, Limit: limit}
					raw := dec
					raw.RawJSON = true
					total := 0
					for pages := 0; ; pages++ {
						require.Less(t, pages, 100, name)
						want, err := f.store.Declarations(ctx, dec)
						require.NoError(t, err, name)
						got, err := f.store.Declarations(ctx, raw)
						require.NoError(t, err, name)
						require.Empty(t, got.Items, name)
						require.Len(t, got.Raw, len(want.Items), name)
						for i, r := range got.Raw {
							var d zone.PreDeclaration
							require.NoError(t, json.Unmarshal(r, &d), name)
							require.Equal(t, want.Items[i].ID, d.ID, name)
							require.Equal(t, want.Items[i].Status, d.Status, name)
							require.Equal(t, want.Items[i].Version, d.Version, name)
						}
						require.Equal(t, want.NextCursor, got.NextCursor, name)
						total += len(got.Raw)
						if want.NextCursor == "" {
							break
						}
						dec.Cursor, raw.Cursor = want.NextCursor, got.NextCursor
					}
					if firm == "" && gate == "" && st == "" {
						require.Equal(t, 37, total, name)
					}
				}
			}
		}
	}
}
