package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/kafka"
)

// Snapshots in the changelog: the primary now and then writes its whole
// file into the log as chunks followed by a manifest, so a node rebuilding
// from an empty disk restores the latest snapshot and applies only the
// transactions after it. The manifest also carries the verdict state of
// the log at the offset the snapshot was taken (epochs, last sequence,
// lease holder): judging the log is deterministic, so a node that starts
// there with that state judges every later record as a full replay would.
// Chunks and manifests have keys of their own and stay in the compacted
// log, like the transaction records below them; nothing is tombstoned yet.

// Defaults for ReplicaConfig.SnapshotEvery and SnapshotInterval.
const (
	DefaultSnapshotEvery    = 10000
	DefaultSnapshotInterval = 30 * time.Minute
)

// snapshotChunk stays under Kafka's default 1 MB message limit.
const snapshotChunk = 900 << 10

// snapshotManifest closes a snapshot: it names the position the file
// holds, where its chunks start, how many there are and their checksum, and
// the offset and verdict state from which the log continues after it.
type snapshotManifest struct {
	Epoch      uint64       `json:"epoch"`
	Seq        uint64       `json:"seq"`
	From       int64        `json:"from"`
	FirstChunk int64        `json:"first_chunk"`
	Chunks     int          `json:"chunks"`
	Bytes      int64        `json:"bytes"`
	SHA256     string       `json:"sha256"`
	State      verdictState `json:"state"`
}

// verdictState is what judging the log up to an offset has decided.
type verdictState struct {
	MaxEpoch  uint64 `json:"max_epoch"`
	LastSeq   uint64 `json:"last_seq"`
	LastEpoch uint64 `json:"last_epoch"`
	Holder    string `json:"holder"`
	HolderURL string `json:"holder_url"`
}

func snapshotPrefix(epoch, seq uint64) string {
	return fmt.Sprintf("snapshot/%016x/%016x/", epoch, seq)
}

func isManifest(key string) bool {
	return strings.HasPrefix(key, "snapshot/") && strings.HasSuffix(key, "/manifest")
}

// rebuildStats is how the last rebuild at start went (bench, logs).
type rebuildStats struct {
	Records  int64         // records read from the log until caught up
	Bytes    int64         // their value bytes
	Snapshot uint64        // sequence of the snapshot restored, 0 for none
	Took     time.Duration // from start to caught up
}

// keepSnapshots writes a snapshot every SnapshotEvery transactions or
// SnapshotInterval, whichever comes first, while this node is the primary
// and there is something new to cover.
func (r *replica) keepSnapshots(ctx context.Context) {
	select {
	case <-r.primary:
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(min(r.cfg.SnapshotInterval/4, time.Second))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.deposed:
			return
		case <-tick.C:
		}
		r.mu.Lock()
		behind := r.lastSeq - r.snapSeq
		r.mu.Unlock()
		if behind == 0 || (behind < uint64(r.cfg.SnapshotEvery) && time.Since(last) < r.cfg.SnapshotInterval) {
			continue
		}
		if err := r.writeSnapshot(ctx); err != nil {
			r.log.Warn("snapshot not written; trying again later", "err", err)
			continue
		}
		last = time.Now()
	}
}

var errNotSettled = errors.New("the file is not at a settled position of the log")

// chunkWriter appends what it is given to the log in chunks.
type chunkWriter struct {
	ctx    context.Context
	r      *replica
	prefix string
	buf    bytes.Buffer
	sum    hash.Hash
	n      int
	first  int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.sum.Write(p)
	w.buf.Write(p)
	for w.buf.Len() >= snapshotChunk {
		if err := w.flush(snapshotChunk); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *chunkWriter) flush(n int) error {
	if n == 0 {
		return nil
	}
	off, err := w.r.cl.Append(w.ctx, fmt.Sprintf("%schunk/%06d", w.prefix, w.n), bytes.Clone(w.buf.Next(n)))
	if err != nil {
		return err
	}
	if w.n == 0 {
		w.first = off
	}
	w.n++
	return nil
}

// writeSnapshot writes the file's snapshot and its manifest to the log.
func (r *replica) writeSnapshot(ctx context.Context) error {
	start := time.Now()
	var man snapshotManifest
	w := &chunkWriter{ctx: ctx, r: r, sum: sha256.New()}
	n, err := r.db.WriteSnapshot(w, func(pos bolt.Position) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		// The file must hold exactly what the log's verdicts up to
		// processed say: no write of this node or record being applied
		// in between.
		if r.myEpoch == 0 || r.unsure || !r.caughtUp || pos != (bolt.Position{Epoch: r.lastEpoch, Seq: r.lastSeq}) {
			return errNotSettled
		}
		man = snapshotManifest{Epoch: pos.Epoch, Seq: pos.Seq, From: r.processed, State: verdictState{
			MaxEpoch: r.maxEpoch, LastSeq: r.lastSeq, LastEpoch: r.lastEpoch, Holder: r.holder, HolderURL: r.holderURL}}
		w.prefix = snapshotPrefix(pos.Epoch, pos.Seq)
		return nil
	})
	if err == nil {
		err = w.flush(w.buf.Len())
	}
	if err != nil {
		return err
	}
	man.FirstChunk, man.Chunks, man.Bytes, man.SHA256 = w.first, w.n, n, hex.EncodeToString(w.sum.Sum(nil))
	raw, _ := json.Marshal(man)
	if _, err := r.cl.Append(ctx, w.prefix+"manifest", raw); err != nil {
		return err
	}
	r.countAppended("snapshot")
	r.log.Info("snapshot written to the changelog", "seq", man.Seq, "bytes", n, "chunks", w.n,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreLatest looks back from end for the latest complete snapshot,
// restores the (empty) file from it and sets the verdict state to the
// manifest's, so the caller follows the log from the manifest's From
// offset. It reports false when the log holds no usable snapshot.
func (r *replica) restoreLatest(ctx context.Context, end int64) (bool, error) {
	window := int64(64) // a snapshot is usually near the end: look there first
	for hi := end; hi > 0; window *= 4 {
		lo := max(0, hi-window)
		var found []snapshotManifest
		var offs []int64
		err := r.cl.ReadRange(ctx, lo, hi, func(rec kafka.ChangelogRecord) error {
			r.countRead(rec)
			if isManifest(rec.Key) {
				var m snapshotManifest
				if json.Unmarshal(rec.Value, &m) == nil {
					found, offs = append(found, m), append(offs, rec.Offset)
				}
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		for i := len(found) - 1; i >= 0; i-- {
			ok, err := r.restore(ctx, found[i], offs[i])
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
		hi = lo
	}
	return false, nil
}

// restore reads one snapshot's chunks and, when they are all there and
// match the checksum, restores the file from them.
func (r *replica) restore(ctx context.Context, m snapshotManifest, at int64) (bool, error) {
	prefix := snapshotPrefix(m.Epoch, m.Seq) + "chunk/"
	var data bytes.Buffer
	next := 0
	err := r.cl.ReadRange(ctx, m.FirstChunk, at, func(rec kafka.ChangelogRecord) error {
		r.countRead(rec)
		if rec.Key == fmt.Sprintf("%s%06d", prefix, next) {
			data.Write(rec.Value)
			next++
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data.Bytes())
	if next != m.Chunks || hex.EncodeToString(sum[:]) != m.SHA256 {
		r.log.Warn("incomplete snapshot in the changelog skipped", "seq", m.Seq, "chunks", next, "want", m.Chunks)
		return false, nil
	}
	pos, err := r.db.RestoreSnapshot(&data)
	if err != nil {
		return false, err
	}
	if pos != (bolt.Position{Epoch: m.Epoch, Seq: m.Seq}) {
		return false, fmt.Errorf("snapshot %d/%d holds position %d/%d", m.Epoch, m.Seq, pos.Epoch, pos.Seq)
	}
	r.mu.Lock()
	s := m.State
	r.maxEpoch, r.lastSeq, r.lastEpoch, r.holder, r.holderURL = s.MaxEpoch, s.LastSeq, s.LastEpoch, s.Holder, s.HolderURL
	r.processed, r.snapSeq, r.rebuild.Snapshot = m.From, m.Seq, m.Seq
	r.mu.Unlock()
	r.log.Info("restored a snapshot from the changelog", "seq", m.Seq, "bytes", m.Bytes, "from", m.From)
	return true, nil
}

func (r *replica) countRead(rec kafka.ChangelogRecord) {
	r.mu.Lock()
	if !r.caughtUp {
		r.rebuild.Records++
		r.rebuild.Bytes += int64(len(rec.Value))
	}
	r.mu.Unlock()
}

func (r *replica) rebuildStats() rebuildStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rebuild
}
