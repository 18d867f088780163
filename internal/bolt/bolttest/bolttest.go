// Package bolttest opens real, throw-away bondgate bbolt files for tests of
// any package.
package bolttest

import (
	"path/filepath"
	"testing"

	"github.com/bondgate/bondgate/internal/bolt"
)

// MustOpenDB opens a fresh bbolt file under tb.TempDir() and closes it when
// the test ends.
func MustOpenDB(tb testing.TB) *bolt.DB {
	tb.Helper()
	return MustOpen(tb, filepath.Join(tb.TempDir(), "bondgate.db"), bolt.Options{})
}

// MustOpen opens path with opts and closes it when the test ends. Use it to
// reopen a file after a simulated restart.
func MustOpen(tb testing.TB, path string, opts bolt.Options) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(path, opts)
	if err != nil {
		tb.Fatalf("open bbolt %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}
