package bolt

import (
	"context"
	"errors"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bondgate/bondgate/internal/zone"
)

// update runs fn in a write transaction. It is the one place a store's
// errors are mapped (see storageErr): callers return what it returns.
// With a changelog (SetReplicator) the transaction also goes to the log
// before update returns.
func (db *DB) update(fn func(*bbolt.Tx) error) error {
	if r := db.repl.rep.Load(); r != nil {
		return db.replicatedUpdate(*r, fn)
	}
	return storageErr(db.bdb.Update(fn))
}

// view runs fn in a read transaction, its errors mapped as update's.
func (db *DB) view(fn func(*bbolt.Tx) error) error {
	return storageErr(db.bdb.View(fn))
}

// passed carries an error out of a transaction unmapped: a caller's
// function whose error the store promises to return as it is.
type passed struct{ err error }

func (p passed) Error() string { return p.err.Error() }
func (p passed) Unwrap() error { return p.err }

// pass marks err to leave update and view unchanged (nil stays nil).
func pass(err error) error {
	if err == nil {
		return nil
	}
	return passed{err}
}

// storageErr maps an error from a transaction to a domain error: an error
// marked with pass and context errors come back as they are, a full file
// is EUNAVAILABLE, domain errors pass, and anything else is EINTERNAL with
// its cause kept.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	if p, ok := err.(passed); ok {
		return p.err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return errStorageFull(err)
	}
	var ze *zone.Error
	if errors.As(err, &ze) {
		return err
	}
	return zone.Internal(err)
}

// wrapInternal wraps a non-domain error as EINTERNAL, keeping domain errors.
func wrapInternal(err error) error {
	if err == nil {
		return nil
	}
	var ze *zone.Error
	if errors.As(err, &ze) {
		return err
	}
	return zone.Internal(err)
}

// errStorageFull is what every write path answers when the file is at its cap.
func errStorageFull(cause error) error {
	return &zone.Error{Code: zone.EUNAVAILABLE, Message: "storage full", Err: cause}
}

// checkRoom refuses a write that adds about n bytes when the file's live
// data would pass MaxSize less the API's reserve (see checkRoomKeeping).
func checkRoom(tx *bbolt.Tx, n int) error { return checkRoomKeeping(tx, n, reserveAPI) }
