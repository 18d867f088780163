package http

import (
	"context"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// A time in the query that cannot be read is named with a message meant for
// the caller, the same on every route, never with the error code glued on.
func TestBadQueryTimeAnswersTheSameMessage(t *testing.T) {
	a := newAPI(t)
	withRecords(a)
	for _, q := range []struct{ path, field string }{
		{"/v1/temporary-entries?due_before=soon", "due_before"},
		{"/v1/parts/ledger?from=soon", "from"},
	} {
		r := a.get(q.path, tokOfficer)
		require.Equal(t, nethttp.StatusBadRequest, r.Status, "%s: %s", q.path, r.Body)
		p := r.problem(t)
		require.Equal(t, []string{q.field}, p.fields(), q.path)
		msg := p.Errors[0].Message
		assert.False(t, strings.HasPrefix(msg, "invalid"), "%s: message %q", q.path, msg)
		assert.Equal(t, timeParamMessage, msg, q.path)
	}
}

// A re-export reminder changes nothing on the entry: the live stream does
// not announce it as a temporary_entry change with an empty record.
func TestStreamLeavesRemindersOut(t *testing.T) {
	a := newAPI(t)
	withRecords(a)
	e := a.createEntry(tokHNA, temporaryEntryJSON) // deadline 2027-05-20
	c := a.openStream("")
	c.ready()

	sched := &zone.ReminderService{Store: bolt.NewTemporaryEntryStore(a.db), Source: "bondgate/api-test", NewID: func() string { return ulid.Make().String() }}
	res, err := sched.Tick(context.Background(), e.ReexportDeadline.Add(-10*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, res.Reminders, "the 30-day reminder is due")

	// A change after the reminder, to know the stream has gone past it.
	d := a.submit(tokHNA)
	for {
		ev := c.next()
		if ev.Event == StreamDeclaration {
			assert.Equal(t, d.ID, ev.change(t).ID)
			return
		}
		ch := ev.change(t)
		t.Errorf("event %s before the declaration: action %s, record %s", ev.Event, ch.Action, ch.Record)
	}
}
