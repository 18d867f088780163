package gateway

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/bondgate/bondgate/gateway/hardware"
)

// Snapshot retention defaults: a week of ANPR pictures, at most 1 GiB.
const (
	DefaultSnapshotRetention = 7 * 24 * time.Hour
	DefaultSnapshotMaxBytes  = 1 << 30
	snapshotPruneEvery       = time.Minute
)

// snapshotStore keeps camera pictures under <data>/snapshots/<device>/,
// each fsynced before the event naming it is stored, and prunes them by
// age and total size so a busy lane cannot fill the gate's disk.
type snapshotStore struct {
	dir      string
	maxAge   time.Duration
	maxBytes int64
	log      *slog.Logger

	mu        sync.Mutex
	lastPrune time.Time
}

func newSnapshotStore(dataDir string, maxAge time.Duration, maxBytes int64, log *slog.Logger) *snapshotStore {
	if maxAge <= 0 {
		maxAge = DefaultSnapshotRetention
	}
	if maxBytes <= 0 {
		maxBytes = DefaultSnapshotMaxBytes
	}
	return &snapshotStore{dir: filepath.Join(dataDir, "snapshots"), maxAge: maxAge, maxBytes: maxBytes, log: log}
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// fileName keeps a name usable as one path element, hashing it otherwise.
func fileName(s string) string {
	if safeName.MatchString(s) && len(s) <= 100 {
		return s
	}
	return hardware.Hash(s)
}

// put writes a picture and returns its reference for the event's
// snapshot field ("snapshots/<device>/<event>.jpg", under the data folder).
func (st *snapshotStore) put(device, eventID string, data []byte) (string, error) {
	rel := filepath.Join(fileName(device), fileName(eventID)+".jpg")
	path := filepath.Join(st.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snap-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	st.maybePrune(time.Now())
	return filepath.ToSlash(filepath.Join("snapshots", rel)), nil
}

func (st *snapshotStore) maybePrune(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if now.Sub(st.lastPrune) < snapshotPruneEvery {
		return
	}
	st.lastPrune = now
	if n, err := st.prune(now); err != nil {
		st.log.Warn("pruning snapshots", "err", err)
	} else if n > 0 {
		st.log.Info("snapshots pruned", "removed", n)
	}
}

// prune removes pictures older than maxAge, then the oldest until the
// total is within maxBytes; it returns how many it removed.
func (st *snapshotStore) prune(now time.Time) (int, error) {
	type file struct {
		path string
		mod  time.Time
		size int64
	}
	var files []file
	var total int64
	err := filepath.WalkDir(st.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		files = append(files, file{p, info.ModTime(), info.Size()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("walk %s: %w", st.dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	removed := 0
	for _, f := range files {
		if now.Sub(f.mod) <= st.maxAge && total <= st.maxBytes {
			break // the rest are younger and the total fits
		}
		if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		total -= f.size
		removed++
	}
	return removed, nil
}
