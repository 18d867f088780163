// Package bolt is bondgate's embedded store on bbolt: the zone API's
// declarations, the audit chain, and the transactional outbox that the zone
// API and the gate services both use to reach Kafka.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/bondgate/bondgate/internal/zone"
)

// Options tune Open. The zero value is sensible.
type Options struct {
	// Timeout bounds the wait for the file lock (another process holding the
	// file). Default 5s.
	Timeout time.Duration
	// MaxSize caps the file in bytes; 0 means unlimited. Writes that would
	// grow the data past it fail with zone.EUNAVAILABLE ("storage full").
	// An eighth of it is kept back from appends so that deletes (draining
	// the outbox) still have room to run when appends are refused.
	MaxSize int64
	// SkipCheck skips the full consistency check at open. Only for callers
	// that checked the file some other way; the check is what catches a
	// corrupt file before it crashes the service later.
	SkipCheck bool
	// Logger receives recovery notices; default slog.Default().
	Logger *slog.Logger
	// NoSync skips the fsync of each commit, for bulk-loading a file whose
	// writes nobody has been told are durable yet (seeding a benchmark or a
	// test); Close then syncs once. Never for a serving store: an ack
	// means the data is on disk.
	NoSync bool
}

// DB is an open bondgate bbolt file. The bbolt handle stays inside this
// package: stores reach it only through update and view (tx.go).
type DB struct {
	bdb       *bbolt.DB
	noSync    bool
	path      string
	movedTo   string
	recovered bool
	// visitMove follows crossed declarations into visits (FollowVisits).
	visitMove zone.VisitCrossingMove
	repl      replication
	logger    *slog.Logger
	// Run before the file closes and before a backup copies it: a store
	// that holds writes outside bbolt (the gate's event log) puts them in.
	beforeClose, beforeBackup []func() error
}

// Buckets created on open: the zone API's records, indexes, audit chain and
// outbox. Other users (the gate service) add their own.
var (
	bucketDeclarations = []byte("declarations")
	bucketIdxStatus    = []byte("idx_status")
	bucketIdxGate      = []byte("idx_gate")
	bucketIdxFirm      = []byte("idx_firm")
	bucketIdxCounts    = []byte("idx_counts")
	bucketIdempotency  = []byte("idempotency")
	bucketAudit        = []byte("audit")

	allBuckets = [][]byte{bucketDeclarations, bucketIdxStatus, bucketIdxGate, bucketIdxFirm,
		bucketIdxCounts, bucketIdempotency, bucketAudit, bucketOutbox, bucketOutboxMeta, bucketQuarantine}
)

// Open opens (creating if needed) the bbolt file at path, checks it and
// creates the buckets. A corrupt or truncated file is moved aside to
// "<path>.corrupt-<UTC time>" and a fresh one created; Recovered reports it
// so the caller can raise an alarm instead of crash-looping. A file locked by
// another process is an error (bbolt.ErrTimeout), not corruption.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	db := &DB{path: path, noSync: opts.NoSync, logger: log}
	bdb, cause := openChecked(path, opts)
	if cause != nil {
		// A lock held elsewhere or a file we may not touch is not damage:
		// moving a healthy file aside would lose its data from view.
		if errors.Is(cause, berrors.ErrTimeout) || errors.Is(cause, fs.ErrPermission) || errors.Is(cause, fs.ErrNotExist) {
			return nil, fmt.Errorf("open %s: %w", path, cause)
		}
		moved := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.Rename(path, moved); err != nil {
			return nil, fmt.Errorf("open %s: corrupt (%v), and moving it aside failed: %w", path, cause, err)
		}
		log.Error("bbolt file corrupt; moved aside and starting empty", "path", path, "moved_to", moved, "err", cause)
		db.movedTo, db.recovered = moved, true
		if bdb, cause = openChecked(path, opts); cause != nil {
			return nil, fmt.Errorf("open fresh %s: %w", path, cause)
		}
	}
	db.bdb = bdb
	err := bdb.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: create buckets: %w", path, err)
	}
	return db, nil
}

// openChecked opens path and verifies it. A memory fault while bbolt reads a
// damaged file is turned into an error rather than a crash.
func openChecked(path string, opts Options) (bdb *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if bdb != nil {
				_ = bdb.Close()
			}
			bdb, err = nil, fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	bdb, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.Timeout,
		MaxSize: int(opts.MaxSize),
		NoSync:  opts.NoSync, // false unless bulk-loading: an ack means the data is on disk
	})
	if err != nil {
		return nil, err
	}
	if err := check(bdb, path, !opts.SkipCheck); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return bdb, nil
}

// check makes sure every page the file claims lies inside it (a truncated
// file would otherwise fault on first read) and then runs bbolt's own
// consistency check.
func check(bdb *bbolt.DB, path string, full bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return bdb.View(func(tx *bbolt.Tx) error {
		if fi.Size() < tx.Size() {
			return fmt.Errorf("truncated: file is %d bytes, data claims %d", fi.Size(), tx.Size())
		}
		if !full {
			return nil
		}
		// The check reads every page through the map; trimming alongside
		// keeps a large file from counting whole in the resident set.
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go trimEvery(ctx, bdb, 5*time.Millisecond)
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, e)
			}
		}
		return errors.Join(errs...)
	})
}

// Recovered reports whether Open found the file corrupt, and where it moved
// the damaged file.
func (db *DB) Recovered() (movedTo string, ok bool) { return db.movedTo, db.recovered }

// Path is the file's path.
func (db *DB) Path() string { return db.path }

// Close closes the file, syncing it first when it was opened with NoSync.
func (db *DB) Close() error {
	var hookErr error
	for _, fn := range db.beforeClose {
		if err := fn(); err != nil && hookErr == nil {
			hookErr = err
		}
	}
	db.beforeClose = nil
	if hookErr != nil {
		_ = db.bdb.Close()
		return hookErr
	}
	if db.repl.file != nil {
		_ = db.repl.file.Close()
		db.repl.file = nil
	}
	if db.noSync {
		db.noSync = false // once: a second Close finds the file closed
		if err := db.bdb.Sync(); err != nil {
			_ = db.bdb.Close()
			return err
		}
	}
	return db.bdb.Close()
}

// Batch is bbolt's Batch (fn may run more than once, so keep it
// idempotent), for group commit, with its errors mapped as update maps them.
func (db *DB) Batch(fn func(*bbolt.Tx) error) error {
	if db.repl.rep.Load() != nil {
		return db.update(fn)
	}
	return storageErr(db.bdb.Batch(fn))
}

// Outbox returns the outbox stored in this file.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }
