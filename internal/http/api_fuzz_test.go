package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/bolt/bolttest"
	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// The zone API's fuzz targets: request bodies through the real handlers on
// a real bbolt file. `go test` replays the seeds and testdata/fuzz/<Name>/.

// fuzzAPI is one API for a whole fuzz target, with the declaration and
// parts services.
func fuzzAPI(f *testing.F) *Server {
	f.Helper()
	db := bolttest.MustOpenDB(f)
	toks, err := zone.NewTokens([]zone.TokenRecord{
		{Token: tokHNA, Role: zone.RoleMRO, Firm: "HNA-TECHNIC"},
		{Token: tokOfficer, Role: zone.RoleCustoms, Officer: "HK-0031"},
	})
	if err != nil {
		f.Fatal(err)
	}
	newID := func() string { return ulid.Make().String() }
	decls := bolt.NewDeclarationStore(db)
	declSvc := &zone.DeclarationService{Store: decls, Now: time.Now, NewID: newID, Source: "bondgate/fuzz",
		Gates: map[string]bool{"G-MRO-1": true, "G-MAIN": true}}
	return NewServer(Config{
		Tokens:       toks,
		Declarations: declSvc,
		Parts:        &zone.PartsService{Store: bolt.NewPartsStore(db), Now: time.Now, NewID: newID, Source: "bondgate/fuzz"},
		TemporaryEntries: &zone.TemporaryEntryService{Store: bolt.NewTemporaryEntryStore(db), Declarations: decls,
			Now: time.Now, NewID: newID, Source: "bondgate/fuzz"},
		Crossings: &zone.CrossingService{Store: bolt.NewCrossingStore(db), Declarations: declSvc},
		Stats:     &zone.StatsService{Source: bolt.NewStatsSource(db), Now: time.Now},
		Audit:     bolt.NewAuditTrail(db),
		Registry:  prometheus.NewRegistry(),
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func fuzzServe(h nethttp.Handler, method, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkRefusal: a refusal is a 4xx problem+json; a 400 names its fields.
func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	st := rec.Code
	if st >= 500 {
		t.Fatalf("status %d: %s", st, rec.Body.Bytes())
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == st
	}
	if !ok {
		t.Fatalf("status %d not in %v: %s", st, allowed, rec.Body.Bytes())
	}
	if ct := rec.Header().Get("Content-Type"); ct != web.ProblemContentType {
		t.Fatalf("status %d with content type %q", st, ct)
	}
	var p web.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != st {
		t.Fatalf("not a problem body (%v): %s", err, rec.Body.Bytes())
	}
	if st == nethttp.StatusBadRequest && len(p.Errors) == 0 {
		t.Fatalf("400 without a field list: %s", rec.Body.Bytes())
	}
}

// FuzzPreDeclarationBody posts bodies to POST /v1/predeclarations. Never a
// 5xx; a 201 is a submitted declaration of the caller's firm that reads back
// the same; anything else is a problem naming what is wrong.
func FuzzPreDeclarationBody(f *testing.F) {
	f.Add([]byte(engineJSON))
	for _, s := range []string{
		`{"object":{"kind":"aircraft","registration":"B-1234","type":"A330-300"},"direction":"out","gate":"G-MAIN",
		  "window":{"from":"2026-11-26T10:00:00Z","to":"2026-11-26T16:00:00Z"},"regime":"temporary_entry_repair",
		  "declared_value":{"amount":"1.50","currency":"USD"},"hs_code":"88024020","conveyance":{"registration":"B-1234"}}`,
		`{"object":{"kind":"parts","part_number":"1795M36P01","quantity":3},"direction":"in","gate":"G-MRO-1",
		  "window":{"from":"2026-11-26T10:00:00Z","to":"2026-11-26T09:00:00Z"},"regime":"zero_tariff",
		  "declared_value":{"amount":"-1","currency":"cny"},"hs_code":"8411","conveyance":{}}`,
		strings.Replace(engineJSON, `"G-MRO-1"`, `"G-NOPE"`, 1),
		strings.Replace(engineJSON, `"182000000.00"`, `1e999`, 1),
		strings.Replace(engineJSON, `"in"`, `"sideways"`, 1),
		engineJSON + `{}`, `{"object":null}`, `{"object":{"kind":"engine"}}`, `[]`, `null`, `{`, ``, "\xff",
	} {
		f.Add([]byte(s))
	}
	// Time fields: out of the years 2000–2199, far ahead, already over.
	for _, w := range [][2]string{
		{"9999-12-31T23:30:00-01:00", "9999-12-31T23:59:00-01:00"},
		{"1999-12-31T23:00:00Z", "2199-12-31T23:59:59Z"},
		{"2026-11-26T10:00:00Z", "2200-01-01T00:00:00+00:00"},
		{"2026-11-26T10:00:00Z", "2199-12-31T23:30:00-01:00"},
		{"2000-01-01T00:00:00Z", "2000-01-01T00:00:01Z"},
		{"0000-01-01T00:00:00Z", "2026-11-26T16:00:00Z"},
	} {
		f.Add([]byte(strings.NewReplacer(`"2026-11-26T10:00:00Z"`, `"`+w[0]+`"`, `"2026-11-26T16:00:00Z"`, `"`+w[1]+`"`).
			Replace(contractEngineJSON)))
	}
	h := fuzzAPI(f).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations", tokHNA, body)
		if rec.Code != nethttp.StatusCreated {
			checkRefusal(t, rec, 400, 409, 413, 415, 422)
			return
		}
		var d zone.PreDeclaration
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("201 body is not a declaration: %v", err)
		}
		if d.ID == "" || d.Status != zone.StatusSubmitted || d.Firm != "HNA-TECHNIC" {
			t.Fatalf("201 with id %q status %q firm %q", d.ID, d.Status, d.Firm)
		}
		if !d.Window.From.Before(d.Window.To) {
			t.Fatalf("accepted a window that does not end after it starts: %+v", d.Window)
		}
		if !zone.TimeInRange(d.Window.From) || !zone.TimeInRange(d.Window.To) {
			t.Fatalf("accepted a window outside the years 2000-2199: %+v", d.Window)
		}
		if !d.Window.To.After(d.CreatedAt) {
			t.Fatalf("accepted a window that had ended when submitted: %+v", d.Window)
		}
		back := fuzzServe(h, nethttp.MethodGet, "/v1/predeclarations/"+d.ID, tokHNA, nil)
		if back.Code != nethttp.StatusOK {
			t.Fatalf("created %s but reading it back is %d: %s", d.ID, back.Code, back.Body.Bytes())
		}
		if !bytes.Equal(bytes.TrimSpace(back.Body.Bytes()), bytes.TrimSpace(rec.Body.Bytes())) {
			t.Fatalf("read back differs:\n%s\n%s", rec.Body.Bytes(), back.Body.Bytes())
		}
	})
}

// FuzzPartsMovementBody posts bodies to POST /v1/parts/lots/{id}/movements
// on a fresh lot of 24 each time. Never a 5xx; whatever happens the lot's
// balance stays within 0..24, the pledged quantity within the balance, and a
// refusal changes nothing.
func FuzzPartsMovementBody(f *testing.F) {
	for _, s := range []string{
		`{"kind":"consume","quantity":1}`,
		`{"kind":"install","quantity":2,"aircraft_registration":"B-1234"}`,
		`{"kind":"exit_island","quantity":4,"task_card":{"number":"TC-2026-1187","aircraft_registration":"B-1234"}}`,
		`{"kind":"exit_island","quantity":4}`,
		`{"kind":"return","quantity":1}`,
		`{"kind":"scrap","quantity":24}`,
		`{"kind":"pledge","quantity":20,"guarantee_ref":"BG-2026-001"}`,
		`{"kind":"pledge","quantity":1}`,
		`{"kind":"release_pledge","quantity":1}`,
		`{"kind":"consume","quantity":25}`,
		`{"kind":"consume","quantity":-5}`,
		`{"kind":"consume","quantity":9223372036854775807}`,
		`{"kind":"consume","quantity":1.5}`,
		`{"kind":"sell","quantity":1}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	h := fuzzAPI(f).Handler()
	lotBalance := func(t *testing.T, id string) (balance, pledged int) {
		rec := fuzzServe(h, nethttp.MethodGet, "/v1/parts/lots/"+id, tokHNA, nil)
		if rec.Code != nethttp.StatusOK {
			t.Fatalf("reading the lot: %d %s", rec.Code, rec.Body.Bytes())
		}
		var l struct {
			Balance int `json:"balance"`
			Pledged int `json:"pledged"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		return l.Balance, l.Pledged
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		created := fuzzServe(h, nethttp.MethodPost, "/v1/parts/lots", tokHNA, []byte(lotJSON))
		if created.Code != nethttp.StatusCreated {
			t.Fatalf("creating the lot: %d %s", created.Code, created.Body.Bytes())
		}
		var lot struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(created.Body.Bytes(), &lot); err != nil {
			t.Fatal(err)
		}
		rec := fuzzServe(h, nethttp.MethodPost, "/v1/parts/lots/"+lot.ID+"/movements", tokHNA, body)
		balance, pledged := lotBalance(t, lot.ID)
		if balance < 0 || balance > 24 || pledged < 0 || pledged > balance {
			t.Fatalf("after %q: balance %d, pledged %d", body, balance, pledged)
		}
		if rec.Code != nethttp.StatusCreated {
			checkRefusal(t, rec, 400, 409, 413, 415, 422)
			if balance != 24 || pledged != 0 {
				t.Fatalf("a refused movement changed the lot: balance %d, pledged %d", balance, pledged)
			}
		}
	})
}

// FuzzTimeField puts one string into every time the API takes, in bodies
// (window.from, window.to, entered_at, an arrival's at) and queries (since,
// from, to, due_before). Never a 5xx; a time that does not parse or lies
// outside the years 2000–2199 is a 400 naming the field; whatever is
// accepted reads back in range.
func FuzzTimeField(f *testing.F) {
	for _, s := range []string{
		"2026-11-26T10:00:00Z", "9999-12-31T23:30:00-01:00", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
		"1999-12-31T23:59:59Z", "2000-01-01T00:30:00+01:00", "2199-12-31T23:59:59Z", "2199-12-31T23:30:00-01:00",
		"2200-01-01T00:00:00Z", "2026-11-26", "1999-12-31", "2026-11-26T10:00:00.123456789+08:00",
		"2026-13-01T00:00:00Z", "noon", "", "2026-11-26T10:00:00Z\x00",
	} {
		f.Add(s)
	}
	srv := fuzzAPI(f)
	h := srv.Handler()
	fields := func(t *testing.T, rec *httptest.ResponseRecorder) []string {
		var p web.Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("not a problem: %s", rec.Body.Bytes())
		}
		out := []string{}
		for _, e := range p.Errors {
			out = append(out, e.Field)
		}
		return out
	}
	// bodyOK: a time the body decoder takes is an RFC 3339 time in range.
	bodyOK := func(s string) bool {
		tm, err := time.Parse(time.RFC3339, s)
		return err == nil && zone.TimeInRange(tm)
	}
	expect := func(t *testing.T, rec *httptest.ResponseRecorder, field string, ok bool, success int) {
		t.Helper()
		if rec.Code == success {
			if !ok {
				t.Fatalf("%s: accepted a time that should be refused: %s", field, rec.Body.Bytes())
			}
			return
		}
		checkRefusal(t, rec, 400, 409, 422)
		if !ok && !(rec.Code == 400 && slices.Contains(fields(t, rec), field)) {
			t.Fatalf("%s: refused with %d, not naming the field: %s", field, rec.Code, rec.Body.Bytes())
		}
	}
	mustJSON := func(v any) []byte {
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return raw
	}
	f.Fuzz(func(t *testing.T, s string) {
		var decl map[string]any
		if err := json.Unmarshal([]byte(contractEngineJSON), &decl); err != nil {
			t.Fatal(err)
		}
		decl["window"] = map[string]any{"from": s, "to": "2199-12-31T23:59:59Z"}
		expect(t, fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations", tokHNA, mustJSON(decl)), "window.from", bodyOK(s), 201)
		decl["window"] = map[string]any{"from": "2000-01-01T00:00:00Z", "to": s}
		expect(t, fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations", tokHNA, mustJSON(decl)), "window.to", bodyOK(s), 201)

		entry := map[string]any{"object": map[string]any{"kind": "aircraft", "registration": "RP-C3441", "type": "A321"},
			"owner": "PAL", "entered_at": s, "repair": "C-check", "guarantee": map[string]any{"kind": "exempt"}}
		expect(t, fuzzServe(h, nethttp.MethodPost, "/v1/temporary-entries", tokHNA, mustJSON(entry)), "entered_at", bodyOK(s), 201)

		// An arrival on a declaration that has crossed an hour ago.
		decl["window"] = map[string]any{"from": "2000-01-01T00:00:00Z", "to": "2199-12-31T23:59:59Z"}
		rec := fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations", tokHNA, mustJSON(decl))
		var d zone.PreDeclaration
		if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &d) != nil {
			t.Fatalf("submitting: %d %s", rec.Code, rec.Body.Bytes())
		}
		if rec := fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations/"+d.ID+"/decision", tokOfficer, []byte(`{"decision":"clear"}`)); rec.Code != 200 {
			t.Fatalf("clearing: %d %s", rec.Code, rec.Body.Bytes())
		}
		x := zone.Crossing{ID: "X-" + d.ID, Gate: "G-MRO-1", Decision: zone.DecisionAuthorized, Direction: zone.In,
			ClearanceID: d.ID, Time: time.Now().Add(-time.Hour)}
		ev, err := zone.NewEvent("E-"+d.ID, "bondgate/fuzz", zone.TypeCrossing, x.ID, x.Time, x)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.cfg.Crossings.ApplyCrossingEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		expect(t, fuzzServe(h, nethttp.MethodPost, "/v1/predeclarations/"+d.ID+"/arrival", tokHNA, mustJSON(map[string]any{"at": s})),
			"at", bodyOK(s), 200)

		// Queries: an RFC 3339 time or a date.
		qt, qerr := parseTimeParam(s)
		qok := s == "" || (qerr == nil && zone.TimeInRange(qt))
		for _, q := range []struct{ path, field string }{
			{"/v1/crossings?since=", "since"}, {"/v1/stats?from=", "from"}, {"/v1/stats?to=", "to"},
			{"/v1/parts/ledger?from=", "from"}, {"/v1/temporary-entries?due_before=", "due_before"},
		} {
			expect(t, fuzzServe(h, nethttp.MethodGet, q.path+url.QueryEscape(s), tokOfficer, nil), q.field, qok, 200)
		}
	})
}
