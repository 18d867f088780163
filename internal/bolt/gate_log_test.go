package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/gateway/record"
)

// openGate opens (creating) the gate store at path.
func openGate(t *testing.T, path string) (*DB, *GateStore) {
	t.Helper()
	db, err := Open(path, Options{})
	require.NoError(t, err)
	g, err := NewGateStore(db)
	require.NoError(t, err)
	return db, g
}

// crash stops the store as a killed process would: nothing pending is
// folded, no file is synced beyond what acks already synced.
func crash(t *testing.T, db *DB, g *GateStore) {
	t.Helper()
	g.log.appendMu.Lock()
	g.log.wg.Wait()
	require.NoError(t, g.log.f.Close())
	g.log.f = nil
	g.log.appendMu.Unlock()
	db.beforeClose = nil
	require.NoError(t, db.bdb.Close())
}

func newEvents(prefix string, from, n int) []record.NewEvent {
	evs := make([]record.NewEvent, n)
	for i := range evs {
		id := fmt.Sprintf("%s-%06d", prefix, from+i)
		evs[i] = record.NewEvent{Key: []byte("CAM-1\x00" + id), Raw: []byte(`{"event_id":"` + id + `","device_id":"CAM-1"}`)}
	}
	return evs
}

func appendAll(t *testing.T, g *GateStore, evs []record.NewEvent, per int) []record.Appended {
	t.Helper()
	var out []record.Appended
	for i := 0; i < len(evs); i += per {
		got, err := g.AppendEvents(evs[i:min(i+per, len(evs))])
		require.NoError(t, err)
		out = append(out, got...)
	}
	return out
}

// checkLog asserts that the store holds exactly evs, at seqs 1..len(evs)
// in order, read back in pages of page.
func checkLog(t *testing.T, g *GateStore, evs []record.NewEvent, page int) {
	t.Helper()
	var got []record.Event
	for after := uint64(0); ; {
		batch, err := g.EventsAfter(after, page)
		require.NoError(t, err)
		if len(batch) == 0 {
			break
		}
		got = append(got, batch...)
		after = batch[len(batch)-1].Seq
	}
	require.Len(t, got, len(evs))
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq)
		require.Equal(t, string(evs[i].Raw), string(e.Raw), "seq %d", e.Seq)
	}
	last, _, err := g.Progress()
	require.NoError(t, err)
	assert.Equal(t, uint64(len(evs)), last)
}

// TestAckedEventsSurviveACrash: every event AppendEvents returned for is
// there after a crash, whether bbolt had it yet or only the log did, and a
// re-send after the restart is still a duplicate of the first.
func TestAckedEventsSurviveACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	evs := newEvents("e", 0, 3*foldAt+123) // some folded, some only logged
	appendAll(t, g, evs, 50)
	// The last background fold may have taken everything: with folds held
	// off, a tail is only in the log whatever the timing.
	g.log.wg.Wait()
	g.log.folding.Store(true)
	tail := newEvents("tail", 0, 17)
	appendAll(t, g, tail, 5)
	evs = append(evs, tail...)
	g.log.mu.RLock()
	pending := len(g.log.pending)
	g.log.mu.RUnlock()
	require.NotZero(t, pending, "the test needs events only the log holds at the crash")
	crash(t, db, g)

	db, g = openGate(t, path)
	defer db.Close()
	checkLog(t, g, evs, 1000)
	again, err := g.AppendEvents(evs[len(evs)-3:])
	require.NoError(t, err)
	for i, a := range again {
		assert.True(t, a.Duplicate)
		assert.Equal(t, uint64(len(evs)-3+i+1), a.Seq)
	}
	more := newEvents("f", 0, 10)
	got, err := g.AppendEvents(more)
	require.NoError(t, err)
	assert.Equal(t, uint64(len(evs)+1), got[0].Seq, "seqs go on after the replayed ones")
}

// TestTornTailIsNotReplayed: of a group whose write never finished (it was
// never acked), the record cut short is left out; everything before it is
// kept. (Its whole records may stay: events nobody was told of, which a
// sender's retry then finds as duplicates.)
func TestTornTailIsNotReplayed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	evs := newEvents("e", 0, 40)
	appendAll(t, g, evs, 10)
	off := g.log.off
	crash(t, db, g)

	// Two records and half of a third of one more group reached the disk.
	var buf []byte
	torn := newEvents("torn", 0, 3)
	for i, e := range torn {
		buf, _, _ = appendRecord(buf, uint64(41+i), e.Key, e.Raw)
	}
	f, err := os.OpenFile(path+".log", os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(buf[:len(buf)-recordSize(torn[2].Key, torn[2].Raw)/2], off)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	db, g = openGate(t, path)
	defer db.Close()
	checkLog(t, g, append(evs, torn[:2]...), 7)
}

// TestLogWrapsAndStillReplays: past wrapAt the log folds everything and
// writes from its start again; records left from before the wrap are not
// taken for new ones after a crash.
func TestLogWrapsAndStillReplays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	g.log.wrapAt = 64 << 10
	evs := newEvents("e", 0, 5000) // ~80 bytes a record: several wraps
	appendAll(t, g, evs, 37)
	st, err := os.Stat(path + ".log")
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Size(), int64(logHeaderSize+logGrowBy), "the log wrapped instead of growing")
	crash(t, db, g)

	db, g = openGate(t, path)
	defer db.Close()
	checkLog(t, g, evs, 333)
}

// TestEventsReadAcrossTheFold: pages read while events move from the log
// into bbolt see each event once, in order, wherever it is.
func TestEventsReadAcrossTheFold(t *testing.T) {
	db, g := openGate(t, filepath.Join(t.TempDir(), "gate.db"))
	defer db.Close()
	evs := newEvents("e", 0, 2*foldAt+500)
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendAll(t, g, evs, 20)
	}()
	// Read while appends and folds go on; each page must continue the last.
	var after uint64
	for read := 0; read < len(evs); {
		batch, err := g.EventsAfter(after, 97)
		require.NoError(t, err)
		for _, e := range batch {
			require.Equal(t, after+1, e.Seq)
			require.Equal(t, string(evs[e.Seq-1].Raw), string(e.Raw))
			after = e.Seq
			read++
		}
	}
	<-done
	checkLog(t, g, evs, 1000)
}

// TestDuplicatesWhereverTheFirstIs: a re-sent event is a duplicate of its
// first copy whether that copy is in the same group, only in the log, or
// folded into bbolt.
func TestDuplicatesWhereverTheFirstIs(t *testing.T) {
	db, g := openGate(t, filepath.Join(t.TempDir(), "gate.db"))
	defer db.Close()
	evs := newEvents("e", 0, 3)
	got, err := g.AppendEvents([]record.NewEvent{evs[0], evs[1], evs[0]})
	require.NoError(t, err)
	assert.Equal(t, []record.Appended{{Seq: 1}, {Seq: 2}, {Seq: 1, Duplicate: true}}, got)

	got, err = g.AppendEvents([]record.NewEvent{evs[1], evs[2]}) // evs[1] only in the log
	require.NoError(t, err)
	assert.Equal(t, []record.Appended{{Seq: 2, Duplicate: true}, {Seq: 3}}, got)

	require.NoError(t, g.log.fold())
	got, err = g.AppendEvents([]record.NewEvent{evs[2], evs[0]}) // both in bbolt now
	require.NoError(t, err)
	assert.Equal(t, []record.Appended{{Seq: 3, Duplicate: true}, {Seq: 1, Duplicate: true}}, got)
}

// TestBackupHoldsEventsOnlyLogged: a backup taken while events are only in
// the log has them.
func TestBackupHoldsEventsOnlyLogged(t *testing.T) {
	dir := t.TempDir()
	db, g := openGate(t, filepath.Join(dir, "gate.db"))
	defer db.Close()
	evs := newEvents("e", 0, 25)
	appendAll(t, g, evs, 5)
	var buf bytes.Buffer
	_, err := db.WriteBackup(t.Context(), &buf, nil)
	require.NoError(t, err)
	copyPath := filepath.Join(dir, "copy.db")
	require.NoError(t, os.WriteFile(copyPath, buf.Bytes(), 0o600))

	cdb, cg := openGate(t, copyPath)
	defer cdb.Close()
	checkLog(t, cg, evs, 10)
}

// TestAnotherStoresLogIsSetAside: a log whose events do not continue this
// file (the file was restored from a backup, or recovered empty) is moved
// aside, not replayed on top of it.
func TestAnotherStoresLogIsSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gate.db")
	db, g := openGate(t, path)
	appendAll(t, g, newEvents("e", 0, 30), 10)
	crash(t, db, g)
	// The file is replaced by an empty one (a new inode, a new store ID).
	require.NoError(t, os.Remove(path))

	db, g = openGate(t, path)
	defer db.Close()
	checkLog(t, g, nil, 10)
	aside, err := filepath.Glob(path + ".log.aside-*")
	require.NoError(t, err)
	assert.Len(t, aside, 1, "the old log is kept aside")
	got, err := g.AppendEvents(newEvents("e", 0, 1))
	require.NoError(t, err)
	assert.Equal(t, []record.Appended{{Seq: 1}}, got, "the old log's events are not seen either")
}

// TestOfflineBackupRefusesAFileMissingLoggedEvents: a copy of a killed
// gate's file alone would lack the events only its log holds, so the
// offline backup says so and copies nothing; after the gate has started
// once (and folded them) it copies them all.
func TestOfflineBackupRefusesAFileMissingLoggedEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	evs := newEvents("e", 0, 30)
	appendAll(t, g, evs, 10)
	crash(t, db, g)

	var buf bytes.Buffer
	_, err := BackupFile(path, &buf, time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "30 acked events")
	assert.Contains(t, err.Error(), "start the gate once")
	assert.Zero(t, buf.Len())

	db, _ = openGate(t, path)
	require.NoError(t, db.Close())
	_, err = BackupFile(path, &buf, time.Second)
	require.NoError(t, err)
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(copyPath, buf.Bytes(), 0o600))
	cdb, cg := openGate(t, copyPath)
	defer cdb.Close()
	checkLog(t, cg, evs, 10)
}

// TestOfflineBackupRefusesAnUnreadableLog: when the log beside a gate's
// file cannot be read, nobody can say the file holds every acked event,
// so the offline backup refuses rather than copy what may be short.
func TestOfflineBackupRefusesAnUnreadableLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	appendAll(t, g, newEvents("e", 0, 10), 10)
	require.NoError(t, db.Close())
	require.NoError(t, os.Remove(path+".log"))
	require.NoError(t, os.Mkdir(path+".log", 0o700)) // there, but not a file to read

	var buf bytes.Buffer
	_, err := BackupFile(path, &buf, time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "event log cannot be read")
	assert.Zero(t, buf.Len())
}

// TestCleanCloseCutsTheLog: after a clean close bbolt holds every event,
// so the log is cut back to its header and the next start reads nothing
// but that; the events are all there.
func TestCleanCloseCutsTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.db")
	db, g := openGate(t, path)
	evs := newEvents("e", 0, 3000)
	appendAll(t, g, evs, 100)
	require.NoError(t, db.Close())
	st, err := os.Stat(path + ".log")
	require.NoError(t, err)
	assert.Equal(t, int64(logHeaderSize), st.Size())

	db, g = openGate(t, path)
	defer db.Close()
	checkLog(t, g, evs, 1000)
	more := newEvents("f", 0, 5)
	got, err := g.AppendEvents(more)
	require.NoError(t, err)
	assert.Equal(t, uint64(3001), got[0].Seq)
}
