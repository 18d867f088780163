package zone

import (
	"context"
	"regexp"
	"strings"
)

// Temporary entries rest on evidence, not on what the firm says: an entry
// linked to a pre-declaration takes its time from the gate's crossing, and a
// re-export needs a crossed outbound pre-declaration of the object or the
// number of the export declaration it left under.

// ReexportEvidence shows that a temporarily entered object left.
type ReexportEvidence struct {
	PreDeclaration    string `json:"predeclaration,omitempty"`
	ExportDeclaration string `json:"export_declaration,omitempty"`
}

// ReexportEvidenceUsed refuses a re-export resting on a pre-declaration
// that already evidenced another entry's: one object crossed out, one
// entry closed. (An export declaration number may list several objects, so
// it can close more than one entry.)
func ReexportEvidenceUsed(pre, firstEntry string) error {
	return &Error{Code: ECONFLICT,
		Message: "pre-declaration " + pre + " is already the re-export evidence of temporary entry " + firstEntry,
		Fields:  []FieldError{{Field: "predeclaration", Message: "already the re-export evidence of temporary entry " + firstEntry}}}
}

// exportDeclarationRE is a customs declaration number: 18 digits.
var exportDeclarationRE = regexp.MustCompile(`^[0-9]{18}$`)

// check is 422 without evidence, or with both kinds, or a number that is
// not 18 digits.
func (ev *ReexportEvidence) check() error {
	ev.PreDeclaration = strings.TrimSpace(ev.PreDeclaration)
	ev.ExportDeclaration = strings.TrimSpace(ev.ExportDeclaration)
	switch {
	case ev.PreDeclaration == "" && ev.ExportDeclaration == "":
		return &Error{Code: EUNPROCESSABLE, Message: "a re-export needs evidence: a crossed outbound pre-declaration or an export declaration number",
			Fields: []FieldError{{Field: "predeclaration", Message: "the crossed outbound pre-declaration, or export_declaration"},
				{Field: "export_declaration", Message: "the 18-digit export declaration number, or predeclaration"}}}
	case ev.PreDeclaration != "" && ev.ExportDeclaration != "":
		return unprocessable("export_declaration", "give one kind of evidence: predeclaration or export_declaration")
	case ev.ExportDeclaration != "" && !exportDeclarationRE.MatchString(ev.ExportDeclaration):
		return unprocessable("export_declaration", "must be the 18-digit export declaration number")
	}
	return nil
}

// crossedDeclaration returns the pre-declaration id when it is p's firm's,
// in direction dir, under regime (any when empty), and has crossed; else
// 422 naming field.
func (s *TemporaryEntryService) crossedDeclaration(ctx context.Context, p Principal, field, id string, dir Direction, regime Regime) (*PreDeclaration, error) {
	if s.Declarations == nil {
		return nil, Errorf(EUNAVAILABLE, "pre-declarations cannot be checked")
	}
	d, err := s.Declarations.Declaration(ctx, id)
	if ErrorCode(err) == ENOTFOUND || (err == nil && d.Firm != p.Firm) {
		return nil, unprocessable(field, "must name one of the firm's pre-declarations")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case d.Direction != dir:
		return nil, unprocessable(field, "must be a pre-declaration with direction "+string(dir))
	case regime != "" && d.Regime != regime:
		return nil, unprocessable(field, "must be a pre-declaration under regime "+string(regime))
	case d.CrossedAt == nil || (d.Status != StatusCrossed && d.Status != StatusArrived && d.Status != StatusClosed):
		return nil, unprocessable(field, "must be a pre-declaration that has crossed the gate (it is "+string(d.Status)+")")
	}
	return d, nil
}

// sameObject reports whether two declarations name the same aircraft or
// engine, as the gate reads identities.
func sameObject(a, b Object) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindAircraft:
		return normalizeIdentity(a.Registration) == normalizeIdentity(b.Registration)
	case KindEngine:
		return normalizeIdentity(a.ESN) == normalizeIdentity(b.ESN)
	}
	return true
}
