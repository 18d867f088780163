package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// The tokens of CONTRACT.md.
const (
	tokHNA     = "mro-hna"
	tokGAMECO  = "mro-gameco"
	tokOfficer = "officer-1"
	tokGate    = "gate-mro-1"
	tokAuditor = "auditor-1"
)

// contractEngineJSON is the engine example of CONTRACT.md, verbatim.
const contractEngineJSON = `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B","owner":"Qatar Airways"},
 "direction":"in","gate":"G-MRO-1",
 "window":{"from":"2026-11-26T10:00:00Z","to":"2026-11-26T16:00:00Z"},
 "regime":"bonded_maintenance","declared_value":{"amount":"182000000.00","currency":"CNY"},
 "hs_code":"84111200","conveyance":{"stand_tag":"STAND-0042","vehicle_plate":"琼A·D1234"}}`

// engineJSON is the contract's example with a window containing now, as
// the contract asks (a window already over is refused).
var engineJSON = windowAroundNow(contractEngineJSON)

// windowAroundNow replaces the contract's example window in body with one
// from an hour ago to five hours ahead.
func windowAroundNow(body string) string {
	now := time.Now().UTC().Truncate(time.Second)
	return strings.NewReplacer(
		`"2026-11-26T10:00:00Z"`, `"`+now.Add(-time.Hour).Format(time.RFC3339)+`"`,
		`"2026-11-26T16:00:00Z"`, `"`+now.Add(5*time.Hour).Format(time.RFC3339)+`"`,
	).Replace(body)
}

func contractTokens(t *testing.T) *zone.Tokens {
	t.Helper()
	toks, err := zone.NewTokens([]zone.TokenRecord{
		{Token: tokHNA, Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
		{Token: tokGAMECO, Role: zone.RoleMRO, Firm: "GAMECO"},
		{Token: tokOfficer, Role: zone.RoleCustoms, Officer: "HK-0031"},
		{Token: tokGate, Role: zone.RoleGate, Gate: "G-MRO-1"},
		{Token: tokAuditor, Role: zone.RoleAuditor},
	})
	require.NoError(t, err)
	return toks
}

// api is a zone API on a real bbolt file behind a real HTTP listener.
type api struct {
	t        *testing.T
	url      string
	srv      *Server
	db       *bolt.DB
	store    *bolt.DeclarationStore
	registry *prometheus.Registry
	logs     *proctest.Buffer
}

func newAPI(t *testing.T, tweak ...func(*Config)) *api {
	t.Helper()
	db := bolttest.MustOpenDB(t)
	store := bolt.NewDeclarationStore(db)
	logs := &proctest.Buffer{}
	cfg := Config{
		Tokens: contractTokens(t),
		Declarations: &zone.DeclarationService{
			Store:  store,
			Now:    time.Now,
			NewID:  func() string { return ulid.Make().String() },
			Source: "bondgate/api-test",
			Gates:  map[string]bool{"G-MRO-1": true, "G-MAIN": true},
		},
		Audit:    bolt.NewAuditTrail(db),
		Registry: prometheus.NewRegistry(),
		Log:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	s := NewServer(cfg)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	// The live feed runs beside the server, as in the API application; it
	// stops (ending open streams) before the test server closes.
	ctx, cancel := context.WithCancel(context.Background())
	streamDone := make(chan error, 1)
	go func() { streamDone <- s.Stream().Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-streamDone)
	})
	return &api{t: t, url: hs.URL, srv: s, db: db, store: store, registry: cfg.Registry, logs: logs}
}

// reply is an HTTP answer, read whole.
type reply struct {
	Status int
	Header nethttp.Header
	Body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// problem is a decoded problem body with the test helpers below.
type problem web.Problem

// problem decodes an RFC 9457 body, checking its media type.
func (r reply) problem(t *testing.T) problem {
	t.Helper()
	require.Equal(t, web.ProblemContentType, r.Header.Get("Content-Type"), "body: %s", r.Body)
	var p problem
	require.NoError(t, json.Unmarshal(r.Body, &p), "body: %s", r.Body)
	require.Equal(t, r.Status, p.Status)
	require.True(t, strings.HasPrefix(p.Type, "https://bondgate.dev/problems/"), p.Type)
	return p
}

func (p problem) fields() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// req is one request; a body without a content type is sent as JSON.
type req struct {
	method, path, token, body string
	header                    map[string]string
	chunked                   bool // hide the length, as a streaming client would
}

func (a *api) do(r req) reply {
	a.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hr, err := nethttp.NewRequestWithContext(ctx, r.method, a.url+r.path, body)
	require.NoError(a.t, err)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := nethttp.DefaultClient.Do(hr)
	require.NoError(a.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(a.t, err)
	return reply{Status: res.StatusCode, Header: res.Header, Body: raw}
}

func (a *api) get(path, token string) reply {
	a.t.Helper()
	return a.do(req{method: "GET", path: path, token: token})
}

func (a *api) post(path, token, body string) reply {
	a.t.Helper()
	return a.do(req{method: "POST", path: path, token: token, body: body})
}

// submitted counts a.submit's declarations, to give each its own identity.
var submitted atomic.Int64

// submit creates the contract's engine declaration for the firm of token,
// with a stand tag and plate of its own: two cleared declarations whose
// identities read the same at one gate are refused.
func (a *api) submit(token string) *zone.PreDeclaration {
	a.t.Helper()
	n := strconv.FormatInt(submitted.Add(1), 10)
	body := strings.NewReplacer(`"STAND-0042"`, `"STAND-T`+n+`"`, `"琼A·D1234"`, `"琼A·T`+n+`"`).Replace(engineJSON)
	r := a.post("/v1/predeclarations", token, body)
	require.Equal(a.t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	var d zone.PreDeclaration
	require.NoError(a.t, json.Unmarshal(r.Body, &d))
	return &d
}

// cross moves a cleared declaration on as a gate's crossing would, through
// the store and the domain's state machine.
func (a *api) cross(id string) {
	a.t.Helper()
	_, err := a.store.UpdateDeclaration(context.Background(), id, func(d *zone.PreDeclaration) (zone.Change, error) {
		now := time.Now().UTC()
		if err := d.Apply(zone.ActCross, "gate:"+d.Gate, now, ""); err != nil {
			return zone.Change{}, err
		}
		d.CrossedAt, d.CrossingID = &now, "X-"+id
		return zone.Change{Actor: "gate:" + d.Gate, Action: string(zone.ActCross)}, nil
	})
	require.NoError(a.t, err)
}

// count lists every declaration customs can see.
func (a *api) count() int {
	a.t.Helper()
	r := a.get("/v1/predeclarations?limit=500", tokOfficer)
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(a.t, json.Unmarshal(r.Body, &l))
	require.NotNil(a.t, l.Items, "items must never be null: %s", r.Body)
	return len(l.Items)
}
