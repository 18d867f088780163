package bolt

import (
	"errors"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bondgate/bondgate/internal/zone"
)

// This file is the gate's way in while its storage still lives in package
// gateway (issue 13 moves it into this package); nothing else may use it.
// It goes when that move lands, and Update and View then move to
// export_test.go for this package's own tests.

// Handle returns the raw bbolt handle, for package gateway only.
func (db *DB) Handle() *bbolt.DB { return db.bdb }

// Update runs fn in a write transaction, reporting a full file as
// zone.EUNAVAILABLE and fn's own errors unchanged.
func (db *DB) Update(fn func(*bbolt.Tx) error) error {
	err := db.bdb.Update(fn)
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return errStorageFull(err)
	}
	return err
}

// View runs fn in a read transaction, errors unchanged.
func (db *DB) View(fn func(*bbolt.Tx) error) error { return db.bdb.View(fn) }

// AppendOutbox queues m inside the caller's write transaction (see
// appendOutbox).
func AppendOutbox(tx *bbolt.Tx, m *zone.OutboxMessage) error { return appendOutbox(tx, m) }
