package bolttest

import (
	"context"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// AppendOutbox queues msgs in db's outbox in one write transaction of their
// own, as if changes had announced them: a seeded backlog for tests and the
// benchmark. Each message's Seq is set.
func AppendOutbox(db *bolt.DB, msgs ...*zone.OutboxMessage) error {
	return db.Outbox().Append(context.Background(), msgs...)
}
