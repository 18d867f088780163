package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/zone"
)

var (
	customs = zone.Principal{Role: zone.RoleCustoms, Officer: "HK-0031"}
	hna     = zone.Principal{Role: zone.RoleMRO, Firm: "HNA-TECHNIC"}
)

// clock is a fake clock that moves one second per reading, so every record
// gets a distinct, increasing time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// ids makes ULIDs from the fake clock, increasing with each call.
type ids struct {
	mu  sync.Mutex
	t   time.Time
	ent *ulid.MonotonicEntropy
}

func newIDs() *ids {
	return &ids{t: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), ent: ulid.Monotonic(ulid.DefaultEntropy(), 0)}
}

func (g *ids) New() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.t = g.t.Add(time.Millisecond)
	return ulid.MustNew(ulid.Timestamp(g.t), g.ent).String()
}

// engine returns a valid engine pre-declaration for firm through gate.
func engine(firm, gate string, n int) zone.PreDeclaration {
	return zone.PreDeclaration{
		Firm:          firm,
		Object:        zone.Object{Kind: zone.KindEngine, ESN: fmt.Sprintf("956-%03d", n), Model: "GEnx-1B", Owner: "Qatar Airways"},
		Direction:     zone.In,
		Gate:          gate,
		Window:        zone.Window{From: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)},
		Regime:        zone.RegimeBondedMaintenance,
		DeclaredValue: zone.Money{Amount: "182000000.00", Currency: "CNY"},
		HSCode:        "84111200",
		Conveyance:    zone.Conveyance{StandTag: fmt.Sprintf("STAND-%04d", n)},
	}
}

// fixture is a store on a real bbolt file with a service on top.
type fixture struct {
	path   string
	db     *bolt.DB
	store  *bolt.DeclarationStore
	audit  *bolt.AuditTrail
	outbox *bolt.Outbox
	svc    *zone.DeclarationService
	clock  *clock
	ids    *ids
}

func newFixture(t *testing.T, opts bolt.Options) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zone.db")
	f := &fixture{path: path, clock: newClock(), ids: newIDs()}
	f.open(t, opts)
	return f
}

func (f *fixture) open(t *testing.T, opts bolt.Options) {
	t.Helper()
	f.db = bolttest.MustOpen(t, f.path, opts)
	f.store = bolt.NewDeclarationStore(f.db)
	f.audit = bolt.NewAuditTrail(f.db)
	f.outbox = f.db.Outbox()
	f.svc = &zone.DeclarationService{Store: f.store, Now: f.clock.Now, NewID: f.ids.New, Source: "/bondgate/test"}
}

// create stores d directly through the store, as the service would.
func (f *fixture) create(t *testing.T, d zone.PreDeclaration) *zone.PreDeclaration {
	t.Helper()
	now := f.clock.Now()
	d.ID = f.ids.New()
	d.Status = zone.StatusSubmitted
	d.CreatedAt, d.UpdatedAt = now, now
	d.Version = 1
	d.History = []zone.Transition{{To: zone.StatusSubmitted, Action: "submit", Actor: "mro:" + d.Firm, At: now}}
	got, replayed, err := f.store.CreateDeclaration(context.Background(), &d, nil, zone.Change{Actor: "mro:" + d.Firm, Action: "submit",
		Messages: []zone.OutboxMessage{{Topic: zone.TopicDeclarations, Key: d.ID, Value: []byte(`{"id":"` + d.ID + `"}`), Created: now}}})
	require.NoError(t, err)
	require.False(t, replayed)
	return got
}

// apply runs one state change through UpdateDeclaration.
func (f *fixture) apply(t *testing.T, id string, a zone.Action) *zone.PreDeclaration {
	t.Helper()
	d, err := f.store.UpdateDeclaration(context.Background(), id, func(d *zone.PreDeclaration) (zone.Change, error) {
		if err := d.Apply(a, customs.Actor(), f.clock.Now(), "test "+string(a)); err != nil {
			return zone.Change{}, err
		}
		return zone.Change{Actor: customs.Actor(), Action: string(a), Reason: "test " + string(a),
			Messages: []zone.OutboxMessage{{Topic: zone.TopicDeclarations, Key: d.ID, Value: []byte(`{}`)}}}, nil
	})
	require.NoError(t, err)
	return d
}

func (f *fixture) counts(t *testing.T) (audit, depth int) {
	t.Helper()
	v, err := f.audit.VerifyAudit(context.Background())
	require.NoError(t, err)
	require.True(t, v.Verified, "audit chain broken: %+v", v)
	depth, err = f.outbox.Depth(context.Background())
	require.NoError(t, err)
	return v.Entries, depth
}

func requireCode(t *testing.T, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, zone.ErrorCode(err), "error: %v", err)
}
