package bolt_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

func TestOpenHealthyFileKeepsData(t *testing.T) {
	f := newFixture(t, bolt.Options{})
	d := f.create(t, engine("HNA-TECHNIC", "G-MRO-1", 1))
	require.NoError(t, f.db.Close())
	f.open(t, bolt.Options{})
	_, ok := f.db.Recovered()
	require.False(t, ok)
	_, err := f.store.Declaration(context.Background(), d.ID)
	require.NoError(t, err)
}

// requireRecovered checks a damaged file was moved aside intact and the
// fresh file works.
func requireRecovered(t *testing.T, path string, damaged []byte) {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err, "a corrupt file must not stop the service")
	defer db.Close()
	moved, ok := db.Recovered()
	require.True(t, ok)
	require.True(t, strings.HasPrefix(moved, path+".corrupt-"), moved)
	kept, err := os.ReadFile(moved)
	require.NoError(t, err, "the damaged file is kept for forensics")
	require.True(t, bytes.Equal(damaged, kept))

	store := bolt.NewDeclarationStore(db)
	page, err := store.Declarations(context.Background(), zone.DeclarationFilter{})
	require.NoError(t, err)
	require.Empty(t, page.Items, "the fresh file starts empty")
	d := engine("HNA-TECHNIC", "G-MRO-1", 1)
	d.ID, d.Status = newIDs().New(), zone.StatusSubmitted
	_, _, err = store.CreateDeclaration(context.Background(), &d, nil, zone.Change{Actor: "t", Action: "submit"})
	require.NoError(t, err)
}

func TestOpenGarbageFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zone.db")
	garbage := bytes.Repeat([]byte("not a bbolt file "), 4096)
	require.NoError(t, os.WriteFile(path, garbage, 0o600))
	requireRecovered(t, path, garbage)
}

func TestOpenTruncatedFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		size func(full int64) int64
	}{
		{"tenth", func(n int64) int64 { return n / 10 }},
		{"half", func(n int64) int64 { return n / 2 }},
		{"nine-tenths", func(n int64) int64 { return n * 9 / 10 }},
		{"last page cut", func(n int64) int64 { return n - 4096 }},
		{"one meta page and a bit", func(int64) int64 { return 4096 + 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, bolt.Options{})
			for i := range 300 {
				d := engine("HNA-TECHNIC", "G-MRO-1", i)
				d.Object.Description = strings.Repeat("x", 2000) // spread over many pages
				f.create(t, d)
			}
			require.NoError(t, f.db.Close())
			// Cut relative to the data's end, not the file's: bbolt
			// preallocates, and cutting only unused tail is no damage.
			raw, err := bbolt.Open(f.path, 0o600, &bbolt.Options{ReadOnly: true})
			require.NoError(t, err)
			var used int64
			require.NoError(t, raw.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }))
			require.NoError(t, raw.Close())
			require.NoError(t, os.Truncate(f.path, tc.size(used)))
			damaged, err := os.ReadFile(f.path)
			require.NoError(t, err)
			requireRecovered(t, f.path, damaged)
		})
	}
}

func TestOpenCorruptPage(t *testing.T) {
	// A page overwritten in the middle (bad sector, torn write) is caught by
	// the consistency check.
	f := newFixture(t, bolt.Options{})
	for i := range 300 {
		d := engine("HNA-TECHNIC", "G-MRO-1", i)
		d.Object.Description = strings.Repeat("x", 2000)
		f.create(t, d)
	}
	require.NoError(t, f.db.Close())
	file, err := os.OpenFile(f.path, os.O_RDWR, 0)
	require.NoError(t, err)
	fi, err := file.Stat()
	require.NoError(t, err)
	// Skip the two meta pages and the first pages; scribble over the rest.
	junk := bytes.Repeat([]byte{0xA5}, int(fi.Size()/2))
	_, err = file.WriteAt(junk, 8*4096)
	require.NoError(t, err)
	require.NoError(t, file.Close())
	damaged, err := os.ReadFile(f.path)
	require.NoError(t, err)
	requireRecovered(t, f.path, damaged)
}

func TestOpenLockedFileIsNotCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zone.db")
	first, err := bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	defer first.Close()
	_, err = bolt.Open(path, bolt.Options{Timeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, bbolt.ErrTimeout)
	matches, err := filepath.Glob(path + ".corrupt-*")
	require.NoError(t, err)
	require.Empty(t, matches, "a locked file must never be moved aside")
}

// TestMaxSize fills a capped file until writes are refused, then checks
// nothing was half-written and the outbox can still drain.
func TestMaxSize(t *testing.T) {
	ctx := context.Background()
	const max = 512 << 10
	f := newFixture(t, bolt.Options{MaxSize: max})
	var ok int
	var full error
	for i := range 5000 {
		d := engine("HNA-TECHNIC", "G-MRO-1", i)
		d.Object.Description = strings.Repeat("engine stand and cradle ", 40)
		_, _, err := f.svc.Submit(ctx, hna, d, nil)
		if err != nil {
			full = err
			break
		}
		ok++
	}
	require.Error(t, full, "a %d-byte cap must fill up", max)
	requireCode(t, zone.EUNAVAILABLE, full)
	require.Greater(t, ok, 10)
	t.Logf("%d declarations fit under MaxSize %d", ok, max)

	fi, err := os.Stat(f.path)
	require.NoError(t, err)
	require.LessOrEqual(t, fi.Size(), int64(max))

	// Everything that was acknowledged is whole, nothing else is there.
	audit, depth := f.counts(t)
	require.Equal(t, ok, audit)
	require.Equal(t, ok, depth)
	n := 0
	flt := zone.DeclarationFilter{Limit: 500}
	for {
		page, err := f.store.Declarations(ctx, flt)
		require.NoError(t, err)
		n += len(page.Items)
		if page.NextCursor == "" {
			break
		}
		flt.Cursor = page.NextCursor
	}
	require.Equal(t, ok, n)

	// Draining still works when full, and frees room for new writes.
	pending, err := f.outbox.Pending(ctx, ok)
	require.NoError(t, err)
	require.NoError(t, f.outbox.Delivered(ctx, pending[len(pending)-1].Seq))
	depth, err = f.outbox.Depth(ctx)
	require.NoError(t, err)
	require.Zero(t, depth)

	// The raw bbolt cap is reported as EUNAVAILABLE too.
	err = f.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("ballast"))
		if err != nil {
			return err
		}
		return b.Put([]byte("big"), make([]byte, 2*max))
	})
	requireCode(t, zone.EUNAVAILABLE, err)
	_, _, err = f.svc.Submit(ctx, hna, engine("", "G-MRO-1", 9999), nil)
	require.NoError(t, err, "after the drain there is room again")
}
