package bolt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/bolt"
)

// rssFileKB is this process's resident file-backed memory.
func rssFileKB(t *testing.T) int64 {
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssFile:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// Scanning a file through bbolt's map makes it resident; TrimResident
// gives that back while the data stays readable.
func TestTrimResidentDropsScannedPages(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "big.db"), bolt.Options{})
	require.NoError(t, err)
	defer db.Close()
	val := bytes.Repeat([]byte("x"), 4000)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("big"))
		if err != nil {
			return err
		}
		for i := range 16_000 { // about 64 MB
			if err := b.Put([]byte(strconv.Itoa(i)), val); err != nil {
				return err
			}
		}
		return nil
	}))
	scan := func() (n int) {
		require.NoError(t, db.View(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte("big")).ForEach(func(_, v []byte) error {
				n += int(v[0]+v[len(v)-1]) / int('x') / 2
				return nil
			})
		}))
		return n
	}
	require.Equal(t, 16_000, scan())
	before := rssFileKB(t)
	require.NoError(t, db.TrimResident())
	after := rssFileKB(t)
	require.Less(t, after, before-40_000, "RssFile %d kB before the trim, %d kB after", before, after)
	require.Equal(t, 16_000, scan(), "the data reads back after the trim")
}
