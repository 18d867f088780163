package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// auditEntity is the audit trail's name for a pre-declaration.
const auditEntity = "predeclaration"

// DeclarationStore keeps pre-declarations in bbolt: the records keyed by ID
// (ULIDs, so key order is creation order), one index per list filter
// (value 0x00 id), per-value counts to pick the most selective index, and the
// idempotency keys. Every write also lands its audit entry and outbox
// messages in the same transaction.
type DeclarationStore struct {
	db *DB
}

var _ zone.DeclarationStore = (*DeclarationStore)(nil)

// NewDeclarationStore returns the declaration store of db.
func NewDeclarationStore(db *DB) *DeclarationStore { return &DeclarationStore{db: db} }

// idemRecord is what an Idempotency-Key remembers.
type idemRecord struct {
	BodyHash      string    `json:"body_hash"`
	DeclarationID string    `json:"declaration_id"`
	Created       time.Time `json:"created"`
}

// errReplay rolls back a create whose key was already used with this body.
var errReplay = errors.New("idempotent replay")

var declarationKind = &recordKind[zone.PreDeclaration]{
	bucket:  bucketDeclarations,
	entity:  auditEntity,
	keys:    declarationKeys,
	missing: "no pre-declaration %s",
	exists:  "pre-declaration %s already exists",
	noID:    "declaration without an ID",
	changed: "update changed the declaration's ID",
	same:    func(old, d *zone.PreDeclaration) bool { return d.ID == old.ID },
	meta:    func(d *zone.PreDeclaration) (string, time.Time, time.Time) { return d.ID, d.CreatedAt, d.UpdatedAt },
	get:     getDeclaration,
	put: func(tx *bbolt.Tx, db *DB, old, d *zone.PreDeclaration) ([]byte, error) {
		if old != nil && old.ReleaseNote == nil && d.ReleaseNote != nil {
			if err := takeReleaseNote(tx, db, d.ID, d.ReleaseNote); err != nil {
				return nil, pass(err)
			}
		}
		return putDeclaration(tx, old, d)
	},
	record: recordDeclaration,
}

// declarationKeys keeps a declaration's create keys as idemRecord entries,
// the format they had before the other records had keys.
var declarationKeys = idemKeys{
	find: func(tx *bbolt.Tx, i *zone.Idempotency) (string, bool, error) {
		v := tx.Bucket(bucketIdempotency).Get(idemKey(i))
		if v == nil {
			return "", false, nil
		}
		var rec idemRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return "", false, zone.Internal(err)
		}
		if rec.BodyHash != i.BodyHash {
			return "", false, zone.Errorf(zone.EUNPROCESSABLE, "Idempotency-Key %q was already used with a different body", i.Key)
		}
		return rec.DeclarationID, true, nil
	},
	keep: func(tx *bbolt.Tx, i *zone.Idempotency, id string, created time.Time) error {
		raw, err := json.Marshal(idemRecord{BodyHash: i.BodyHash, DeclarationID: id, Created: created.UTC()})
		if err != nil {
			return zone.Internal(err)
		}
		if err := tx.Bucket(bucketIdempotency).Put(idemKey(i), raw); err != nil {
			return zone.Internal(err)
		}
		return nil
	},
}

// CreateDeclaration stores d with its indexes, audit entry and ch's outbox
// messages in one transaction. With idem set and the key already used, the
// same body returns the stored declaration and replayed=true without writing
// anything; another body is EUNPROCESSABLE.
func (s *DeclarationStore) CreateDeclaration(ctx context.Context, d *zone.PreDeclaration, idem *zone.Idempotency, ch zone.Change) (*zone.PreDeclaration, bool, error) {
	return createRecord(ctx, s.db, declarationKind, d, idem, fixed(ch))
}

// UpdateDeclaration loads id, lets fn change it and writes the result with
// fn's Change in one transaction. An error from fn is returned as it is and
// nothing is written.
func (s *DeclarationStore) UpdateDeclaration(ctx context.Context, id string, fn func(d *zone.PreDeclaration) (zone.Change, error)) (*zone.PreDeclaration, error) {
	return updateIn(ctx, s.db, declarationKind, id, func(d *zone.PreDeclaration) (zone.Change, error) {
		ch, err := fn(d)
		return ch, pass(err)
	})
}

// Declaration returns one declaration or ENOTFOUND.
func (s *DeclarationStore) Declaration(ctx context.Context, id string) (*zone.PreDeclaration, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var d *zone.PreDeclaration
	err := s.db.view(func(tx *bbolt.Tx) error {
		var err error
		d, err = getDeclaration(tx, id)
		return err
	})
	return d, err
}

// Declarations lists by filter, newest first. It walks the index of the
// filter value with the fewest records (or all records when there is no
// filter) backwards, checks the other filters on each record, and returns a
// cursor naming the last ID returned when more match.
func (s *DeclarationStore) Declarations(ctx context.Context, f zone.DeclarationFilter) (zone.DeclarationPage, error) {
	if err := ctx.Err(); err != nil {
		return zone.DeclarationPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var after []byte
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(raw) == 0 {
			return zone.DeclarationPage{}, zone.Invalid(zone.FieldError{Field: "cursor", Message: "not a cursor this service issued"})
		}
		after = raw
	}
	var page zone.DeclarationPage
	err := s.db.view(func(tx *bbolt.Tx) error {
		c, prefix := s.plan(tx, f)
		// Start just below the cursor's ID, or at the end of the prefix.
		var hi []byte
		if after != nil {
			hi = append(bytes.Clone(prefix), after...)
		} else {
			hi = prefixEnd(prefix)
		}
		k, v := seekBelow(c, hi)
		decls := tx.Bucket(bucketDeclarations)
		others := filterIndexes(tx, f)
		var lastRawID []byte
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			id := k[len(prefix):]
			// The other filters are checked on their indexes first: a
			// lookup there is far cheaper than decoding the record.
			if !inIndexes(others, id) {
				continue
			}
			if len(prefix) > 0 {
				v = decls.Get(id)
				if v == nil {
					continue // an index entry without its record: skip, never fail a list
				}
			}
			if f.RawJSON {
				if len(page.Raw) == f.Limit {
					page.NextCursor = base64.RawURLEncoding.EncodeToString(lastRawID)
					return nil
				}
				page.Raw = append(page.Raw, bytes.Clone(v))
				lastRawID = bytes.Clone(id)
				continue
			}
			var d zone.PreDeclaration
			if err := json.Unmarshal(v, &d); err != nil {
				return zone.Internal(err)
			}
			if !matches(&d, f) {
				continue
			}
			if len(page.Items) == f.Limit {
				// One more matches: there is a next page.
				last := page.Items[len(page.Items)-1].ID
				page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(last))
				return nil
			}
			page.Items = append(page.Items, &d)
		}
		return nil
	})
	if err != nil {
		return zone.DeclarationPage{}, err
	}
	return page, nil
}

// plan picks what to walk: the index (and its value prefix) with the fewest
// entries among the filters given, else the records themselves.
func (s *DeclarationStore) plan(tx *bbolt.Tx, f zone.DeclarationFilter) (*bbolt.Cursor, []byte) {
	counts := tx.Bucket(bucketIdxCounts)
	var (
		best      []byte
		bestCount uint64
		bestValue string
	)
	for _, ix := range []struct {
		bucket []byte
		value  string
	}{{bucketIdxFirm, f.Firm}, {bucketIdxStatus, string(f.Status)}, {bucketIdxGate, f.Gate}} {
		if ix.value == "" {
			continue
		}
		n := getU64(counts, countKey(ix.bucket, ix.value))
		if best == nil || n < bestCount {
			best, bestCount, bestValue = ix.bucket, n, ix.value
		}
	}
	if best == nil {
		return tx.Bucket(bucketDeclarations).Cursor(), nil
	}
	return tx.Bucket(best).Cursor(), append([]byte(bestValue), 0)
}

// indexProbe is one filter checked by membership in its index.
type indexProbe struct {
	b     *bbolt.Bucket
	value string
}

// filterIndexes returns a probe for each filter given.
func filterIndexes(tx *bbolt.Tx, f zone.DeclarationFilter) []indexProbe {
	var out []indexProbe
	for _, ix := range []struct {
		bucket []byte
		value  string
	}{{bucketIdxFirm, f.Firm}, {bucketIdxStatus, string(f.Status)}, {bucketIdxGate, f.Gate}} {
		if ix.value != "" {
			out = append(out, indexProbe{b: tx.Bucket(ix.bucket), value: ix.value})
		}
	}
	return out
}

// inIndexes reports whether id is in every probed index under its value.
func inIndexes(probes []indexProbe, id []byte) bool {
	for _, p := range probes {
		if p.b.Get(indexKey(p.value, string(id))) == nil {
			return false
		}
	}
	return true
}

func matches(d *zone.PreDeclaration, f zone.DeclarationFilter) bool {
	return (f.Firm == "" || d.Firm == f.Firm) &&
		(f.Status == "" || d.Status == f.Status) &&
		(f.Gate == "" || d.Gate == f.Gate)
}

// seekBelow positions c on the greatest key strictly below hi (or the last
// key when hi is nil).
func seekBelow(c *bbolt.Cursor, hi []byte) ([]byte, []byte) {
	if hi == nil {
		return c.Last()
	}
	k, v := c.Seek(hi)
	if k == nil {
		k, v = c.Last()
	}
	for k != nil && bytes.Compare(k, hi) >= 0 {
		k, v = c.Prev()
	}
	return k, v
}

// prefixEnd is the smallest key greater than every key with prefix (nil for
// no bound). Index prefixes end in 0x00, so incrementing that byte is enough.
func prefixEnd(prefix []byte) []byte {
	if len(prefix) == 0 {
		return nil
	}
	end := bytes.Clone(prefix)
	end[len(end)-1]++
	return end
}

// put writes d and moves its index entries from old's values (nil on
// create). It returns d's JSON.
func (s *DeclarationStore) put(tx *bbolt.Tx, old, d *zone.PreDeclaration) ([]byte, error) {
	return putDeclaration(tx, old, d)
}

func putDeclaration(tx *bbolt.Tx, old, d *zone.PreDeclaration) ([]byte, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, zone.Internal(err)
	}
	if err := checkRoom(tx, 3*len(raw)+256); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketDeclarations).Put([]byte(d.ID), raw); err != nil {
		return nil, zone.Internal(err)
	}
	var oldFirm, oldStatus, oldGate string
	if old != nil {
		oldFirm, oldStatus, oldGate = old.Firm, string(old.Status), old.Gate
	}
	for _, ix := range []struct {
		bucket   []byte
		old, new string
	}{{bucketIdxFirm, oldFirm, d.Firm}, {bucketIdxStatus, oldStatus, string(d.Status)}, {bucketIdxGate, oldGate, d.Gate}} {
		if err := moveIndex(tx, ix.bucket, d.ID, ix.old, ix.new); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// moveIndex replaces id's entry under oldValue by one under newValue and
// keeps the per-value counts in step.
func moveIndex(tx *bbolt.Tx, bucket []byte, id, oldValue, newValue string) error {
	if oldValue == newValue {
		return nil
	}
	b, counts := tx.Bucket(bucket), tx.Bucket(bucketIdxCounts)
	if oldValue != "" {
		if err := b.Delete(indexKey(oldValue, id)); err != nil {
			return zone.Internal(err)
		}
		if err := addCounter(counts, countKey(bucket, oldValue), -1); err != nil {
			return err
		}
	}
	if newValue != "" {
		if err := b.Put(indexKey(newValue, id), nil); err != nil {
			return zone.Internal(err)
		}
		if err := addCounter(counts, countKey(bucket, newValue), 1); err != nil {
			return err
		}
	}
	return nil
}

// record appends the audit entry and the outbox messages of one change.
func (s *DeclarationStore) record(tx *bbolt.Tx, d *zone.PreDeclaration, ch zone.Change, before, after []byte) error {
	return recordDeclaration(tx, s.db, d, ch, before, after)
}

func recordDeclaration(tx *bbolt.Tx, db *DB, d *zone.PreDeclaration, ch zone.Change, before, after []byte) error {
	if err := recordChange(tx, auditEntity, d.ID, d.UpdatedAt, ch, before, after); err != nil {
		return err
	}
	return followCrossing(tx, db, d)
}

func getDeclaration(tx *bbolt.Tx, id string) (*zone.PreDeclaration, error) {
	return getRecord[zone.PreDeclaration](tx, bucketDeclarations, "no pre-declaration %s", id)
}
