package bolttest

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// ForEach opens the bbolt file at path read-only, as a second process would
// while the owner is stopped, and calls fn for every key and value of
// bucket in key order. A missing bucket calls fn for nothing.
func ForEach(tb testing.TB, path, bucket string, fn func(k, v []byte)) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("open %s read-only: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { fn(k, v); return nil })
	})
	if err != nil {
		tb.Fatalf("read %s/%s: %v", path, bucket, err)
	}
}

// SeenSet is a consumer's set of applied event IDs in a throw-away bbolt
// file: the "none in effect twice" side of at-least-once delivery.
type SeenSet struct{ db *bbolt.DB }

// NewSeenSet opens an empty seen-set under tb.TempDir(), closed when the
// test ends.
func NewSeenSet(tb testing.TB) *SeenSet {
	tb.Helper()
	db, err := bbolt.Open(filepath.Join(tb.TempDir(), "seen.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("open seen-set: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return &SeenSet{db: db}
}

// Mark puts id into the set in one fsynced transaction; first is false if
// it was there already.
func (s *SeenSet) Mark(id string) (first bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		seen, err := tx.CreateBucketIfNotExists([]byte("seen"))
		if err != nil {
			return err
		}
		if seen.Get([]byte(id)) != nil {
			return nil
		}
		first = true
		return seen.Put([]byte(id), []byte{1})
	})
	return first, err
}
