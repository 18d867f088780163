package zone

import (
	"testing"
	"time"
)

func TestReleaseNoteNumberRoundTripsAndYearIsShanghai(t *testing.T) {
	n := ReleaseNoteNumber{District: "HK6401", Year: 2026, Series: "0H4KQ2", Seq: 123}
	if n.String() != "HK6401-2026-0H4KQ2-000123" {
		t.Fatalf("format: %s", n)
	}
	back, err := ParseReleaseNoteNumber(n.String())
	if err != nil || back != n {
		t.Fatalf("parse: %+v %v", back, err)
	}
	for _, bad := range []string{"", "HK6401-2026-000123", "HK6401-x-S-1", "HK6401-2026-S-000000"} {
		if _, err := ParseReleaseNoteNumber(bad); ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
	// 16:30 UTC on New Year's Eve is already the new year in Haikou.
	if y := ReleaseNoteYear(time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC)); y != 2027 {
		t.Errorf("year %d, want 2027", y)
	}
}

// An expired or revoked clearance's note is void; a crossing passes it,
// also a late one after expiry.
func TestReleaseNoteStateFollowsTheDeclaration(t *testing.T) {
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	d := &PreDeclaration{ID: "D1", Status: StatusSubmitted}
	if _, err := ViewOf(d); ErrorCode(err) != ENOTFOUND {
		t.Fatalf("before clearing: %v", err)
	}
	must := func(a Action) {
		if err := d.Apply(a, "customs:HK-0031", at, "why"); err != nil {
			t.Fatal(err)
		}
	}
	must(ActClear)
	d.ReleaseNote = &ReleaseNote{Number: "HK6401-2026-0H4KQ2-000001", IssuedAt: at}
	if v, _ := ViewOf(d); v.State != NoteIssued || v.Void || v.Officer != "customs:HK-0031" {
		t.Fatalf("cleared: %+v", v)
	}
	must(ActExpire)
	if v, _ := ViewOf(d); v.State != NoteVoid || !v.Void || v.VoidedAt == nil {
		t.Fatalf("expired: %+v", v)
	}
	must(ActCross) // a late crossing: it happened
	if v, _ := ViewOf(d); v.State != NotePassed || v.Void || len(v.History) != 3 {
		t.Fatalf("late crossing: %+v", v)
	}
}
