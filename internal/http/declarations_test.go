package http

import (
	"context"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// TestContractFlow runs the CONTRACT.md engine example end to end.
func TestContractFlow(t *testing.T) {
	a := newAPI(t)

	r := a.post("/v1/predeclarations", tokHNA, engineJSON)
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	var d zone.PreDeclaration
	require.NoError(t, json.Unmarshal(r.Body, &d))
	assert.Equal(t, zone.StatusSubmitted, d.Status)
	assert.Equal(t, "HNA-TECHNIC", d.Firm)
	assert.Equal(t, "956-482", d.Object.ESN)
	assert.Equal(t, "琼A·D1234", d.Conveyance.VehiclePlate)
	assert.Equal(t, "182000000.00", d.DeclaredValue.Amount)
	assert.NotEmpty(t, d.ID)
	assert.Equal(t, "/v1/predeclarations/"+d.ID, r.Header.Get("Location"))
	assert.Empty(t, r.Header.Get(HeaderIdempotentReplayed))

	r = a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "cleared", r.json(t)["status"])
	assert.NotEmpty(t, r.json(t)["decided_at"])

	r = a.get("/v1/predeclarations/"+d.ID, tokHNA)
	require.Equal(t, nethttp.StatusOK, r.Status)
	got := r.json(t)
	assert.Equal(t, "cleared", got["status"])
	assert.Len(t, got["history"], 2)

	// A second one, rejected: clearing it afterwards is an illegal transition.
	d2 := a.submit(tokHNA)
	r = a.post("/v1/predeclarations/"+d2.ID+"/decision", tokOfficer, `{"decision":"reject","reason":"HS code does not match the engine"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "rejected", r.json(t)["status"])

	r = a.post("/v1/predeclarations/"+d2.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusConflict, r.Status, "body: %s", r.Body)
	p := r.problem(t)
	assert.Equal(t, "https://bondgate.dev/problems/conflict", p.Type)
	assert.Equal(t, "/v1/predeclarations/"+d2.ID+"/decision", p.Instance)
	assert.Contains(t, p.Detail, "rejected")
	assert.Equal(t, "rejected", a.get("/v1/predeclarations/"+d2.ID, tokOfficer).json(t)["status"], "a refused transition changes nothing")

	// Status filter.
	list := func(q string) []string {
		r := a.get("/v1/predeclarations"+q, tokOfficer)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var l struct {
			Items      []zone.PreDeclaration `json:"items"`
			NextCursor *string               `json:"next_cursor"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &l))
		require.NotNil(t, l.NextCursor, "next_cursor is always present")
		var ids []string
		for _, it := range l.Items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	assert.Equal(t, []string{d.ID}, list("?status=cleared"))
	assert.Equal(t, []string{d2.ID}, list("?status=rejected"))
	assert.Empty(t, list("?status=submitted"))
	assert.ElementsMatch(t, []string{d.ID, d2.ID}, list("?gate=G-MRO-1"))
	assert.Empty(t, list("?gate=G-MAIN"))

	r = a.get("/v1/predeclarations?status=flying", tokOfficer)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"status"}, r.problem(t).fields())
	r = a.get("/v1/predeclarations?limit=0", tokOfficer)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"limit"}, r.problem(t).fields())

	// Empty list: items is [], never null.
	r = a.get("/v1/predeclarations", tokGAMECO)
	require.Equal(t, nethttp.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), `"items":[]`)
}

func TestListPagesWithCursor(t *testing.T) {
	a := newAPI(t)
	want := map[string]bool{}
	for range 5 {
		want[a.submit(tokHNA).ID] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		r := a.get("/v1/predeclarations?limit=2&cursor="+cursor, tokHNA)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var l declarationList
		require.NoError(t, json.Unmarshal(r.Body, &l))
		for _, d := range l.Items {
			require.False(t, seen[d.ID], "%s listed twice", d.ID)
			seen[d.ID] = true
		}
		pages++
		require.Less(t, pages, 10, "paging does not end")
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	assert.Equal(t, want, seen)
}

func TestDecisionAndLifecycle(t *testing.T) {
	a := newAPI(t)
	d := a.submit(tokHNA)

	r := a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"inspect"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status, "reason is required but for clear")
	assert.Equal(t, []string{"reason"}, r.problem(t).fields())

	r = a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"approve"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"decision"}, r.problem(t).fields())

	r = a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"inspect","reason":"x-ray the stand"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "inspection", r.json(t)["status"])

	r = a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	a.cross(d.ID)

	r = a.post("/v1/predeclarations/"+d.ID+"/cancel", tokHNA, "")
	require.Equal(t, nethttp.StatusConflict, r.Status, "no cancelling after the crossing: %s", r.Body)

	r = a.post("/v1/predeclarations/"+d.ID+"/arrival", tokHNA, `{"at":"1999-01-01T00:00:00Z"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status, "arrival before the crossing")
	assert.Equal(t, []string{"at"}, r.problem(t).fields())

	r = a.post("/v1/predeclarations/"+d.ID+"/arrival", tokHNA, `{"at":"soon"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"at"}, r.problem(t).fields())

	r = a.post("/v1/predeclarations/"+d.ID+"/arrival", tokHNA, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	got := r.json(t)
	assert.Equal(t, "arrived", got["status"])
	assert.NotNil(t, got["transit_minutes"])

	// Cancel with and without a reason.
	d2 := a.submit(tokHNA)
	r = a.post("/v1/predeclarations/"+d2.ID+"/cancel", tokHNA, `{"reason":"engine stays on the wing"}`)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "cancelled", r.json(t)["status"])
	d3 := a.submit(tokHNA)
	r = a.post("/v1/predeclarations/"+d3.ID+"/cancel", tokHNA, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	r = a.post("/v1/predeclarations/"+d3.ID+"/cancel", tokHNA, "")
	require.Equal(t, nethttp.StatusConflict, r.Status)
	r = a.post("/v1/predeclarations/nope/cancel", tokHNA, "")
	require.Equal(t, nethttp.StatusNotFound, r.Status)
	assert.Equal(t, zone.ENOTFOUND, r.problem(t).Code)
}

// TestSubmitValidation removes or breaks each field of the contract body in
// turn: every case is a 400 naming the field, and nothing is stored.
func TestSubmitValidation(t *testing.T) {
	a := newAPI(t)
	base := func() map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(engineJSON), &m))
		return m
	}
	obj := func(m map[string]any, k string) map[string]any { return m[k].(map[string]any) }
	cases := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"object missing", func(m map[string]any) { delete(m, "object") }, "object.kind"},
		{"object.kind missing", func(m map[string]any) { delete(obj(m, "object"), "kind") }, "object.kind"},
		{"object.kind unknown", func(m map[string]any) { obj(m, "object")["kind"] = "ship" }, "object.kind"},
		{"object.kind number", func(m map[string]any) { obj(m, "object")["kind"] = 7 }, "object.kind"},
		{"object.esn missing for an engine", func(m map[string]any) { delete(obj(m, "object"), "esn") }, "object.esn"},
		{"object.model missing for an engine", func(m map[string]any) { delete(obj(m, "object"), "model") }, "object.model"},
		{"object not an object", func(m map[string]any) { m["object"] = "engine" }, "object"},
		{"direction missing", func(m map[string]any) { delete(m, "direction") }, "direction"},
		{"direction sideways", func(m map[string]any) { m["direction"] = "sideways" }, "direction"},
		{"gate missing", func(m map[string]any) { delete(m, "gate") }, "gate"},
		{"gate unknown", func(m map[string]any) { m["gate"] = "G-NOWHERE" }, "gate"},
		{"window missing", func(m map[string]any) { delete(m, "window") }, "window.from"},
		{"window.from missing", func(m map[string]any) { delete(obj(m, "window"), "from") }, "window.from"},
		{"window.to missing", func(m map[string]any) { delete(obj(m, "window"), "to") }, "window.to"},
		{"window.from not a time", func(m map[string]any) { obj(m, "window")["from"] = "tomorrow at ten" }, "window.from"},
		{"window.from a number", func(m map[string]any) { obj(m, "window")["from"] = 1764151200 }, "window.from"},
		{"window.to before from", func(m map[string]any) { obj(m, "window")["to"] = "2026-11-26T09:00:00Z" }, "window.to"},
		{"regime missing", func(m map[string]any) { delete(m, "regime") }, "regime"},
		{"regime unknown", func(m map[string]any) { m["regime"] = "duty_paid" }, "regime"},
		{"declared_value missing", func(m map[string]any) { delete(m, "declared_value") }, "declared_value.amount"},
		{"declared_value.amount missing", func(m map[string]any) { delete(obj(m, "declared_value"), "amount") }, "declared_value.amount"},
		{"declared_value.amount a float", func(m map[string]any) { obj(m, "declared_value")["amount"] = 182000000.0 }, "declared_value.amount"},
		{"declared_value.amount not decimal", func(m map[string]any) { obj(m, "declared_value")["amount"] = "a lot" }, "declared_value.amount"},
		{"declared_value.currency missing", func(m map[string]any) { delete(obj(m, "declared_value"), "currency") }, "declared_value.currency"},
		{"declared_value.currency lower case", func(m map[string]any) { obj(m, "declared_value")["currency"] = "cny" }, "declared_value.currency"},
		{"hs_code missing", func(m map[string]any) { delete(m, "hs_code") }, "hs_code"},
		{"hs_code malformed", func(m map[string]any) { m["hs_code"] = "8411-12" }, "hs_code"},
		{"conveyance missing", func(m map[string]any) { delete(m, "conveyance") }, "conveyance"},
		{"conveyance empty", func(m map[string]any) { m["conveyance"] = map[string]any{} }, "conveyance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			raw, err := json.Marshal(m)
			require.NoError(t, err)
			r := a.post("/v1/predeclarations", tokHNA, string(raw))
			require.Equal(t, nethttp.StatusBadRequest, r.Status, "body: %s", r.Body)
			p := r.problem(t)
			assert.Equal(t, "https://bondgate.dev/problems/invalid", p.Type)
			assert.Contains(t, p.fields(), tc.field, "problem: %s", r.Body)
			for _, fe := range p.Errors {
				assert.NotEmpty(t, fe.Message)
			}
		})
	}
	assert.Equal(t, 0, a.count(), "a refused body stores nothing")

	// Several faults are reported at once.
	r := a.post("/v1/predeclarations", tokHNA, `{"object":{"kind":"engine"},"direction":"up"}`)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	fields := r.problem(t).fields()
	for _, f := range []string{"object.esn", "object.model", "direction", "gate", "window.from", "window.to", "regime", "hs_code", "declared_value.amount", "conveyance"} {
		assert.Contains(t, fields, f)
	}
}

func TestBodyRules(t *testing.T) {
	a := newAPI(t, func(c *Config) { c.BodyLimit = 4096 })
	cases := []struct {
		name   string
		body   string
		ctype  string
		status int
		field  string
	}{
		{"unknown top-level field", strings.Replace(engineJSON, `"direction"`, `"colour":"blue","direction"`, 1), "", 400, "colour"},
		{"unknown nested field", strings.Replace(engineJSON, `"esn"`, `"thrust":"76000lbf","esn"`, 1), "", 400, "object.thrust"},
		{"trailing data", engineJSON + `{"again":true}`, "", 400, "body"},
		{"two documents", engineJSON + engineJSON, "", 400, "body"},
		{"not JSON", `{"object":`, "", 400, "body"},
		{"empty body", ` `, "", 400, "body"},
		{"array instead of object", `[` + engineJSON + `]`, "", 400, "body"},
		{"text/plain", engineJSON, "text/plain", 415, ""},
		{"form", "a=b", "application/x-www-form-urlencoded", 415, ""},
		{"no content type", engineJSON, "-", 415, ""},
		{"over the limit", strings.Replace(engineJSON, `"Qatar Airways"`, `"`+strings.Repeat("Q", 5000)+`"`, 1), "", 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			switch tc.ctype {
			case "":
			case "-":
				h["Content-Type"] = ""
			default:
				h["Content-Type"] = tc.ctype
			}
			r := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: tc.body, header: h})
			require.Equal(t, tc.status, r.Status, "body: %s", r.Body)
			p := r.problem(t)
			if tc.field != "" {
				assert.Contains(t, p.fields(), tc.field, "problem: %s", r.Body)
			}
		})
	}
	big := strings.Replace(engineJSON, `"Qatar Airways"`, `"`+strings.Repeat("Q", 5000)+`"`, 1)
	r := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: big, chunked: true})
	require.Equal(t, nethttp.StatusRequestEntityTooLarge, r.Status, "a body without Content-Length is cut at the limit too")
	r.problem(t)
	assert.Equal(t, 0, a.count())

	// The charset parameter is fine.
	r = a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: engineJSON,
		header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
}

func TestIdempotentSubmit(t *testing.T) {
	a := newAPI(t)
	key := map[string]string{HeaderIdempotencyKey: "hna-2026-11-26-0001"}
	first := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: engineJSON, header: key})
	require.Equal(t, nethttp.StatusCreated, first.Status, "body: %s", first.Body)
	again := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: engineJSON, header: key})
	require.Equal(t, nethttp.StatusCreated, again.Status, "body: %s", again.Body)
	assert.Equal(t, "true", again.Header.Get(HeaderIdempotentReplayed))
	assert.Empty(t, first.Header.Get(HeaderIdempotentReplayed))
	assert.Equal(t, first.json(t)["id"], again.json(t)["id"])
	assert.Equal(t, 1, a.count(), "a replay stores nothing")

	other := strings.Replace(engineJSON, "956-482", "956-999", 1)
	r := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: other, header: key})
	require.Equal(t, nethttp.StatusUnprocessableEntity, r.Status, "body: %s", r.Body)
	assert.Equal(t, zone.EUNPROCESSABLE, r.problem(t).Code)
	assert.Equal(t, 1, a.count())

	// Keys belong to the caller: another firm's same key is its own request.
	r = a.do(req{method: "POST", path: "/v1/predeclarations", token: tokGAMECO, body: engineJSON, header: key})
	require.Equal(t, nethttp.StatusCreated, r.Status, "body: %s", r.Body)
	assert.Empty(t, r.Header.Get(HeaderIdempotentReplayed))
	assert.Equal(t, "GAMECO", r.json(t)["firm"])
	assert.Equal(t, 2, a.count())

	r = a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: engineJSON,
		header: map[string]string{HeaderIdempotencyKey: "has space"}})
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{HeaderIdempotencyKey}, r.problem(t).fields())
	assert.Equal(t, 2, a.count())
}

// TestIdempotentSubmitConcurrent sends one key many times at once: one
// record, every answer naming it.
func TestIdempotentSubmitConcurrent(t *testing.T) {
	a := newAPI(t)
	const n = 8
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do(req{method: "POST", path: "/v1/predeclarations", token: tokHNA, body: engineJSON,
				header: map[string]string{HeaderIdempotencyKey: "burst-1"}})
			if r.Status != nethttp.StatusCreated {
				ids <- fmt.Sprintf("status %d: %s", r.Status, r.Body)
				return
			}
			var d zone.PreDeclaration
			if err := json.Unmarshal(r.Body, &d); err != nil {
				ids <- err.Error()
				return
			}
			ids <- d.ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]int{}
	for id := range ids {
		seen[id]++
	}
	assert.Len(t, seen, 1, "answers: %v", seen)
	assert.Equal(t, 1, a.count())
}

func TestChangesReachTheOutbox(t *testing.T) {
	a := newAPI(t)
	d := a.submit(tokHNA)
	r := a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`)
	require.Equal(t, nethttp.StatusOK, r.Status)
	msgs, err := a.db.Outbox().Pending(context.Background(), 100)
	require.NoError(t, err)
	var topics []string
	for _, m := range msgs {
		assert.Equal(t, d.ID, m.Key)
		topics = append(topics, m.Topic)
	}
	assert.Equal(t, []string{zone.TopicDeclarations, zone.TopicDeclarations, zone.TopicClearances}, topics,
		"submit and clear are announced, and the clearance is published for the gates")
}

func TestAuditVerify(t *testing.T) {
	a := newAPI(t)
	d := a.submit(tokHNA)
	require.Equal(t, nethttp.StatusOK, a.post("/v1/predeclarations/"+d.ID+"/decision", tokOfficer, `{"decision":"clear"}`).Status)
	d2 := a.submit(tokGAMECO)
	require.Equal(t, nethttp.StatusOK, a.post("/v1/predeclarations/"+d2.ID+"/cancel", tokGAMECO, "").Status)
	// A refused change leaves no entry.
	require.Equal(t, nethttp.StatusConflict, a.post("/v1/predeclarations/"+d2.ID+"/cancel", tokGAMECO, "").Status)

	for _, tok := range []string{tokAuditor, tokOfficer} {
		r := a.get("/v1/audit?verify=true", tok)
		require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
		var page auditPage
		require.NoError(t, json.Unmarshal(r.Body, &page))
		require.NotNil(t, page.Verified)
		assert.True(t, *page.Verified)
		assert.Equal(t, 4, page.Entries)
		require.Len(t, page.Items, 4)
		assert.Equal(t, "mro:HNA-TECHNIC", page.Items[0].Actor)
		assert.Equal(t, "customs:HK-0031", page.Items[1].Actor)
		assert.Equal(t, d.ID, page.Items[1].EntityID)
		assert.Empty(t, page.Problem)
	}

	r := a.get("/v1/audit?after=2&limit=1", tokAuditor)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	m := r.json(t)
	assert.NotContains(t, m, "verified", "verified is only given when asked for")
	items := m["items"].([]any)
	require.Len(t, items, 1)
	assert.EqualValues(t, 3, items[0].(map[string]any)["seq"])
	assert.EqualValues(t, 3, m["next_after"])

	r = a.get("/v1/audit?verify=maybe", tokAuditor)
	require.Equal(t, nethttp.StatusBadRequest, r.Status)
	assert.Equal(t, []string{"verify"}, r.problem(t).fields())
}

func TestAuditUnavailableWithoutTrail(t *testing.T) {
	a := newAPI(t, func(c *Config) { c.Audit = nil })
	r := a.get("/v1/audit", tokAuditor)
	require.Equal(t, nethttp.StatusServiceUnavailable, r.Status)
	assert.Equal(t, zone.EUNAVAILABLE, r.problem(t).Code)
}
