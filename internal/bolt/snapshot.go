package bolt

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bbolt "go.etcd.io/bbolt"
)

// A snapshot is the whole file as of one changelog position, so that a node
// rebuilding from an empty disk starts from it and applies only the
// transactions after it, instead of the log's whole history.

// WriteSnapshot writes a consistent copy of the file to w. at is called
// with the copy's position while no replicated write is in flight (the
// copy then holds exactly the transactions up to it); an error from at
// aborts before anything is written. Writes resume while the copy streams:
// it comes from one read transaction.
func (db *DB) WriteSnapshot(w io.Writer, at func(Position) error) (int64, error) {
	db.repl.mu.Lock()
	tx, err := db.bdb.Begin(false)
	if err != nil {
		db.repl.mu.Unlock()
		return 0, storageErr(err)
	}
	defer func() { _ = tx.Rollback() }()
	err = at(readPosition(tx))
	db.repl.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("snapshot: %w", err)
	}
	return n, nil
}

// RestoreSnapshot replaces the file's contents, in one transaction, with
// the snapshot read from r (what WriteSnapshot wrote), and returns the
// position it holds. The snapshot is opened as a bbolt file of its own
// first, so a damaged one fails here and leaves the store as it was.
func (db *DB) RestoreSnapshot(r io.Reader) (Position, error) {
	tmp, err := os.CreateTemp(filepath.Dir(db.path), ".snapshot-*")
	if err != nil {
		return Position{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Position{}, fmt.Errorf("snapshot: %w", err)
	}
	src, err := bbolt.Open(tmp.Name(), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		return Position{}, fmt.Errorf("snapshot: open: %w", err)
	}
	defer src.Close()
	db.repl.mu.Lock()
	defer db.repl.mu.Unlock()
	var pos Position
	err = src.View(func(stx *bbolt.Tx) error {
		pos = readPosition(stx)
		return db.bdb.Update(func(tx *bbolt.Tx) error {
			var names [][]byte
			if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				names = append(names, slices.Clone(name))
				return nil
			}); err != nil {
				return err
			}
			for _, n := range names {
				if err := tx.DeleteBucket(n); err != nil {
					return err
				}
			}
			return stx.ForEach(func(name []byte, sb *bbolt.Bucket) error {
				b, err := tx.CreateBucket(name)
				if err != nil {
					return err
				}
				return copyBucket(b, sb)
			})
		})
	})
	if err != nil {
		return Position{}, storageErr(err)
	}
	return pos, nil
}

// copyBucket copies src's keys, nested buckets and sequence into dst.
func copyBucket(dst, src *bbolt.Bucket) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(slices.Clone(k), slices.Clone(v))
		}
		nb, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(nb, src.Bucket(k))
	})
}

// ContentDigest is a SHA-256 over every bucket's keys, values, nested
// buckets and sequences, in key order: two files with the same digest hold
// the same data, however their pages are laid out (a primary and a node
// rebuilt from its snapshot).
func (db *DB) ContentDigest() (string, error) {
	h := sha256.New()
	var walk func(b *bbolt.Bucket) error
	walk = func(b *bbolt.Bucket) error {
		fmt.Fprintf(h, "seq %d\n", b.Sequence())
		return b.ForEach(func(k, v []byte) error {
			if v != nil {
				fmt.Fprintf(h, "k %x=%x\n", k, v)
				return nil
			}
			fmt.Fprintf(h, "b %x{\n", k)
			defer fmt.Fprint(h, "}\n")
			return walk(b.Bucket(k))
		})
	}
	err := db.view(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			fmt.Fprintf(h, "B %x{\n", name)
			defer fmt.Fprint(h, "}\n")
			return walk(b)
		})
	})
	return hex.EncodeToString(h.Sum(nil)), err
}
