package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bondgate/bondgate/internal/zone"
)

// ErrInUse is returned by BackupFile and CheckFile when another process holds
// the file (a running service keeps an exclusive lock on it): back it up
// through the service's GET /v1/admin/backup instead.
var ErrInUse = errors.New("in use by a running service")

// WriteBackup streams a consistent copy of the whole file to w from one read
// transaction, while writers go on (bbolt's hot backup). It returns the bytes
// written. size, when not nil, is told the copy's exact length before the
// first byte is written (an HTTP handler sets Content-Length from it). The
// read transaction is held only for the copy; ctx is checked before it
// starts, since tx.WriteTo cannot be interrupted.
func (db *DB) WriteBackup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for _, fn := range db.beforeBackup {
		if err := fn(); err != nil {
			return 0, err
		}
	}
	var n int64
	err := db.view(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return pass(err) // the writer's own error (a client gone), as it is
	})
	return n, err
}

// BackupFile copies the bbolt file at path to w when no process holds it,
// from a read-only open that waits at most timeout for the lock. A file a
// service holds fails with ErrInUse.
func BackupFile(path string, w io.Writer, timeout time.Duration) (int64, error) {
	bdb, err := openReadOnly(path, timeout)
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	var n int64
	err = bdb.View(func(tx *bbolt.Tx) error {
		k, err := unfoldedEvents(tx, path)
		if err != nil {
			return zone.Errorf(zone.EUNAVAILABLE, "%s: its event log cannot be read, so the copy could lack acked events: %v", path, err)
		}
		if k > 0 {
			return zone.Errorf(zone.EUNAVAILABLE, "%s stopped without writing %d acked events from its event log %s into the file: "+
				"start the gate once (it writes them in at start) and back it up again, or back up the running gate with --from URL", path, k, path+".log")
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// unfoldedEvents counts the events a gate's event log beside path holds
// that its file does not: a gate killed before it folded them. 0 for
// another service's file, or a gate without a log.
func unfoldedEvents(tx *bbolt.Tx, path string) (int, error) {
	events, meta := tx.Bucket(gateEvents), tx.Bucket(gateMeta)
	if events == nil || meta == nil {
		return 0, nil
	}
	l := &eventLog{path: path + ".log", header: []byte(logMagic + string(meta.Get(metaStoreID)))}
	recs, _, _, err := l.readFile(events.Sequence())
	return len(recs), err
}

// CheckFile runs the integrity check Open runs (every page inside the file,
// then bbolt's tx.Check) on the file at path, read-only and without moving
// anything. A damaged file is a zone.EINTERNAL error naming the file and the
// first problems found; a missing file is EINVALID, a held one ErrInUse.
func CheckFile(path string, timeout time.Duration) (err error) {
	bdb, err := openReadOnly(path, timeout)
	if err != nil {
		if errors.Is(err, ErrInUse) || zone.ErrorCode(err) == zone.EINVALID {
			return err
		}
		return &zone.Error{Code: zone.EINTERNAL, Message: path + " is corrupt", Err: err}
	}
	defer bdb.Close()
	if err := checkRecovering(bdb, path); err != nil {
		return &zone.Error{Code: zone.EINTERNAL, Message: path + " is corrupt", Err: err}
	}
	return nil
}

// checkRecovering is check with a memory fault turned into an error.
func checkRecovering(bdb *bbolt.DB, path string) (err error) {
	defer debugPanicOnFault()()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	return check(bdb, path, true)
}

// openReadOnly opens path read-only (a shared lock, so a running service's
// exclusive lock makes it wait) within timeout. Faults while reading the
// meta pages come back as errors.
func openReadOnly(path string, timeout time.Duration) (bdb *bbolt.DB, err error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, zone.Errorf(zone.EINVALID, "%s does not exist", path)
		}
		return nil, err
	}
	defer debugPanicOnFault()()
	defer func() {
		if r := recover(); r != nil {
			if bdb != nil {
				_ = bdb.Close()
			}
			bdb, err = nil, fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %w", path, ErrInUse)
	}
	return bdb, err
}

// DataFiles lists the bondgate bbolt files in dir (api.db, gate-<ID>.db),
// leaving out files moved aside as corrupt and temporary files.
func DataFiles(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.db"))
	if err != nil {
		return nil, err
	}
	return matches, nil
}

// debugPanicOnFault makes a memory fault (a damaged mmapped page) panic
// instead of crash, and returns the function that restores the setting.
func debugPanicOnFault() func() {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}
