package zone

import "time"

// Times a client may send. A time outside these years is refused at every
// ingress: a UTC year above 9999 cannot be encoded as JSON again (one such
// event once stopped a gate), and nothing the zone records lies that far
// out anyway.
const (
	MinYear = 2000
	MaxYear = 2199
)

// TimeRangeMessage is what a time outside MinYear..MaxYear is told.
const TimeRangeMessage = "must be a time in the years 2000 to 2199 (UTC)"

// ClockSkew is how far ahead of the zone's clock a reported past moment (an
// arrival, an entry) may be stamped, for clocks that differ a little.
const ClockSkew = 2 * time.Minute

// TimeInRange reports whether t's UTC year lies in MinYear..MaxYear.
func TimeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= MinYear && y <= MaxYear
}

// timeProblems appends a FieldError for each named time outside the range
// (zero times are left to the "required" checks).
func timeProblems(fs []FieldError, named ...namedTime) []FieldError {
	for _, n := range named {
		if !n.t.IsZero() && !TimeInRange(n.t) {
			fs = append(fs, FieldError{Field: n.field, Message: TimeRangeMessage})
		}
	}
	return fs
}

type namedTime struct {
	field string
	t     time.Time
}

// notAfterNow refuses (EINVALID on field) a reported moment later than now
// plus ClockSkew: what has happened cannot be stamped in the future.
func notAfterNow(field string, t, now time.Time) error {
	if t.After(now.Add(ClockSkew)) {
		return Invalid(FieldError{Field: field, Message: "must not be later than now (" +
			now.UTC().Format(time.RFC3339) + ", with " + ClockSkew.String() + " allowed for clock skew)"})
	}
	return nil
}
