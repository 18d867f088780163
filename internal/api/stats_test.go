package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// /v1/stats counts the maintenance visits of the store and, with
// --seed-history, carries the base's cumulative figures from the source,
// marked seeded; without it, none.
func TestStatsCarryTheSeededMaintenanceHistory(t *testing.T) {
	customs := zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}
	for _, seeded := range []bool{true, false} {
		s, err := New(Config{DataDir: t.TempDir(), Brokers: []string{"127.0.0.1:1"}, SeedHistory: seeded,
			Log: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		st, err := s.feed.stats.Get(context.Background(), customs, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.NotNil(t, st.Maintenance, "the API counts visits")
		assert.Zero(t, st.Maintenance.VisitsOpened, "a fresh store has no visits")
		if seeded {
			h := st.Maintenance.Cumulative
			require.NotNil(t, h)
			assert.True(t, h.Seeded, "marked as seeded history")
			assert.True(t, h.AtLeast)
			assert.Equal(t, "2022-01-01", h.Since)
			assert.Equal(t, [3]int{2200, 270, 55000}, [3]int{h.AircraftVisits, h.Repaints, h.ComponentRepairs})
			assert.Contains(t, h.Source, "2,200")
		} else {
			assert.Nil(t, st.Maintenance.Cumulative, "no seeded figures without --seed-history")
		}
		require.NoError(t, s.db.Close())
	}
}
