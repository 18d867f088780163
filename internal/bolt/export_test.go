package bolt

import (
	"errors"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// What this package's black-box tests use to set up and inspect a file
// directly.
var (
	PutAlarm    = putAlarm
	AppendAudit = appendAudit
)

// Update runs fn in a write transaction, reporting a full file as
// EUNAVAILABLE and fn's own errors unchanged.
func (db *DB) Update(fn func(*bbolt.Tx) error) error {
	err := db.bdb.Update(fn)
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return errStorageFull(err)
	}
	return err
}

// View runs fn in a read transaction, errors unchanged.
func (db *DB) View(fn func(*bbolt.Tx) error) error { return db.bdb.View(fn) }

// AppendOutbox queues m inside the caller's write transaction.
var AppendOutbox = appendOutbox
