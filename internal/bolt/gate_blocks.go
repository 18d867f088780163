package bolt

import (
	"encoding/binary"
	"fmt"
)

// A fold writes events into the events bucket in blocks: one value holds
// the raw bytes of consecutive events, keyed by the first one's seq. One
// put an event was a fifth of a 100-event batch load's fold (README,
// Performance); a block of up to blockMaxBytes costs one put and is
// written once, whole, since its key is past every other.
//
// A block is blockMagic, then for each event its raw length (uvarint) and
// raw bytes; the seqs run on by one from the key. Files written before
// blocks hold one event's raw JSON a value; JSON never starts with byte 1,
// so both kinds read alike (a legacy value is a block of one).
const (
	blockMagic    = 0x01
	blockMaxBytes = 64 << 10
	blockMaxCount = 1024
	// A fold's buffer is kept for the next up to this size (foldAt events
	// of a few hundred bytes fit).
	keptBlockBuffer = 16 << 20
)

// eachInBlock calls fn with each event of the value v stored under key
// first, in seq order, until fn says stop; end is the first seq of the
// next block. raw points into v. A block cut short (a file damaged by
// other means: bbolt does not checksum values) hands its events from the
// cut to end with no raw bytes, which the decider sets aside as it would
// any event that does not parse, and says so in its error.
func eachInBlock(first, end uint64, v []byte, fn func(seq uint64, raw []byte) (more bool)) error {
	if len(v) == 0 || v[0] != blockMagic {
		fn(first, v)
		return nil
	}
	seq := first
	for rest := v[1:]; len(rest) > 0; seq++ {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			for cut := seq; cut < end && fn(cut, nil); cut++ {
			}
			return fmt.Errorf("event block at seq %d is cut short: events %d to %d cannot be read", first, seq, end-1)
		}
		if !fn(seq, rest[w:w+int(n)]) {
			return nil
		}
		rest = rest[w+int(n):]
	}
	return nil
}

// putBlocks writes batch into the events bucket as blocks made in buf,
// and returns buf for the next fold: bbolt reads each value until the
// commit, not after.
func putBlocks(put func(k, v []byte) error, batch []logged, buf []byte) ([]byte, error) {
	total := 0
	for _, r := range batch {
		total += 1 + binary.MaxVarintLen32 + len(r.raw)
	}
	if cap(buf) < total {
		buf = make([]byte, 0, total)
	}
	buf = buf[:0]
	for len(batch) > 0 {
		n, size := 0, 1
		for n < len(batch) && n < blockMaxCount {
			add := binary.MaxVarintLen32 + len(batch[n].raw)
			if n > 0 && size+add > blockMaxBytes {
				break
			}
			size += add
			n++
		}
		start := len(buf)
		buf = append(buf, blockMagic)
		for _, r := range batch[:n] {
			buf = binary.AppendUvarint(buf, uint64(len(r.raw)))
			buf = append(buf, r.raw...)
		}
		if err := put(u64(batch[0].seq), buf[start:len(buf):len(buf)]); err != nil {
			return buf, err
		}
		batch = batch[n:]
	}
	if cap(buf) > keptBlockBuffer {
		return nil, nil // a fold of a long backlog at start: not kept
	}
	return buf, nil
}
