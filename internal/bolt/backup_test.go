package bolt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// A hot backup taken while the file is open and written is a complete,
// checkable bbolt file holding what was committed before it.
func TestHotBackupWhileWritingAndCheck(t *testing.T) {
	f := newFixture(t, bolt.Options{})
	var ids []string
	for i := range 50 {
		ids = append(ids, f.create(t, engine("HNA-TECHNIC", "G-MRO-1", i)).ID)
	}
	// The service holds the file: the offline paths say it is in use.
	var buf bytes.Buffer
	_, err := bolt.BackupFile(f.path, &buf, 100*time.Millisecond)
	require.ErrorIs(t, err, bolt.ErrInUse)
	require.ErrorIs(t, bolt.CheckFile(f.path, 100*time.Millisecond), bolt.ErrInUse)

	done := make(chan struct{})
	go func() { // writers go on during the copy
		defer close(done)
		for i := range 50 {
			f.create(t, engine("HNA-TECHNIC", "G-MRO-1", 100+i))
		}
	}()
	var size int64
	n, err := f.db.WriteBackup(context.Background(), &buf, func(s int64) { size = s })
	require.NoError(t, err)
	require.Equal(t, size, n, "the size told up front is the size written")
	<-done

	copyPath := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(copyPath, buf.Bytes(), 0o600))
	require.NoError(t, bolt.CheckFile(copyPath, time.Second))
	restored, err := bolt.Open(copyPath, bolt.Options{})
	require.NoError(t, err)
	defer restored.Close()
	store := bolt.NewDeclarationStore(restored)
	for _, id := range ids {
		_, err := store.Declaration(context.Background(), id)
		require.NoError(t, err, "declaration %s committed before the backup", id)
	}
	require.NoError(t, f.db.Close())
	// Offline copy once nobody holds the file.
	buf.Reset()
	_, err = bolt.BackupFile(f.path, &buf, time.Second)
	require.NoError(t, err)
}

func TestCheckFileNamesDamage(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "api.db")
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a bbolt file "), 4096), 0o600))
	err := bolt.CheckFile(garbage, time.Second)
	require.Error(t, err)
	require.Equal(t, zone.EINTERNAL, zone.ErrorCode(err))
	require.Contains(t, err.Error(), garbage)

	f := newFixture(t, bolt.Options{})
	for i := range 200 {
		f.create(t, engine("HNA-TECHNIC", "G-MRO-1", i))
	}
	require.NoError(t, f.db.Close())
	fi, err := os.Stat(f.path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(f.path, fi.Size()/3))
	require.ErrorContains(t, bolt.CheckFile(f.path, time.Second), "corrupt")
	require.Equal(t, zone.EINVALID, zone.ErrorCode(bolt.CheckFile(filepath.Join(dir, "none.db"), time.Second)))
}
