package zone

import (
	"context"
	"encoding/json"
)

// Change is what one use case writes in the same transaction as the record it
// changes: who did what and why (for the audit trail) and the messages that
// announce it (for the outbox). Either all of it lands or none of it does.
type Change struct {
	Actor    string
	Action   string
	Reason   string
	Messages []OutboxMessage
	// Alarms are raised (stored open, once per ID) with the change, for
	// what an officer must see and a log line would hide.
	Alarms []*Alarm
}

// Idempotency identifies a creating request by the caller's Idempotency-Key.
// A replay with the same BodyHash returns the first result; another body under
// the same key is refused (EUNPROCESSABLE).
type Idempotency struct {
	Scope    string // whose key space: the principal's actor
	Key      string
	BodyHash string
}

// DeclarationFilter selects pre-declarations for a list. Empty fields match all.
type DeclarationFilter struct {
	Firm   string
	Status Status
	Gate   string
	Cursor string // opaque, from a previous page
	Limit  int
	// RawJSON asks for the page as the stored JSON of each record (Raw)
	// instead of decoded Items, for callers that only write it out: a
	// store that can checks the filters on its indexes and decodes nothing.
	// A store that cannot fills Items as usual.
	RawJSON bool
}

// DeclarationPage is one page of a list, newest first.
type DeclarationPage struct {
	Items      []*PreDeclaration
	NextCursor string
	// Raw holds the records as stored JSON when the filter asked for
	// RawJSON and the store supports it (then Items is empty).
	Raw []json.RawMessage
}

// DeclarationStore keeps pre-declarations. Implementations write the record,
// its indexes, the audit entry and the change's outbox messages in one
// transaction.
type DeclarationStore interface {
	// CreateDeclaration stores a new declaration. With idem set, a repeated
	// key with the same body returns the stored declaration and replayed=true.
	CreateDeclaration(ctx context.Context, d *PreDeclaration, idem *Idempotency, ch Change) (stored *PreDeclaration, replayed bool, err error)
	// UpdateDeclaration loads id, lets fn change it, and writes the result with
	// fn's Change. If fn returns an error nothing is written. ENOTFOUND when
	// there is no such declaration.
	UpdateDeclaration(ctx context.Context, id string, fn func(d *PreDeclaration) (Change, error)) (*PreDeclaration, error)
	// Declaration returns one declaration or ENOTFOUND.
	Declaration(ctx context.Context, id string) (*PreDeclaration, error)
	// Declarations lists by filter, newest first, with a cursor for the next page.
	Declarations(ctx context.Context, f DeclarationFilter) (DeclarationPage, error)
}

// AuditTrail reads and verifies the audit chain.
type AuditTrail interface {
	// AuditEntries returns up to limit entries with Seq > after, in order.
	AuditEntries(ctx context.Context, after uint64, limit int) ([]AuditEntry, error)
	// VerifyAudit checks the whole chain from its first entry.
	VerifyAudit(ctx context.Context) (AuditVerdict, error)
}

// Outbox is the durable queue of messages waiting for Kafka. Messages come
// out in Seq order; a publisher delivers the head before anything after it.
type Outbox interface {
	// Pending returns up to max undelivered messages from the head, in order.
	Pending(ctx context.Context, max int) ([]OutboxMessage, error)
	// Delivered removes every message with Seq <= through (one transaction).
	Delivered(ctx context.Context, through uint64) error
	// Failed records a failed attempt at the head message.
	Failed(ctx context.Context, seq uint64) error
	// Quarantine moves a message Kafka will never take out of the queue, keeping
	// it with the reason for an operator.
	Quarantine(ctx context.Context, seq uint64, reason string) error
	// Depth counts undelivered messages.
	Depth(ctx context.Context) (int, error)
}
