package zone

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A release note (核放单) is the numbered record of one clearance that staff,
// firms and auditors name a move by. Clearing a declaration issues it; the
// crossing that uses the clearance carries its number.

// DefaultReleaseNoteDistrict is the customs-district code release-note
// numbers begin with when none is configured (海口海关 6401).
const DefaultReleaseNoteDistrict = "HK6401"

// China keeps one offset all year; a fixed zone needs no tzdata on the host.
var shanghai = time.FixedZone("CST", 8*3600)

// ReleaseNote is what a cleared declaration carries.
type ReleaseNote struct {
	Number   string    `json:"number"`
	IssuedAt time.Time `json:"issued_at"`
}

// ReleaseNoteNumber is a number's parts: DISTRICT-YEAR-SERIES-SEQUENCE, e.g.
// HK6401-2026-0H4KQ2-000123. Sequence is dense per calendar year (Asia/
// Shanghai); Series names the store file's lineage and changes when the file
// is restored or copied, so a restored file that counts again from its
// backup's point can never repeat a number issued after the backup.
type ReleaseNoteNumber struct {
	District string
	Year     int
	Series   string
	Seq      uint64
}

func (n ReleaseNoteNumber) String() string {
	return fmt.Sprintf("%s-%04d-%s-%06d", n.District, n.Year, n.Series, n.Seq)
}

// ParseReleaseNoteNumber splits a number made by String; EINVALID otherwise.
func ParseReleaseNoteNumber(s string) (ReleaseNoteNumber, error) {
	p := strings.Split(s, "-")
	if len(p) != 4 || p[0] == "" || p[2] == "" {
		return ReleaseNoteNumber{}, Errorf(EINVALID, "%q is not a release-note number", s)
	}
	y, err1 := strconv.Atoi(p[1])
	seq, err2 := strconv.ParseUint(p[3], 10, 64)
	if err1 != nil || err2 != nil || seq == 0 {
		return ReleaseNoteNumber{}, Errorf(EINVALID, "%q is not a release-note number", s)
	}
	return ReleaseNoteNumber{District: p[0], Year: y, Series: p[2], Seq: seq}, nil
}

// ReleaseNoteYear is the calendar year (Asia/Shanghai) a note issued at t counts in.
func ReleaseNoteYear(t time.Time) int { return t.In(shanghai).Year() }

// InShanghai is t on the zone's clock, for printed pages.
func InShanghai(t time.Time) time.Time { return t.In(shanghai) }

// ReleaseNoteCounter tells the next release-note number without taking it.
// The store takes a number in the transaction that first stores a
// declaration carrying it, and refuses (ECONFLICT) any number but the next
// one of its year and series, so numbers stay dense and are never given
// twice. The declaration service asks it under its clearing lock. A seq of
// 0 means the store issues no numbers.
type ReleaseNoteCounter interface {
	NextReleaseNote(ctx context.Context, now time.Time) (series string, seq uint64, err error)
}

// NextReleaseNote passes through to the wrapped store; seq 0 when it does
// not number release notes.
func (o *DecisionObserver) NextReleaseNote(ctx context.Context, now time.Time) (string, uint64, error) {
	if c, ok := o.DeclarationStore.(ReleaseNoteCounter); ok {
		return c.NextReleaseNote(ctx, now)
	}
	return "", 0, nil
}

// NoteState is a release note's state, following its declaration.
type NoteState string

// Release-note states: issued (已审批) → passed (已过卡), or void (已作废).
const (
	NoteIssued NoteState = "issued"
	NotePassed NoteState = "passed"
	NoteVoid   NoteState = "void"
)

// NoteStateOf reads a cleared declaration's note state from its status: a
// crossing passes it; a clearance revoked, cancelled or expired unused voids it.
func NoteStateOf(s Status) NoteState {
	switch s {
	case StatusCrossed, StatusArrived, StatusClosed:
		return NotePassed
	case StatusRevoked, StatusExpired, StatusCancelled:
		return NoteVoid
	}
	return NoteIssued
}

// ReleaseNoteView is a release note with what every rendering prints.
type ReleaseNoteView struct {
	Number        string      `json:"number"`
	IssuedAt      time.Time   `json:"issued_at"`
	State         NoteState   `json:"state"`
	Void          bool        `json:"void"`
	DeclarationID string      `json:"declaration_id"`
	Firm          string      `json:"firm"`
	Officer       string      `json:"officer"`
	Gate          string      `json:"gate"`
	Direction     Direction   `json:"direction"`
	Window        Window      `json:"window"`
	Regime        Regime      `json:"regime"`
	HSCode        string      `json:"hs_code"`
	DeclaredValue Money       `json:"declared_value"`
	Object        Object      `json:"object"`
	Conveyance    Conveyance  `json:"conveyance"`
	Identities    []Identity  `json:"identities"`
	Status        Status      `json:"status"`
	CrossingID    string      `json:"crossing_id,omitempty"`
	CrossedAt     *time.Time  `json:"crossed_at,omitempty"`
	VoidedAt      *time.Time  `json:"voided_at,omitempty"`
	VoidReason    string      `json:"void_reason,omitempty"`
	History       []NoteEvent `json:"history"`
}

// NoteEvent is one state the note took.
type NoteEvent struct {
	State NoteState `json:"state"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor,omitempty"`
}

// ViewOf builds d's release note, or ENOTFOUND before clearing.
func ViewOf(d *PreDeclaration) (*ReleaseNoteView, error) {
	if d.ReleaseNote == nil {
		return nil, Errorf(ENOTFOUND, "pre-declaration %s has no release note (not cleared)", d.ID)
	}
	v := &ReleaseNoteView{Number: d.ReleaseNote.Number, IssuedAt: d.ReleaseNote.IssuedAt,
		State: NoteStateOf(d.Status), DeclarationID: d.ID, Firm: d.Firm, Gate: d.Gate,
		Direction: d.Direction, Window: d.Window, Regime: d.Regime, HSCode: d.HSCode,
		DeclaredValue: d.DeclaredValue, Object: d.Object, Conveyance: d.Conveyance,
		Identities: d.Identifiers(), Status: d.Status, CrossingID: d.CrossingID, CrossedAt: d.CrossedAt}
	v.Void = v.State == NoteVoid
	for _, t := range d.History {
		switch {
		case t.Action == ActClear:
			v.Officer = t.Actor
			v.History = append(v.History, NoteEvent{State: NoteIssued, At: t.At, Actor: t.Actor})
		case v.History != nil && NoteStateOf(t.To) != NoteStateOf(t.From) && NoteStateOf(t.To) != NoteIssued:
			v.History = append(v.History, NoteEvent{State: NoteStateOf(t.To), At: t.At, Actor: t.Actor})
			if NoteStateOf(t.To) == NoteVoid {
				at := t.At
				v.VoidedAt, v.VoidReason = &at, t.Reason
			}
		}
	}
	if !v.Void { // a late crossing passed a note the sweep had voided
		v.VoidedAt, v.VoidReason = nil, ""
	}
	return v, nil
}

// ReleaseNote returns the release note of a declaration the caller may see
// (its firm, customs); ENOTFOUND before it is cleared.
func (s *DeclarationService) ReleaseNote(ctx context.Context, p Principal, id string) (*ReleaseNoteView, error) {
	d, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return ViewOf(d)
}

// nextReleaseNote makes the number the clearing at now issues.
func (s *DeclarationService) nextReleaseNote(ctx context.Context, now time.Time) (*ReleaseNote, error) {
	counter := s.ReleaseNotes
	if counter == nil {
		counter, _ = s.Store.(ReleaseNoteCounter)
	}
	if counter == nil {
		return nil, nil
	}
	year := ReleaseNoteYear(now)
	series, seq, err := counter.NextReleaseNote(ctx, now)
	if err != nil || seq == 0 {
		return nil, err
	}
	district := s.District
	if district == "" {
		district = DefaultReleaseNoteDistrict
	}
	n := ReleaseNoteNumber{District: district, Year: year, Series: series, Seq: seq}
	return &ReleaseNote{Number: n.String(), IssuedAt: now.UTC()}, nil
}
