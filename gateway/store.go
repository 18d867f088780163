package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Buckets of the gate's bbolt file. The outbox buckets belong to internal/bolt.
var (
	bucketEvents     = []byte("events")     // big-endian event seq → raw event JSON
	bucketSeen       = []byte("seen")       // device_id 0x00 event_id → event seq
	bucketCrossings  = []byte("crossings")  // big-endian crossing seq → crossing JSON
	bucketEmitted    = []byte("emitted")    // crossing ID → crossing seq, alarm ID → 1: what replay must not repeat
	bucketClearances = []byte("clearances") // clearance ID → cachedClearance JSON
	bucketConsumed   = []byte("consumed")   // CloudEvent ID of an applied clearance event → 1
	bucketSensors    = []byte("sensors")    // device ID → SensorState JSON
	bucketMeta       = []byte("meta")       // named cursors, below
	bucketAside      = []byte("aside")      // big-endian event seq → asideRecord JSON: events the decider leaves out
	gateBuckets      = [][]byte{bucketEvents, bucketSeen, bucketCrossings, bucketEmitted, bucketClearances, bucketConsumed, bucketSensors, bucketMeta, bucketAside}
)

// Keys of the meta bucket.
var (
	metaProcessed = []byte("processed")  // highest event seq the decider has committed a step for
	metaLowWater  = []byte("low_water")  // correlator's replay point after a restart
	metaClockHW   = []byte("clock_hw")   // high-water mark of the gate's wall clock (unix nanos)
	metaStoreID   = []byte("store_id")   // made once per database file; names the clearance consumer group
	metaStoreFile = []byte("store_file") // the file (device:inode) store_id was made for
)

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bbolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func seenKey(device, eventID string) []byte {
	k := make([]byte, 0, len(device)+1+len(eventID))
	k = append(k, device...)
	k = append(k, 0)
	return append(k, eventID...)
}

func createBuckets(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range gateBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// storeID returns this database file's identity, making a new one when the
// file is new or is not the file the identity was made for. The clearance
// consumer's group is named after it: a gate whose file was replaced (moved
// aside as corrupt, restored from a backup, copied to another box) must read
// every clearance again from the start of the compacted topic, not resume at
// offsets committed while the old file was in use. The file is recognised by
// its device and inode, which a copy or a restore does not keep.
func storeID(db *bbolt.DB) (string, error) {
	fileKey := fileIdentity(db.Path())
	var id string
	err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(metaStoreID); len(v) > 0 && string(b.Get(metaStoreFile)) == fileKey {
			id = string(v)
			return nil
		}
		var raw [8]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		id = hex.EncodeToString(raw[:])
		if err := b.Put(metaStoreFile, []byte(fileKey)); err != nil {
			return err
		}
		return b.Put(metaStoreID, []byte(id))
	})
	return id, err
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

// storeError turns a bbolt failure into a domain error: a full store is a
// 503 the client can retry, anything else is internal.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	var ze *zone.Error
	if errors.As(err, &ze) {
		return err
	}
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		return &zone.Error{Code: zone.EUNAVAILABLE, Message: "the gate's store is full; retry later", Err: err}
	}
	return zone.Internal(err)
}

// storedEvent is one entry of the raw event log.
type storedEvent struct {
	Seq uint64
	Raw []byte
}

// eventsAfter copies up to max raw events with seq > after out of the log.
func eventsAfter(db *bbolt.DB, after uint64, max int) ([]storedEvent, error) {
	var out []storedEvent
	if after == math.MaxUint64 {
		return out, nil // nothing lies after the top; after+1 would wrap to the start
	}
	err := db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			out = append(out, storedEvent{Seq: binary.BigEndian.Uint64(k), Raw: bytes.Clone(v)})
		}
		return nil
	})
	return out, err
}

// decidable is one entry of the event log as the decider reads it.
type decidable struct {
	storedEvent
	aside bool // set aside before: the decider passes over it
}

// eventsToDecide is eventsAfter with each event's set-aside mark.
func eventsToDecide(db *bbolt.DB, after uint64, max int) ([]decidable, error) {
	var out []decidable
	if after == math.MaxUint64 {
		return out, nil
	}
	err := db.View(func(tx *bbolt.Tx) error {
		aside := tx.Bucket(bucketAside)
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			out = append(out, decidable{storedEvent: storedEvent{Seq: binary.BigEndian.Uint64(k), Raw: bytes.Clone(v)},
				aside: aside.Get(k) != nil})
		}
		return nil
	})
	return out, err
}

// asideCount is how many stored events the decider has set aside.
func asideCount(db *bbolt.DB) (n int, err error) {
	err = db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketAside).Stats().KeyN
		return nil
	})
	return n, err
}

// crossingsAfter returns up to max stored crossings with crossing seq > after.
func crossingsAfter(db *bbolt.DB, after uint64, max int) ([]zone.Crossing, error) {
	out := []zone.Crossing{}
	if after == math.MaxUint64 {
		return out, nil // nothing lies after the top; after+1 would wrap to the start
	}
	err := db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketCrossings).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var x zone.Crossing
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			out = append(out, x)
		}
		return nil
	})
	return out, err
}

// readMeta returns the decider's cursors.
func readMeta(db *bbolt.DB) (processed, lowWater uint64, clockHW time.Time, err error) {
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		processed, lowWater = getU64(b, metaProcessed), getU64(b, metaLowWater)
		if n := getU64(b, metaClockHW); n > 0 {
			clockHW = time.Unix(0, int64(n)).UTC()
		}
		return nil
	})
	return
}

// progress returns the seq of the last event logged and of the last one
// the decider has taken into a committed step.
func progress(db *bbolt.DB) (lastEvent, lastDecided uint64, err error) {
	err = db.View(func(tx *bbolt.Tx) error {
		lastEvent = tx.Bucket(bucketEvents).Sequence()
		lastDecided = getU64(tx.Bucket(bucketMeta), metaProcessed)
		return nil
	})
	return
}

// readSensors returns the sensor states persisted by the decider.
func readSensors(db *bbolt.DB) (map[string]SensorState, error) {
	out := map[string]SensorState{}
	err := db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSensors).ForEach(func(k, v []byte) error {
			var s SensorState
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out[string(k)] = s
			return nil
		})
	})
	return out, err
}

// storedCrossing looks a decided crossing up by its ID. A crossing stored
// before the emitted index held seqs is reported with its ID alone.
func storedCrossing(db *bbolt.DB, id string) (zone.Crossing, bool, error) {
	var x zone.Crossing
	found := false
	err := db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketEmitted).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		if len(v) != 8 {
			x.ID = id
			return nil
		}
		raw := tx.Bucket(bucketCrossings).Get(v)
		if raw == nil {
			return fmt.Errorf("crossing %s: record %d missing", id, binary.BigEndian.Uint64(v))
		}
		return json.Unmarshal(raw, &x)
	})
	return x, found, err
}
