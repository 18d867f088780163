package bolt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// The gate's event log: acked events are appended to a plain file beside
// the bbolt file ("<path>.log") with one fdatasync, and written into bbolt
// (folded) later, many thousands to a transaction. A bbolt commit costs two
// fdatasyncs and ~14 pages even for a handful of events (README,
// Performance); ingest waited on it. Readers (the decider, the events API)
// see an event as soon as it is acked: the log keeps the unfolded ones in
// memory.
//
// The file is a header (logMagic, the store ID) and records, each
// [u32 body length][u32 CRC-32C of body][body: u64 seq, u16 key length,
// key, raw event]. Seqs increase by one from record to record. Once every
// record is folded and the file has passed logWrapAt, writing starts again
// after the header: the old records left behind carry smaller seqs, so
// reading stops where the new ones end. Overwriting blocks the file already
// has keeps each fdatasync to the data alone.
const (
	logMagic      = "BGEVLOG1"
	logHeaderSize = len(logMagic) + 16 // store IDs are 16 hex digits
	logRecordHead = 8                  // length and CRC
	logBodyHead   = 10                 // seq and key length
	maxLogRecord  = 64 << 20           // past it a length is garbage, not a record
)

// Fold thresholds, in events held in memory. A fold starts in the
// background at foldAt; at foldNow an append folds before it returns (the
// fold cannot keep up, or nothing runs it), which bounds memory. A fold
// rewrites every leaf of the seen index its keys land on, and with many
// devices they land everywhere: heartbeats from 2,000 devices cost 8.5 µs
// an event to fold 4,096 at a time (0.28 pages an event), 5.5 µs at
// 16,384 (0.11), 5.3 µs at 32,768.
const (
	foldAt  = 16384
	foldNow = 4 * foldAt
	// Wrapping folds whatever is pending while appends wait (tens of ms
	// for a full fold); at 35 MB/s of 100-event batches a 32 MiB log
	// wrapped every second.
	logWrapAt = 128 << 20
	// The file grows by zeros written ahead, this much at a time: an
	// fdatasync that must also record a new length (ext4: a journal
	// commit) took 2.5 ms against 0.3 ms for one that overwrites.
	logGrowBy = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// logZeros is what the log grows by, a piece at a time. It is never
// written, so it costs no memory; a new 4 MiB slice each time was garbage.
var logZeros [64 << 10]byte

// logged is one event in the log, not yet folded into bbolt. Key and raw
// point into the buffer its group was written from and are never changed.
type logged struct {
	seq      uint64
	key, raw []byte
}

// eventLog is the file and the events in it that bbolt does not hold yet.
type eventLog struct {
	db     *DB
	path   string
	header []byte
	log    *slog.Logger

	appendMu sync.Mutex // one append or wrap at a time
	f        *os.File   // appendMu
	off      int64      // where the next record goes; appendMu
	size     int64      // the file's length, zeros past the records; appendMu
	wrapAt   int64      // logWrapAt; smaller in tests

	foldMu  sync.Mutex // one fold at a time
	blocks  []byte     // where a fold makes its blocks; foldMu
	folding atomic.Bool
	wg      sync.WaitGroup // background folds

	mu      sync.RWMutex
	pending []logged // unfolded, in seq order; entries are never changed
	// Seen key → seq of the pending events: keys those logged since the
	// running fold began, foldKeys those it is writing. A fold drops its
	// map whole after the commit: deleting its keys one by one held mu for
	// 2 % of a batch load's CPU, and appends and readers waited on it.
	keys, foldKeys map[string]uint64
	bytes          int // raw and key bytes pending

	last atomic.Uint64 // seq of the newest event logged
}

// openEventLog opens (creating) the log of the gate store in db, whose ID
// is storeID, and folds into bbolt what the file holds beyond it: the
// events acked before a crash.
func openEventLog(db *DB, storeID string, logger *slog.Logger) (*eventLog, error) {
	if len(storeID) != logHeaderSize-len(logMagic) {
		return nil, fmt.Errorf("event log: store ID %q is not 16 characters", storeID)
	}
	l := &eventLog{db: db, path: db.Path() + ".log", header: []byte(logMagic + storeID), log: logger,
		keys: map[string]uint64{}, wrapAt: logWrapAt}
	var folded uint64
	if err := db.view(func(tx *bbolt.Tx) error {
		folded = tx.Bucket(gateEvents).Sequence()
		return nil
	}); err != nil {
		return nil, err
	}
	l.last.Store(folded)
	recs, mine, why, err := l.readFile(folded)
	if err != nil {
		return nil, err
	}
	if why != "" {
		// Not this file's log (a restored or recovered file, a copy): keep it
		// for whoever wants to look, start a new one.
		aside := l.path + ".aside-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(l.path, aside); err != nil {
			return nil, fmt.Errorf("event log: setting aside %s: %w", l.path, err)
		}
		logger.Warn("event log set aside: it does not continue this store", "path", l.path, "moved_to", aside, "why", why)
		recs, mine = nil, false
	}
	if len(recs) > 0 {
		l.pending = recs
		for _, r := range recs {
			l.keys[string(r.key)] = r.seq
			l.bytes += len(r.key) + len(r.raw)
		}
		l.last.Store(recs[len(recs)-1].seq)
		if err := l.fold(); err != nil {
			return nil, fmt.Errorf("event log: folding %d events logged before the stop: %w", len(recs), err)
		}
		logger.Info("event log replayed", "events", len(recs), "last_seq", l.last.Load())
	}
	if l.f, err = os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	if !mine {
		// A new file (or one with nothing of this store's): its header and
		// its name must be on disk before anything is acked from it.
		if err := l.writeDurably(l.header, 0); err != nil {
			_ = l.f.Close()
			return nil, err
		}
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			_ = l.f.Close()
			return nil, err
		}
	}
	fi, err := l.f.Stat()
	if err != nil {
		_ = l.f.Close()
		return nil, fmt.Errorf("event log: %w", err)
	}
	l.off, l.size = int64(logHeaderSize), fi.Size()
	return l, nil
}

// readFile reads the log at l.path (none: nothing) with readRecords.
func (l *eventLog) readFile(folded uint64) (recs []logged, mine bool, why string, err error) {
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, "", nil
	}
	if err != nil {
		return nil, false, "", fmt.Errorf("event log: %w", err)
	}
	defer f.Close()
	recs, mine, why, err = l.readRecords(bufio.NewReaderSize(f, 1<<20), folded)
	if err != nil {
		return nil, false, "", fmt.Errorf("event log %s: %w", l.path, err)
	}
	return recs, mine, why, nil
}

// readRecords returns the records of the log read from r with seq >
// folded, and whether the header is this store's. why is not empty when
// the file holds events that cannot be this store's: another store's, or
// ones that do not continue from folded. The log is read as a stream and
// only those records are kept: the file may be over 100 MiB, almost all
// of it folded already.
func (l *eventLog) readRecords(r io.Reader, folded uint64) (recs []logged, mine bool, why string, err error) {
	head := make([]byte, logHeaderSize)
	if _, err := io.ReadFull(r, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false, "", nil // a header never finished: nothing was acked from it
		}
		return nil, false, "", err
	}
	if string(head[:len(logMagic)]) != logMagic {
		return nil, false, "no event log header", nil
	}
	mine = string(head) == string(l.header)
	var prev uint64
	var rh [logRecordHead]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, false, "", err
		}
		n := int(binary.BigEndian.Uint32(rh[:]))
		if n < logBodyHead || n > maxLogRecord {
			break // zeros ahead of the records, or a torn write: nothing after it was acked
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, false, "", err
		}
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(rh[4:]) {
			break
		}
		seq := binary.BigEndian.Uint64(body)
		if prev != 0 && seq != prev+1 {
			break // a record left from before the last wrap
		}
		kn := int(binary.BigEndian.Uint16(body[8:]))
		if logBodyHead+kn > n {
			break
		}
		if seq > folded {
			kept := bytes.Clone(body[logBodyHead:])
			recs = append(recs, logged{seq: seq, key: kept[:kn], raw: kept[kn:]})
		}
		prev = seq
	}
	switch {
	case len(recs) == 0:
		return nil, mine, "", nil // nothing bbolt lacks: a new header will do
	case !mine:
		return nil, false, fmt.Sprintf("written for another store file, with %d events past this file's last (%d)", len(recs), folded), nil
	case recs[0].seq != folded+1:
		return nil, true, fmt.Sprintf("its events start at seq %d; this file ends at %d", recs[0].seq, folded), nil
	}
	return recs, true, "", nil
}

// pendingSeq is the seq of the unfolded event with key; mu is held.
func (l *eventLog) pendingSeq(key []byte) (uint64, bool) {
	if seq, ok := l.keys[string(key)]; ok {
		return seq, true
	}
	seq, ok := l.foldKeys[string(key)]
	return seq, ok
}

// write logs events (seqs already assigned, contiguous after last) and
// returns once they are on disk. appendMu is held.
func (l *eventLog) write(recs []logged, buf []byte) error {
	if l.off > int64(logHeaderSize) && l.off+int64(len(buf)) > l.wrapAt {
		if err := l.wrap(); err != nil {
			return err
		}
	}
	if end := l.off + int64(len(buf)); end > l.size {
		// Zeros ahead of the records; the fdatasync below makes them durable.
		grow := max(logGrowBy, end-l.size)
		for grow > 0 {
			n := min(grow, int64(len(logZeros)))
			if _, err := l.f.WriteAt(logZeros[:n], l.size); err != nil {
				return fmt.Errorf("event log: %w", err)
			}
			l.size += n
			grow -= n
		}
	}
	if err := l.writeDurably(buf, l.off); err != nil {
		return err
	}
	l.off += int64(len(buf))
	l.mu.Lock()
	l.pending = append(l.pending, recs...)
	for _, r := range recs {
		l.keys[string(r.key)] = r.seq
		l.bytes += len(r.key) + len(r.raw)
	}
	n := len(l.pending)
	l.last.Store(recs[len(recs)-1].seq)
	l.mu.Unlock()
	if n >= foldAt && l.folding.CompareAndSwap(false, true) {
		l.wg.Go(func() {
			defer l.folding.Store(false)
			if err := l.fold(); err != nil {
				l.log.Error("event log: fold into the store failed; events stay in the log", "err", err)
			}
		})
	}
	return nil
}

// keepUp folds before an append when the background folds have fallen
// foldNow events behind (or nothing runs them): memory stays bounded, and
// an append is refused, nothing written, while bbolt takes nothing more.
// appendMu is held.
func (l *eventLog) keepUp() error {
	l.mu.RLock()
	n := len(l.pending)
	l.mu.RUnlock()
	if n < foldNow {
		return nil
	}
	return l.fold()
}

// wrap folds what is pending and starts writing after the header again.
// appendMu is held, so nothing is appended meanwhile.
func (l *eventLog) wrap() error {
	if err := l.fold(); err != nil {
		return err
	}
	l.off = int64(logHeaderSize)
	return nil
}

func (l *eventLog) writeDurably(buf []byte, off int64) error {
	if _, err := l.f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	if l.db.noSync {
		return nil
	}
	if err := fdatasync(l.f); err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	return nil
}

// fold writes the pending events into bbolt in one transaction and then
// forgets them. Readers find an event in one place or the other
// throughout: it leaves memory only after the commit.
func (l *eventLog) fold() error {
	l.foldMu.Lock()
	defer l.foldMu.Unlock()
	l.mu.Lock()
	batch := l.pending[:len(l.pending):len(l.pending)]
	if len(batch) == 0 {
		l.mu.Unlock()
		return nil
	}
	// The keys of exactly the batch: write logs an event and its key
	// under one hold of mu.
	l.foldKeys, l.keys = l.keys, make(map[string]uint64, len(l.keys))
	l.mu.Unlock()
	err := l.db.update(func(tx *bbolt.Tx) error {
		events, seen := tx.Bucket(gateEvents), tx.Bucket(gateSeen)
		// Keys only ever grow: fill pages instead of splitting them in half.
		events.FillPercent = 0.95
		var err error
		if l.blocks, err = putBlocks(events.Put, batch, l.blocks); err != nil {
			return err
		}
		for _, r := range batch {
			if err := seen.Put(r.key, u64(r.seq)); err != nil {
				return err
			}
		}
		return events.SetSequence(batch[len(batch)-1].seq)
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// Still pending: their keys go back with the others.
		for k, seq := range l.foldKeys {
			l.keys[k] = seq
		}
		l.foldKeys = nil
		return err
	}
	n := 0
	for _, r := range batch {
		n += len(r.key) + len(r.raw)
	}
	l.bytes -= n
	l.pending = l.pending[len(batch):]
	l.foldKeys = nil
	return nil
}

// close folds what is pending and closes the file, cut back to its
// header: bbolt holds everything, and the next start need not read through
// up to logWrapAt of folded records (35 ms for 128 MiB from the page
// cache, more from the disk) to find nothing.
func (l *eventLog) close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.wg.Wait()
	err := l.fold()
	if err == nil && l.f != nil {
		// A cut that never reaches the disk leaves folded records, which a
		// start skips.
		if err = l.f.Truncate(int64(logHeaderSize)); err == nil && !l.db.noSync {
			err = fdatasync(l.f)
		}
	}
	if l.f != nil {
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	return err
}

// after returns up to max pending events with seq > after and says the
// first seq pending (last+1 when none): bbolt holds every event before it.
// The slice shares the pending array; its entries are never changed.
func (l *eventLog) after(after uint64, max int) (recs []logged, firstPending uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.pending) == 0 {
		return nil, l.last.Load() + 1
	}
	first := l.pending[0].seq
	var skip uint64
	if after >= first {
		skip = after - first + 1
	}
	if skip >= uint64(len(l.pending)) {
		return nil, first
	}
	end := min(uint64(len(l.pending)), skip+uint64(max))
	return l.pending[skip:end:end], first
}

// appendRecord encodes one record onto buf.
func appendRecord(buf []byte, seq uint64, key, raw []byte) (out []byte, k, r []byte) {
	n := logBodyHead + len(key) + len(raw)
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0) // CRC, below
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(key)))
	buf = append(buf, key...)
	buf = append(buf, raw...)
	body := buf[start+logRecordHead:]
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(body, castagnoli))
	return buf, body[logBodyHead : logBodyHead+len(key)], body[logBodyHead+len(key):]
}

// recordSize is what appendRecord adds for key and raw.
func recordSize(key, raw []byte) int { return logRecordHead + logBodyHead + len(key) + len(raw) }

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
