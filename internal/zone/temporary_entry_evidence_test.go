package zone_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestDeadlineOnBeijingDates: six months from the date of entry, the date
// being Beijing's.
func TestDeadlineOnBeijingDates(t *testing.T) {
	for _, c := range []struct{ entered, want, why string }{
		{"2026-02-28T17:00:00Z", "2026-08-31T17:00:00Z", "1 March in Beijing → 1 September (UTC months would give 28 August)"},
		{"2026-02-28T15:59:59Z", "2026-08-28T15:59:59Z", "still 28 February in Beijing"},
		{"2026-08-30T16:00:00Z", "2027-02-27T16:00:00Z", "31 August 00:00 in Beijing → 28 February 00:00 in Beijing (clamped)"},
		{"2027-08-30T16:30:00Z", "2028-02-28T16:30:00Z", "31 August 00:30 in Beijing → 29 February 00:30 in Beijing, a leap year"},
		{"2026-11-20T08:00:00Z", "2027-05-20T08:00:00Z", "the contract's example"},
	} {
		e := zone.TemporaryEntry{EnteredAt: date(c.entered)}
		assert.Equal(t, date(c.want), e.Deadline(), c.why)
	}
}
