package zone

// Role is what a bearer token lets its holder do.
type Role string

// Roles, as in the tokens file.
const (
	RoleMRO     Role = "mro"     // an MRO firm; sees only its own records
	RoleCustoms Role = "customs" // a customs officer; clears moves, acks alarms
	RoleGate    Role = "gate"    // a gate service or its hardware; posts for its own gate only
	RoleAuditor Role = "auditor" // reads the audit trail
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleMRO, RoleCustoms, RoleGate, RoleAuditor:
		return true
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	Role    Role   `json:"role"`
	Firm    string `json:"firm,omitempty"`    // for mro
	Officer string `json:"officer,omitempty"` // for customs
	Gate    string `json:"gate,omitempty"`    // for gate
}

// Actor is how the principal appears in transitions and the audit trail.
func (p Principal) Actor() string {
	switch p.Role {
	case RoleMRO:
		return "mro:" + p.Firm
	case RoleCustoms:
		if p.Officer != "" {
			return "customs:" + p.Officer
		}
		return "customs"
	case RoleGate:
		return "gate:" + p.Gate
	case RoleAuditor:
		return "auditor"
	}
	return "system"
}

// Require returns EFORBIDDEN unless the principal has one of the roles.
func (p Principal) Require(roles ...Role) error {
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "role %q may not do this", p.Role)
}

// System is the actor for transitions the service makes by itself
// (expiry, crossings reported by a gate).
const System = "system"
