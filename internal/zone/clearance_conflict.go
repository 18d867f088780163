package zone

import (
	"context"
	"time"
)

// Two active clearances at one gate, in one direction, with overlapping
// windows, whose identities read the same to the gate (normalizeIdentity,
// the gate's own comparison in Clearance.Matches) would let the crossing
// take whichever the gate meets first. The second clearing is refused.

// identityField is the request field an identity kind comes from.
func identityField(kind string) string {
	switch kind {
	case ReadStandTag:
		return "conveyance.stand_tag"
	case ReadVehiclePlate:
		return "conveyance.vehicle_plate"
	case ReadAircraftRegistration:
		return "object.registration"
	}
	return "conveyance"
}

// windowsOverlap reports whether two windows (both ends included) share a
// moment.
func windowsOverlap(a, b Window) bool {
	return !a.From.After(b.To) && !b.From.After(a.To)
}

// clearedAt lists the declarations cleared at gate whose window has not
// ended at now: the clearances the gate may still act on.
func (s *DeclarationService) clearedAt(ctx context.Context, gate string, now time.Time) ([]*PreDeclaration, error) {
	var out []*PreDeclaration
	f := DeclarationFilter{Status: StatusCleared, Gate: gate, Limit: 500}
	for {
		page, err := s.Store.Declarations(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range page.Items {
			if !d.Window.To.Before(now) {
				out = append(out, d)
			}
		}
		if page.NextCursor == "" {
			return out, nil
		}
		f.Cursor = page.NextCursor
	}
}

// identityConflict returns ECONFLICT naming the first of active whose
// clearance d's would be confused with at the gate, or nil.
func identityConflict(d *PreDeclaration, active []*PreDeclaration) error {
	for _, o := range active {
		if o.ID == d.ID || o.Status != StatusCleared || o.Gate != d.Gate || o.Direction != d.Direction ||
			!windowsOverlap(o.Window, d.Window) {
			continue
		}
		for _, mine := range d.Identifiers() {
			for _, theirs := range o.Identifiers() {
				if mine.Kind != theirs.Kind || normalizeIdentity(mine.Value) != normalizeIdentity(theirs.Value) {
					continue
				}
				return &Error{Code: ECONFLICT,
					Message: "declaration " + o.ID + " is already cleared at gate " + o.Gate + ", direction " + string(o.Direction) +
						", with an overlapping window and " + mine.Kind + " " + theirs.Value +
						", which the gate reads the same as " + mine.Value + ": clearing this one too would let the crossing take either",
					Fields: []FieldError{{Field: identityField(mine.Kind),
						Message: "reads the same as " + mine.Kind + " " + theirs.Value + " of cleared declaration " + o.ID}}}
			}
		}
	}
	return nil
}
