package http

import (
	"context"
	"encoding/json"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

func (a *api) note(id, token, accept string) reply {
	a.t.Helper()
	return a.do(req{method: "GET", path: "/v1/predeclarations/" + id + "/release-note", token: token,
		header: map[string]string{"Accept": accept}})
}

func (a *api) decide(id, decision, reason string) {
	a.t.Helper()
	body, _ := json.Marshal(map[string]string{"decision": decision, "reason": reason})
	r := a.post("/v1/predeclarations/"+id+"/decision", tokOfficer, string(body))
	require.Equal(a.t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
}

var noteNumberRE = regexp.MustCompile(`^HK6401-20[0-9]{2}-[0-9A-Z]{6}-[0-9]{6}$`)

// The owner and customs read the note once cleared, in three renderings;
// before clearing and for another firm it is 404.
func TestReleaseNoteRenderings(t *testing.T) {
	a := newAPI(t)
	d := a.submit(tokHNA)
	require.Equal(t, nethttp.StatusNotFound, a.note(d.ID, tokHNA, "").Status, "no note before clearing")
	a.decide(d.ID, "clear", "")

	var decl zone.PreDeclaration
	require.NoError(t, json.Unmarshal(a.get("/v1/predeclarations/"+d.ID, tokHNA).Body, &decl))
	require.NotNil(t, decl.ReleaseNote, "the declaration gains release_note")
	require.Regexp(t, noteNumberRE, decl.ReleaseNote.Number)

	r := a.note(d.ID, tokHNA, "")
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var v zone.ReleaseNoteView
	require.NoError(t, json.Unmarshal(r.Body, &v))
	require.Equal(t, decl.ReleaseNote.Number, v.Number)
	require.Equal(t, zone.NoteIssued, v.State)
	require.False(t, v.Void)
	require.Equal(t, "customs:HK-0031", v.Officer)
	require.Equal(t, nethttp.StatusOK, a.note(d.ID, tokOfficer, "application/json").Status)
	require.Equal(t, nethttp.StatusNotFound, a.note(d.ID, tokGAMECO, "").Status, "another firm's note")
	require.Equal(t, nethttp.StatusForbidden, a.note(d.ID, tokGate, "").Status)

	html := a.note(d.ID, tokHNA, "text/html,application/xhtml+xml,*/*;q=0.8")
	require.Equal(t, nethttp.StatusOK, html.Status)
	require.Contains(t, html.Header.Get("Content-Type"), "text/html")
	csp := html.Header.Get("Content-Security-Policy")
	require.NotContains(t, csp, "unsafe-inline")
	require.Contains(t, csp, "default-src 'none'")
	page := string(html.Body)
	for _, want := range []string{v.Number, "核放单", "申报企业", "HNA-TECHNIC", "G-MRO-1", "进区", "STAND-T", "审批关员", "已审批", "data:image/png;base64,"} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, "<script", "the strict CSP allows no script")
	require.NotContains(t, page, "style=", "the strict CSP allows no inline style")
	require.NotContains(t, page, "作废")
	css := a.get("/console/release-note.css", "")
	require.Equal(t, nethttp.StatusOK, css.Status, "the page's stylesheet is served")
	require.Contains(t, string(css.Body), "@page")

	xml := a.note(d.ID, tokOfficer, "application/xml")
	require.Equal(t, nethttp.StatusOK, xml.Status)
	for _, want := range []string{"<passportNo>" + v.Number + "</passportNo>", "<ioTypecd>I</ioTypecd>", "<dclEtpsNm>HNA-TECHNIC</dclEtpsNm>",
		"<rltNo>" + d.ID + "</rltNo>", "<vehicleNo>琼A·T", "<gdecd>84111200</gdecd>", "<stucd>2</stucd>"} {
		require.Contains(t, string(xml.Body), want)
	}
	validateXSD(t, xml.Body)
}

// validateXSD checks body against fixtures/release-note.xsd with xmllint
// (Debian libxml2-utils, installed by make tools); absent, it skips loudly.
func validateXSD(t *testing.T, body []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("SKIPPED: xmllint not installed (Debian libxml2-utils; `make tools` installs it): the XML is not validated")
	}
	f := filepath.Join(t.TempDir(), "note.xml")
	require.NoError(t, os.WriteFile(f, body, 0o600))
	out, err := exec.Command(xmllint, "--noout", "--schema", "../../fixtures/release-note.xsd", f).CombinedOutput()
	require.NoError(t, err, "xmllint: %s\n%s", out, body)
	require.Contains(t, string(out), "validates")
}

// A revoked clearance's note reads void on every rendering; a crossing
// passes it.
func TestReleaseNoteStates(t *testing.T) {
	a := newAPI(t)
	revoked := a.submit(tokHNA)
	a.decide(revoked.ID, "clear", "")
	a.decide(revoked.ID, "revoke", "seal broken")
	var v zone.ReleaseNoteView
	require.NoError(t, json.Unmarshal(a.note(revoked.ID, tokHNA, "").Body, &v))
	require.True(t, v.Void)
	require.Equal(t, zone.NoteVoid, v.State)
	require.Equal(t, "seal broken", v.VoidReason)
	page := string(a.note(revoked.ID, tokHNA, "text/html").Body)
	require.Contains(t, page, "已作废")
	require.Contains(t, page, "seal broken")
	xml := a.note(revoked.ID, tokHNA, "application/xml").Body
	require.Contains(t, string(xml), "<void>true</void>")
	require.Contains(t, string(xml), "<stucd>9</stucd>")
	validateXSDIfPresent(t, xml)

	crossed := a.submit(tokHNA)
	a.decide(crossed.ID, "clear", "")
	a.cross(crossed.ID)
	require.NoError(t, json.Unmarshal(a.note(crossed.ID, tokHNA, "").Body, &v))
	require.Equal(t, zone.NotePassed, v.State)
	require.False(t, v.Void)
	require.Len(t, v.History, 2)
	require.Contains(t, string(a.note(crossed.ID, tokHNA, "text/html").Body), "已过卡")
	require.Contains(t, string(a.note(crossed.ID, tokHNA, "application/xml").Body), "<stucd>3</stucd>")
}

func validateXSDIfPresent(t *testing.T, body []byte) {
	if _, err := exec.LookPath("xmllint"); err == nil {
		validateXSD(t, body)
	}
}

// The gate's crossing carries the note's number; the API's crossing record
// keeps it, and the note reads passed.
func TestAPICrossingCarriesTheReleaseNote(t *testing.T) {
	a := newAPI(t)
	withZoneFeed(a)
	d := a.submit(tokHNA)
	a.decide(d.ID, "clear", "")
	number := a.declaration(d.ID, tokHNA).ReleaseNote.Number
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	x := zone.Crossing{ID: "X-G-MRO-1-77", Seq: 77, Gate: "G-MRO-1", Segment: 1, Decision: zone.DecisionAuthorized,
		Direction: zone.In, ObjectClass: "engine", ClearanceID: d.ID, ReleaseNote: number,
		Identity: &zone.Identity{Kind: "stand_tag", Value: "STAND-0042"}, Time: at, DecidedAt: at}
	ev, err := zone.NewEvent("G-MRO-1-77", "bondgate/gate/G-MRO-1", zone.TypeCrossing, x.ID, x.Time, x)
	require.NoError(t, err)
	_, err = a.srv.cfg.Crossings.ApplyCrossingEvent(context.Background(), ev)
	require.NoError(t, err)

	r := a.get("/v1/crossings", tokOfficer)
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	var page struct {
		Items []zone.Crossing `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &page))
	require.Len(t, page.Items, 1)
	require.Equal(t, number, page.Items[0].ReleaseNote)
	var v zone.ReleaseNoteView
	require.NoError(t, json.Unmarshal(a.note(d.ID, tokHNA, "").Body, &v))
	require.Equal(t, zone.NotePassed, v.State)
	require.Equal(t, "X-G-MRO-1-77", v.CrossingID)
}
