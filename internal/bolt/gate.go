package bolt

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"syscall"

	bbolt "go.etcd.io/bbolt"
)

// Buckets of a gate's file, next to the outbox's. Seqs are big-endian
// keys (u64), so byte order is number order.
var (
	gateEvents     = []byte("events")     // first seq → block of raw events (gate_blocks.go)
	gateSeen       = []byte("seen")       // device_id 0x00 event_id → event seq
	gateCrossings  = []byte("crossings")  // crossing seq → crossing JSON
	gateEmitted    = []byte("emitted")    // crossing key → crossing seq, alarm key → 1: what replay must not repeat
	gateClearances = []byte("clearances") // clearance ID → record.Clearance JSON
	gateConsumed   = []byte("consumed")   // CloudEvent ID of an applied clearance event → 1
	gateSensors    = []byte("sensors")    // device ID → sensor state JSON
	gateMeta       = []byte("meta")       // named cursors, below
	gateAside      = []byte("aside")      // event seq → asideRecord JSON: events the decider leaves out
	gateBuckets    = [][]byte{gateEvents, gateSeen, gateCrossings, gateEmitted, gateClearances,
		gateConsumed, gateSensors, gateMeta, gateAside}
)

// Keys of the meta bucket.
var (
	metaProcessed = []byte("processed")  // highest event seq the decider has committed a step for
	metaLowWater  = []byte("low_water")  // correlator's replay point after a restart
	metaClockHW   = []byte("clock_hw")   // high-water mark of the gate's wall clock (unix nanos)
	metaStoreID   = []byte("store_id")   // made once per database file; names the clearance consumer group
	metaStoreFile = []byte("store_file") // the file (device:inode) store_id was made for
)

// GateStore is one gate's event log, decisions and clearance copy, kept in
// the same file as its outbox so a decision and its messages commit
// together. It implements gateway.Store.
type GateStore struct {
	db      *DB
	storeID string
	log     *eventLog // acked events bbolt does not hold yet
}

// NewGateStore creates the gate's buckets in db and settles the file's
// identity. Ingest's room check reads the cap db was opened with.
func NewGateStore(db *DB) (*GateStore, error) {
	g := &GateStore{db: db}
	err := db.update(func(tx *bbolt.Tx) error {
		for _, name := range gateBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var err error
		g.storeID, err = storeID(tx, fileIdentity(db.Path()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gate store %s: %w", db.Path(), err)
	}
	if g.log, err = openEventLog(db, g.storeID, db.logger); err != nil {
		return nil, fmt.Errorf("gate store %s: %w", db.Path(), err)
	}
	// The file must hold every acked event when it closes and when it is
	// copied for a backup.
	db.beforeClose = append(db.beforeClose, g.log.close)
	db.beforeBackup = append(db.beforeBackup, g.log.fold)
	return g, nil
}

// StoreID is this database file's identity. The clearance consumer's group
// is named after it: a gate whose file was replaced (moved aside as
// corrupt, restored from a backup, copied to another box) must read every
// clearance again from the start of the compacted topic, not resume at
// offsets committed while the old file was in use.
func (g *GateStore) StoreID() string { return g.storeID }

// storeID returns the identity stored for the file fileKey, making a new one
// when there is none or it was made for another file (a copy or a restore
// keeps the bytes but not the device and inode).
func storeID(tx *bbolt.Tx, fileKey string) (string, error) {
	b := tx.Bucket(gateMeta)
	if v := b.Get(metaStoreID); len(v) > 0 && string(b.Get(metaStoreFile)) == fileKey {
		return string(v), nil
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := b.Put(metaStoreFile, []byte(fileKey)); err != nil {
		return "", err
	}
	return id, b.Put(metaStoreID, []byte(id))
}

// fileIdentity names the file on disk (device and inode where the system
// says; else its path).
func fileIdentity(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return path
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return path
}
