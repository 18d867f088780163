package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Reading bbolt's on-disk format (stable across bbolt versions: it is the
// file format). A page starts with a 16-byte header: id u64, flags u16,
// count u16, overflow u32. Branch elements are {pos u32, ksize u32, pgid
// u64}, leaf elements {flags u32, pos u32, ksize u32, vsize u32}, 16 bytes
// each, pos counted from the element. A bucket's value in its parent's leaf
// is {root u64, sequence u64}, followed by the bucket's page itself when
// root is 0 (an inline bucket). Meta pages 0 and 1 hold the root bucket at
// byte 32 and the transaction id at byte 64. Integers are native (little)
// endian.
const (
	pageHeaderSize  = 16
	pageElementSize = 16
	pageBranch      = 0x01
	pageLeaf        = 0x02
	leafBucketFlag  = 0x01
)

var le = binary.LittleEndian

type bucketHeader struct {
	root, seq uint64
	inline    []byte // the bucket's page when root is 0; nil for no bucket
}

func parseBucketHeader(v []byte) bucketHeader {
	if len(v) < 16 {
		return bucketHeader{}
	}
	h := bucketHeader{root: le.Uint64(v), seq: le.Uint64(v[8:])}
	if h.root == 0 {
		h.inline = v[16:]
	}
	return h
}

type leafEntry struct {
	bucket bool
	value  []byte
}

// pager reads committed pages from the file.
type pager struct {
	db    *DB
	size  int
	cache map[uint64][]byte
}

func (p *pager) page(id uint64) ([]byte, error) {
	if pg, ok := p.cache[id]; ok {
		return pg, nil
	}
	pg := make([]byte, p.size)
	if _, err := p.db.repl.file.ReadAt(pg, int64(id)*int64(p.size)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if over := le.Uint32(pg[12:]); over > 0 {
		pg = make([]byte, p.size*(1+int(over)))
		if _, err := p.db.repl.file.ReadAt(pg, int64(id)*int64(p.size)); err != nil {
			return nil, fmt.Errorf("read page %d: %w", id, err)
		}
	}
	if le.Uint64(pg) != id {
		return nil, fmt.Errorf("page %d claims id %d", id, le.Uint64(pg))
	}
	p.cache[id] = pg
	return pg, nil
}

// rootOf returns the root bucket of transaction txid from its meta page.
func (p *pager) rootOf(txid uint64) (bucketHeader, error) {
	for i := range 2 {
		m := make([]byte, 72)
		if _, err := p.db.repl.file.ReadAt(m, int64(i)*int64(p.size)); err != nil {
			return bucketHeader{}, fmt.Errorf("read meta %d: %w", i, err)
		}
		if le.Uint64(m[64:]) == txid {
			return bucketHeader{root: le.Uint64(m[32:]), seq: le.Uint64(m[40:])}, nil
		}
	}
	return bucketHeader{}, fmt.Errorf("no meta page for transaction %d", txid)
}

// diffTx returns the writes that turn the state committed by transaction
// from into the state committed by transaction to. Both must still be the
// latest two (their pages not reused yet).
func (db *DB) diffTx(from, to uint64) ([]Op, error) {
	p := &pager{db: db, size: db.bdb.Info().PageSize, cache: map[uint64][]byte{}}
	a, err := p.rootOf(from)
	if err != nil {
		return nil, err
	}
	b, err := p.rootOf(to)
	if err != nil {
		return nil, err
	}
	var ops []Op
	err = p.diffBucket(nil, a, b, &ops)
	return ops, err
}

func (p *pager) diffBucket(path [][]byte, a, b bucketHeader, ops *[]Op) error {
	if len(path) > 0 && a.seq != b.seq {
		*ops = append(*ops, Op{Kind: OpSequence, Bucket: path, Seq: b.seq})
	}
	if a.root != 0 && a.root == b.root {
		return nil
	}
	oldLeaves, newLeaves, err := p.frontier(a, b)
	if err != nil {
		return err
	}
	olds, news := map[string]leafEntry{}, map[string]leafEntry{}
	for _, l := range oldLeaves {
		leafEntries(l, olds)
	}
	for _, l := range newLeaves {
		leafEntries(l, news)
	}
	keys := make([]string, 0, len(news))
	for k := range news {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n, o := news[k], olds[k]
		_, had := olds[k]
		key := []byte(k)
		if had && o.bucket != n.bucket {
			kind := OpDelete
			if o.bucket {
				kind = OpDeleteBucket
			}
			*ops = append(*ops, Op{Kind: kind, Bucket: path, Key: key})
			had = false
		}
		switch {
		case n.bucket:
			var before bucketHeader
			if had {
				before = parseBucketHeader(o.value)
			} else {
				*ops = append(*ops, Op{Kind: OpCreateBucket, Bucket: path, Key: key})
			}
			if err := p.diffBucket(append(slices.Clip(path), key), before, parseBucketHeader(n.value), ops); err != nil {
				return err
			}
		case !had || !bytes.Equal(o.value, n.value):
			*ops = append(*ops, Op{Kind: OpPut, Bucket: path, Key: key, Value: slices.Clone(n.value)})
		}
	}
	gone := make([]string, 0)
	for k := range olds {
		if _, ok := news[k]; !ok {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	for _, k := range gone {
		kind := OpDelete
		if olds[k].bucket {
			kind = OpDeleteBucket
		}
		*ops = append(*ops, Op{Kind: kind, Bucket: path, Key: []byte(k)})
	}
	return nil
}

// frontier returns the leaf pages only the old tree has and those only the
// new tree has. Both trees are expanded level by level from their roots;
// a page id found on both sides is the same, unchanged subtree and is
// dropped from both, so only the paths the transaction rewrote are read.
// Every key of the old tree that is not in an old-only leaf sits in a leaf
// both trees share, so comparing the two leaf sets finds every write.
func (p *pager) frontier(a, b bucketHeader) (oldLeaves, newLeaves [][]byte, err error) {
	oldIDs, newIDs := map[uint64]bool{}, map[uint64]bool{}
	side := func(h bucketHeader, ids map[uint64]bool, leaves *[][]byte) {
		switch {
		case h.root != 0:
			ids[h.root] = true
		case len(h.inline) >= pageHeaderSize:
			*leaves = append(*leaves, h.inline)
		}
	}
	side(a, oldIDs, &oldLeaves)
	side(b, newIDs, &newLeaves)
	for len(oldIDs) > 0 || len(newIDs) > 0 {
		for id := range oldIDs {
			if newIDs[id] {
				delete(oldIDs, id)
				delete(newIDs, id)
			}
		}
		grown := false
		for _, s := range []struct {
			ids    map[uint64]bool
			leaves *[][]byte
		}{{oldIDs, &oldLeaves}, {newIDs, &newLeaves}} {
			next := map[uint64]bool{}
			for id := range s.ids {
				pg, err := p.page(id)
				if err != nil {
					return nil, nil, err
				}
				switch le.Uint16(pg[8:]) {
				case pageBranch:
					for _, c := range branchChildren(pg) {
						next[c] = true
					}
					grown = true
				case pageLeaf:
					next[id] = true // kept for cancelling; collected below
				default:
					return nil, nil, fmt.Errorf("page %d: unexpected flags %#x", id, le.Uint16(pg[8:]))
				}
			}
			clear(s.ids)
			for id := range next {
				s.ids[id] = true
			}
		}
		if !grown {
			for id := range oldIDs {
				if newIDs[id] {
					delete(oldIDs, id)
					delete(newIDs, id)
				}
			}
			for id := range oldIDs {
				pg, _ := p.page(id)
				oldLeaves = append(oldLeaves, pg)
			}
			for id := range newIDs {
				pg, _ := p.page(id)
				newLeaves = append(newLeaves, pg)
			}
			break
		}
	}
	return oldLeaves, newLeaves, nil
}

func branchChildren(pg []byte) []uint64 {
	n := int(le.Uint16(pg[10:]))
	out := make([]uint64, 0, n)
	for i := range n {
		el := pageHeaderSize + i*pageElementSize
		out = append(out, le.Uint64(pg[el+8:]))
	}
	return out
}

func leafEntries(pg []byte, into map[string]leafEntry) {
	n := int(le.Uint16(pg[10:]))
	for i := range n {
		el := pageHeaderSize + i*pageElementSize
		flags, pos := le.Uint32(pg[el:]), int(le.Uint32(pg[el+4:]))
		ks, vs := int(le.Uint32(pg[el+8:])), int(le.Uint32(pg[el+12:]))
		k := pg[el+pos : el+pos+ks]
		v := pg[el+pos+ks : el+pos+ks+vs]
		into[string(k)] = leafEntry{bucket: flags&leafBucketFlag != 0, value: v}
	}
}
