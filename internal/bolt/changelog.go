package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// The changelog replicates the file physically: each committed write
// transaction becomes the list of key/value writes it made (TxRecord), which
// a standby applies in one transaction of its own. The writes are found
// after the commit by comparing the B+trees before and after it page by
// page: bbolt copies every page it changes to a new page id, so a subtree
// whose page id is unchanged is unchanged, and only the leaves the
// transaction rewrote are read. That keeps the capture at the one write path
// (update) instead of in every store.

// OpKind is what one write of a transaction did.
type OpKind uint8

// The writes a transaction can make.
const (
	OpPut          OpKind = 1 // Key = Value in Bucket
	OpDelete       OpKind = 2 // Key removed from Bucket
	OpCreateBucket OpKind = 3 // nested bucket Key created in Bucket (root when Bucket is empty)
	OpDeleteBucket OpKind = 4 // nested bucket Key removed from Bucket
	OpSequence     OpKind = 5 // Bucket's sequence set to Seq
)

// Op is one write. Bucket is the path of the bucket written, from the root.
type Op struct {
	Kind   OpKind
	Bucket [][]byte
	Key    []byte
	Value  []byte
	Seq    uint64
}

// TxRecord is one committed transaction: the writer's epoch, the
// transaction's place in the log (Seq, consecutive from 1) and its writes.
type TxRecord struct {
	Epoch uint64
	Seq   uint64
	Ops   []Op
}

// Position is the last transaction a file holds: it is written inside every
// replicated transaction (bucket "changelog", key "position"), so a file
// always says how far into the log it is.
type Position struct{ Epoch, Seq uint64 }

var (
	bucketChangelog = []byte("changelog")
	keyPosition     = []byte("position")
)

// Replicator is the changelog writer behind a primary's store: Next says
// which epoch and sequence the next transaction carries (or refuses the
// write: this node is not the primary), Replicate puts the committed
// transaction in the log and returns once the log has it back. When
// Replicate fails the transaction is undone locally and its error returned.
type Replicator interface {
	Next(last Position) (Position, error)
	Replicate(rec TxRecord) error
}

// replication is the DB's changelog state.
type replication struct {
	mu   sync.Mutex // one replicated write (or applied record) at a time
	rep  atomic.Pointer[Replicator]
	file *os.File // read-only handle for reading committed pages
}

// SetReplicator routes every write transaction through r from now on (nil
// stops it). Writes then run one at a time: commit, capture, replicate.
func (db *DB) SetReplicator(r Replicator) error {
	if r == nil {
		db.repl.rep.Store(nil)
		return nil
	}
	db.repl.mu.Lock()
	defer db.repl.mu.Unlock()
	if db.repl.file == nil {
		f, err := os.Open(db.path)
		if err != nil {
			return fmt.Errorf("changelog: open pages: %w", err)
		}
		db.repl.file = f
	}
	db.repl.rep.Store(&r)
	return nil
}

// Position reads the file's changelog position (zero when it has none).
func (db *DB) Position() (Position, error) {
	var p Position
	err := db.view(func(tx *bbolt.Tx) error {
		p = readPosition(tx)
		return nil
	})
	return p, err
}

func readPosition(tx *bbolt.Tx) Position {
	b := tx.Bucket(bucketChangelog)
	if b == nil {
		return Position{}
	}
	v := b.Get(keyPosition)
	if len(v) != 16 {
		return Position{}
	}
	return Position{Epoch: binary.BigEndian.Uint64(v), Seq: binary.BigEndian.Uint64(v[8:])}
}

func writePosition(tx *bbolt.Tx, p Position) error {
	b, err := tx.CreateBucketIfNotExists(bucketChangelog)
	if err != nil {
		return err
	}
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, p.Epoch)
	binary.BigEndian.PutUint64(v[8:], p.Seq)
	return b.Put(keyPosition, v)
}

// ErrDiverged is returned by Apply when a record does not follow the file's
// position: the file holds transactions the log does not (a primary that
// committed locally and died before the log took it). Reset and replay.
var ErrDiverged = errors.New("changelog: the file is not a prefix of the log")

// replicatedUpdate is update for a store with a Replicator: the transaction
// carries its position, commits, is captured and replicated; if the log
// refuses it the commit is undone before the next write can start.
func (db *DB) replicatedUpdate(r Replicator, fn func(*bbolt.Tx) error) error {
	db.repl.mu.Lock()
	defer db.repl.mu.Unlock()
	var pos Position
	var txid int
	err := db.bdb.Update(func(tx *bbolt.Tx) error {
		next, err := r.Next(readPosition(tx))
		if err != nil {
			return pass(err)
		}
		if err := fn(tx); err != nil {
			return err
		}
		pos, txid = next, tx.ID()
		return writePosition(tx, next)
	})
	if err != nil {
		return storageErr(err)
	}
	ops, err := db.diffTx(uint64(txid-1), uint64(txid))
	if err != nil {
		return zone.Internal(fmt.Errorf("changelog: capture: %w", err))
	}
	if rerr := r.Replicate(TxRecord{Epoch: pos.Epoch, Seq: pos.Seq, Ops: ops}); rerr != nil {
		// Undo from the pages of the state before, still intact: the pages
		// this commit freed are reused only by a later write.
		undo, err := db.diffTx(uint64(txid), uint64(txid-1))
		if err == nil {
			err = db.bdb.Update(func(tx *bbolt.Tx) error { return applyOps(tx, undo) })
		}
		if err != nil {
			return zone.Internal(fmt.Errorf("changelog: undo after %v: %w", rerr, err))
		}
		return rerr
	}
	return nil
}

// Apply applies a record from the log in one transaction, if it is the next
// one after the file's position; one already in the file is skipped
// (applied reports false). A record that neither follows nor is already
// held is ErrDiverged.
func (db *DB) Apply(rec TxRecord) (applied bool, err error) {
	db.repl.mu.Lock()
	defer db.repl.mu.Unlock()
	err = db.bdb.Update(func(tx *bbolt.Tx) error {
		cur := readPosition(tx)
		switch {
		case rec.Seq == cur.Seq && rec.Epoch == cur.Epoch, rec.Seq < cur.Seq:
			return nil
		case rec.Seq != cur.Seq+1:
			return fmt.Errorf("%w: record %d/%d after position %d/%d", ErrDiverged, rec.Epoch, rec.Seq, cur.Epoch, cur.Seq)
		}
		if err := applyOps(tx, rec.Ops); err != nil {
			return err
		}
		applied = true
		return writePosition(tx, Position{Epoch: rec.Epoch, Seq: rec.Seq})
	})
	if err != nil && !errors.Is(err, ErrDiverged) {
		err = storageErr(err)
	}
	return applied, err
}

// Reset empties the file in one transaction (every bucket dropped and the
// standard ones recreated), for a node about to rebuild from the log.
func (db *DB) Reset() error {
	db.repl.mu.Lock()
	defer db.repl.mu.Unlock()
	return storageErr(db.bdb.Update(func(tx *bbolt.Tx) error {
		var names [][]byte
		if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, slices.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		for _, n := range names {
			if err := tx.DeleteBucket(n); err != nil {
				return err
			}
		}
		for _, n := range allBuckets {
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		return nil
	}))
}

// applyOps makes ops' writes in tx.
func applyOps(tx *bbolt.Tx, ops []Op) error {
	for i, op := range ops {
		var b *bbolt.Bucket
		for j, name := range op.Bucket {
			if j == 0 {
				b = tx.Bucket(name)
			} else {
				b = b.Bucket(name)
			}
			if b == nil {
				return fmt.Errorf("changelog op %d: bucket %q missing", i, op.Bucket[:j+1])
			}
		}
		var err error
		switch op.Kind {
		case OpPut:
			err = b.Put(op.Key, append([]byte{}, op.Value...))
		case OpDelete:
			err = b.Delete(op.Key)
		case OpCreateBucket:
			if b == nil {
				_, err = tx.CreateBucketIfNotExists(op.Key)
			} else {
				_, err = b.CreateBucketIfNotExists(op.Key)
			}
		case OpDeleteBucket:
			if b == nil {
				err = tx.DeleteBucket(op.Key)
			} else {
				err = b.DeleteBucket(op.Key)
			}
		case OpSequence:
			err = b.SetSequence(op.Seq)
		default:
			err = fmt.Errorf("unknown op kind %d", op.Kind)
		}
		if err != nil {
			return fmt.Errorf("changelog op %d (%d %q/%q): %w", i, op.Kind, op.Bucket, op.Key, err)
		}
	}
	return nil
}

// MarshalBinary encodes the record compactly: uvarint epoch, seq, op
// count, then per op its kind, path, key, value and sequence.
func (r TxRecord) MarshalBinary() ([]byte, error) {
	buf := binary.AppendUvarint(nil, r.Epoch)
	buf = binary.AppendUvarint(buf, r.Seq)
	buf = binary.AppendUvarint(buf, uint64(len(r.Ops)))
	bs := func(b []byte) {
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	for _, op := range r.Ops {
		buf = append(buf, byte(op.Kind))
		buf = binary.AppendUvarint(buf, uint64(len(op.Bucket)))
		for _, p := range op.Bucket {
			bs(p)
		}
		bs(op.Key)
		bs(op.Value)
		buf = binary.AppendUvarint(buf, op.Seq)
	}
	return buf, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (r *TxRecord) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	r.Epoch, r.Seq = d.uv(), d.uv()
	n := d.uv()
	if d.err == nil && n > uint64(len(data)) {
		d.err = errors.New("op count past the record")
	}
	r.Ops = nil
	for i := uint64(0); i < n && d.err == nil; i++ {
		var op Op
		op.Kind = OpKind(d.byte())
		np := d.uv()
		if np > uint64(len(data)) {
			d.err = errors.New("path past the record")
			break
		}
		for j := uint64(0); j < np && d.err == nil; j++ {
			op.Bucket = append(op.Bucket, d.bytes())
		}
		op.Key, op.Value, op.Seq = d.bytes(), d.bytes(), d.uv()
		r.Ops = append(r.Ops, op)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return fmt.Errorf("changelog record: %w", d.err)
	}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errors.Join(d.err, errors.New("short record"))
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n := d.uv()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errors.New("short record")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return v
}
