package bolt_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// clearN submits and clears n declarations through the service and returns
// their release-note numbers in clearing order.
func (f *fixture) clearN(t *testing.T, from, n int) []zone.ReleaseNoteNumber {
	t.Helper()
	f.svc.ReleaseNotes = f.store
	var out []zone.ReleaseNoteNumber
	for i := from; i < from+n; i++ {
		d := f.create(t, engine("HNA-TECHNIC", "G-MRO-1", i))
		got, err := f.svc.Decide(context.Background(), customs, d.ID, zone.ActClear, "")
		require.NoError(t, err)
		require.NotNil(t, got.ReleaseNote)
		num, err := zone.ParseReleaseNoteNumber(got.ReleaseNote.Number)
		require.NoError(t, err)
		out = append(out, num)
		stored, err := f.store.Declaration(context.Background(), d.ID)
		require.NoError(t, err)
		require.Equal(t, got.ReleaseNote, stored.ReleaseNote, "the number reads the same from the store")
	}
	return out
}

// A file restored from a backup counts its sequence on from the backup's
// point, but no number it issues was issued before — not by the file after
// the backup, nor by an earlier restore of the same backup.
func TestReleaseNotesNeverReusedAfterRestore(t *testing.T) {
	f := newFixture(t, bolt.Options{})
	issued := f.clearN(t, 0, 3)
	var backup bytes.Buffer
	_, err := f.db.WriteBackup(context.Background(), &backup, nil)
	require.NoError(t, err)
	issued = append(issued, f.clearN(t, 3, 3)...) // after the backup: lost by the restore

	// A restart alone keeps numbers and the dense sequence.
	require.NoError(t, f.db.Close())
	f.open(t, bolt.Options{})
	issued = append(issued, f.clearN(t, 6, 1)...)
	for i, n := range issued {
		require.Equal(t, uint64(i+1), n.Seq, "dense across a restart: %v", issued)
		require.Equal(t, "HK6401", n.District)
		require.Equal(t, 2026, n.Year)
	}

	for restore := range 2 { // the same backup restored twice, written over the same file
		require.NoError(t, f.db.Close())
		require.NoError(t, os.WriteFile(f.path, backup.Bytes(), 0o600))
		f.open(t, bolt.Options{})
		again := f.clearN(t, 100+10*restore, 3)
		for i, n := range again {
			require.Equal(t, uint64(4+i), n.Seq, "the restored file counts on from its backup")
		}
		issued = append(issued, again...)
	}
	seen := map[string]bool{}
	for _, n := range issued {
		require.False(t, seen[n.String()], "number %s issued twice: %v", n, issued)
		seen[n.String()] = true
	}
}

// Sixteen officers clearing at once: numbers 1..16, no gap, no duplicate.
func TestReleaseNotesDenseUnderParallelClearings(t *testing.T) {
	f := newFixture(t, bolt.Options{})
	f.svc.ReleaseNotes = f.store
	var ids []string
	for i := range 16 {
		ids = append(ids, f.create(t, engine("HNA-TECHNIC", "G-MRO-1", i)).ID)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		nums = map[uint64]string{}
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := f.svc.Decide(context.Background(), customs, id, zone.ActClear, "")
			if !assertNoError(t, err) {
				return
			}
			n, err := zone.ParseReleaseNoteNumber(d.ReleaseNote.Number)
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := nums[n.Seq]; dup {
				t.Errorf("sequence %d given to %s and %s", n.Seq, prev, id)
			}
			nums[n.Seq] = id
		}()
	}
	wg.Wait()
	for seq := uint64(1); seq <= 16; seq++ {
		require.Contains(t, nums, seq, "gap at %d: %v", seq, fmt.Sprint(nums))
	}
	require.Len(t, nums, 16)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
