package zone

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// AuditEntry is one change in the append-only audit trail. Each entry's hash
// covers its content and the previous entry's hash, so editing, removing or
// reordering any entry breaks every hash after it.
type AuditEntry struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Entity   string          `json:"entity"` // e.g. predeclaration
	EntityID string          `json:"entity_id"`
	Reason   string          `json:"reason,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// ComputeHash returns the hash the entry should carry given its PrevHash.
func (e AuditEntry) ComputeHash() string {
	e.Hash = ""
	raw, _ := json.Marshal(e) // a struct of plain fields always marshals
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Seal sets PrevHash and Hash, chaining the entry after prev.
func (e *AuditEntry) Seal(prev string) {
	e.PrevHash = prev
	e.Hash = e.ComputeHash()
}

// AuditVerdict is the result of checking a chain.
type AuditVerdict struct {
	Verified bool        `json:"verified"`
	Entries  int         `json:"entries"`
	FirstBad *AuditEntry `json:"first_bad,omitempty"`
	Problem  string      `json:"problem,omitempty"`
}

// VerifyChain checks entries, in sequence order from the first ever written.
func VerifyChain(entries []AuditEntry) AuditVerdict {
	prev := ""
	var lastSeq uint64
	for i := range entries {
		e := entries[i]
		switch {
		case i > 0 && e.Seq != lastSeq+1:
			return AuditVerdict{Entries: len(entries), FirstBad: &e, Problem: "sequence gap: an entry is missing"}
		case e.PrevHash != prev:
			return AuditVerdict{Entries: len(entries), FirstBad: &e, Problem: "prev_hash does not match the entry before"}
		case e.ComputeHash() != e.Hash:
			return AuditVerdict{Entries: len(entries), FirstBad: &e, Problem: "hash does not match the entry's content"}
		}
		prev, lastSeq = e.Hash, e.Seq
	}
	return AuditVerdict{Verified: true, Entries: len(entries)}
}
