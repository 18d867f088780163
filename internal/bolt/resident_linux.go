package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TrimResident drops this process's page-table entries for the file's
// memory map (madvise MADV_DONTNEED on bbolt's read-only shared mapping).
// The pages stay in the kernel's page cache and come back on the next
// touch with a minor fault; what goes is their charge to this process's
// resident set. bbolt reads through the map, so a scan of a large file (the
// check at open, draining a million-message outbox) would otherwise leave
// the whole file counted as the process's memory until the kernel needed
// it back. The map cannot move meanwhile: a read transaction is held.
func (db *DB) TrimResident() error { return trimResident(db.bdb) }

// TrimResidentEvery calls TrimResident every interval until ctx is done.
func (db *DB) TrimResidentEvery(ctx context.Context, every time.Duration) {
	trimEvery(ctx, db.bdb, every)
}

func trimEvery(ctx context.Context, bdb *bbolt.DB, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = trimResident(bdb)
		}
	}
}

func trimResident(bdb *bbolt.DB) error {
	fi, err := os.Stat(bdb.Path())
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	// A read transaction holds bbolt's mmap lock: no remap can unmap the
	// range (and let something else be mapped there) while we advise it.
	return bdb.View(func(*bbolt.Tx) error {
		ranges, err := fileMappings(st.Ino)
		if err != nil {
			return err
		}
		for _, r := range ranges {
			if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, r[0], r[1]-r[0], syscall.MADV_DONTNEED); e != 0 {
				return fmt.Errorf("madvise: %w", e)
			}
		}
		return nil
	})
}

// fileMappings lists the shared read-only mappings of inode ino in
// /proc/self/maps as [start, end) pairs.
func fileMappings(ino uint64) ([][2]uintptr, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]uintptr
	sc := bufio.NewScanner(f)
	want := strconv.FormatUint(ino, 10)
	for sc.Scan() {
		// 7f12c0000000-7f12c8000000 r--s 00000000 fd:01 1234567 /path/gate.db
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] != want || fields[1] != "r--s" {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || b <= a {
			continue
		}
		out = append(out, [2]uintptr{uintptr(a), uintptr(b)})
	}
	return out, sc.Err()
}
