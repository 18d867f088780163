package bolt

import (
	"context"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/bondgate/bondgate/internal/zone"
)

// Release-note numbering (zone.ReleaseNoteNumber): a dense sequence per
// year kept in the file, and a series that names this run of the file.
var (
	bucketReleaseNotes   = []byte("release_notes")        // "year/2026" → u64 last seq; "series" → u64
	bucketReleaseNumbers = []byte("release_note_numbers") // number → declaration ID: a number is given once
	keyNoteSeries        = []byte("series")
)

// seriesEpoch is where series values count from (seconds).
var seriesEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// series are settled once per open database (see settleSeries).
var (
	seriesMu sync.Mutex
	seriesOf = map[*DB]string{}
)

// NextReleaseNote tells the next number for a note issued at now: this
// run's series and the last sequence of now's year plus one. It takes nothing; UpdateDeclaration takes
// the number when it stores a declaration that first carries it.
func (s *DeclarationStore) NextReleaseNote(ctx context.Context, now time.Time) (string, uint64, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	series, err := s.settleSeries(now)
	if err != nil {
		return "", 0, err
	}
	var last uint64
	err = s.db.view(func(tx *bbolt.Tx) error {
		last = getU64(tx.Bucket(bucketReleaseNotes), yearKey(zone.ReleaseNoteYear(now)))
		return nil
	})
	return series, last + 1, err
}

// settleSeries draws this run's series the first time a number is asked
// for after the file was opened. A file restored from a backup counts its
// sequence on from the backup's point, so the sequence alone would repeat
// numbers issued after the backup; the series cannot repeat: it is the
// time the run began (seconds since 2024, base 32), raised above the last
// series the file recorded, so two runs of one file, or two restores of
// one backup started apart in time, never share one.
func (s *DeclarationStore) settleSeries(now time.Time) (string, error) {
	seriesMu.Lock()
	defer seriesMu.Unlock()
	if v, ok := seriesOf[s.db]; ok {
		return v, nil
	}
	var series string
	err := s.db.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketReleaseNotes)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketReleaseNumbers); err != nil {
			return err
		}
		n := uint64(max(0, now.Sub(seriesEpoch)/time.Second))
		if last := getU64(b, keyNoteSeries); n <= last {
			n = last + 1
		}
		series = crockford(n, 6)
		return b.Put(keyNoteSeries, u64(n))
	})
	if err != nil {
		return "", err
	}
	seriesOf[s.db] = series
	return series, nil
}

// takeReleaseNote counts note's number for declaration id in tx: it must
// be the next of its year in this run's series and never given before.
func takeReleaseNote(tx *bbolt.Tx, db *DB, id string, note *zone.ReleaseNote) error {
	n, err := zone.ParseReleaseNoteNumber(note.Number)
	if err != nil {
		return err
	}
	seriesMu.Lock()
	series := seriesOf[db]
	seriesMu.Unlock()
	b, err := tx.CreateBucketIfNotExists(bucketReleaseNotes)
	if err != nil {
		return err
	}
	nums, err := tx.CreateBucketIfNotExists(bucketReleaseNumbers)
	if err != nil {
		return err
	}
	if n.Series != series || n.Seq != getU64(b, yearKey(n.Year))+1 || nums.Get([]byte(note.Number)) != nil {
		return zone.Errorf(zone.ECONFLICT, "release-note number %s is not the next one; try again", note.Number)
	}
	if err := nums.Put([]byte(note.Number), []byte(id)); err != nil {
		return err
	}
	return b.Put(yearKey(n.Year), u64(n.Seq))
}

func yearKey(y int) []byte { return []byte("year/" + strconv.Itoa(y)) }

const crockfordDigits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// crockford writes v in Crockford base 32, at least width digits.
func crockford(v uint64, width int) string {
	var out []byte
	for v > 0 || len(out) < width {
		out = append(out, crockfordDigits[v%32])
		v /= 32
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}
