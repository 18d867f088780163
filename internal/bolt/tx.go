package bolt

import bbolt "go.etcd.io/bbolt"

// update runs fn in a write transaction and maps its error once: a full
// file is EUNAVAILABLE, domain and context errors pass, the rest is
// EINTERNAL with its cause kept.
func (db *DB) update(fn func(*bbolt.Tx) error) error {
	return storageErr(db.DB.Update(fn))
}

// view runs fn in a read transaction, its error mapped as update's.
func (db *DB) view(fn func(*bbolt.Tx) error) error {
	return storageErr(db.DB.View(fn))
}
