package bolt

import (
	"encoding/binary"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Key encodings shared by the stores. Numbers are big-endian so that byte
// order is number order; parts of a key are joined with 0x00, which no ID,
// status or scope contains.

// u64 encodes a sequence as a big-endian key.
func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// getU64 reads a big-endian counter; a missing bucket or key reads as 0.
func getU64(b *bbolt.Bucket, key []byte) uint64 {
	if b == nil {
		return 0
	}
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// timeKey orders id by t (crossings by time, temporary entries by deadline).
func timeKey(t time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(t.UnixNano()))
	return append(k, id...)
}

// joinKey is a 0x00 b: an index entry (value, id), a count (bucket,
// value) or an idempotency key (scope, key).
func joinKey(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func indexKey(value, id string) []byte            { return joinKey(value, id) }
func countKey(bucket []byte, value string) []byte { return joinKey(string(bucket), value) }
func idemKey(i *zone.Idempotency) []byte          { return joinKey(i.Scope, i.Key) }
