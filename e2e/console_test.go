// Package e2e drives the officer's console in a real headless Chromium
// against the real processes: the embedded broker, the zone API and the
// dedicated gate G-MRO-1, each started from the built binary on loopback.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/proctest"
)

// chromium finds the browser: $BONDGATE_CHROMIUM, else Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("BONDGATE_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("SKIPPED: no Chromium found (install Debian's chromium: `make test` does it as root with apt-get, " +
		"or set BONDGATE_CHROMIUM); the console's browser test did not run")
	return ""
}

// start runs one bondgate process; when the test ends it is stopped with
// SIGTERM, as an operator would, unless it already exited.
func start(t *testing.T, binary string, args ...string) *proctest.Proc {
	t.Helper()
	p := proctest.Start(t, binary, nil, args...)
	t.Cleanup(func() {
		if !p.Exited() {
			p.StopWithin(t, 20*time.Second)
		}
	})
	return p
}

// call is one JSON request; it returns the status and decodes the body into out.
func call(t *testing.T, method, url, token string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp.StatusCode
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	proctest.Eventually(t, 60*time.Second, base+" answers /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// shots saves numbered screenshots in $BONDGATE_SCREENSHOTS, else in the
// test's artifact folder (kept with go test -artifacts).
type shots struct {
	t   *testing.T
	dir string
	n   int
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(s.t, err)
	s.n++
	path := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
	require.NoError(s.t, os.WriteFile(path, png, 0o644))
	s.t.Logf("screenshot %s", path)
}

// browser runs chromedp steps with a bound, failing the test with the step's name.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...), what)
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, expr)
	return v
}

// waitJS polls a JavaScript condition in the page.
func (b *browser) waitJS(what, cond string) {
	b.t.Helper()
	proctest.Eventually(b.t, 90*time.Second, what, func() bool { return b.eval("String(!!("+cond+"))") == "true" })
}

type declaration struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// gateEvents posts sensor events to the gate as its hardware would.
type gateEvents struct {
	t    *testing.T
	url  string
	next map[string]int
}

func (g *gateEvents) post(evs ...map[string]any) {
	g.t.Helper()
	for _, e := range evs {
		dev := e["device_id"].(string)
		g.next[dev]++
		e["event_id"] = fmt.Sprintf("%s-e2e-%06d", dev, g.next[dev])
		e["gate"] = "G-MRO-1"
		if _, ok := e["time"]; !ok {
			e["time"] = time.Now().UTC().Format(time.RFC3339Nano)
		}
	}
	st := call(g.t, http.MethodPost, g.url+"/v1/events", "gate-mro-1", evs, nil)
	require.Equal(g.t, http.StatusAccepted, st)
}

func (g *gateEvents) heartbeats() {
	g.t.Helper()
	var evs []map[string]any
	for _, d := range []string{"CAM-1", "IR-1", "IR-2"} {
		evs = append(evs, map[string]any{"device_id": d, "type": "heartbeat"})
	}
	g.post(evs...)
}

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	chrome := chromium(t)
	dir := t.TempDir()
	binary, remove, err := proctest.Build("../cmd/bondgate")
	require.NoError(t, err)
	t.Cleanup(remove)
	tokens := proctest.WriteTokens(t)

	brokerAddr, apiAddr, gateAddr := proctest.FreeAddr(t), proctest.FreeAddr(t), proctest.FreeAddr(t)
	api, gate := "http://"+apiAddr, "http://"+gateAddr
	start(t, binary, "broker", "--addr", brokerAddr)
	start(t, binary, "gate", "--id", "G-MRO-1", "--addr", gateAddr, "--data", filepath.Join(dir, "gate"),
		"--brokers", brokerAddr, "--tokens", tokens, "--window", "2s")
	apiArgs := []string{"api", "--addr", apiAddr, "--data", filepath.Join(dir, "api"), "--brokers", brokerAddr,
		"--tokens", tokens, "--gates", "G-MRO-1,G-MAIN", "--gate-urls", "G-MRO-1=" + gate, "--seed-history"}
	apiProc := start(t, binary, apiArgs...)
	waitHealthy(t, api)
	waitHealthy(t, gate)
	g := &gateEvents{t: t, url: gate, next: map[string]int{}}
	g.heartbeats()

	// An MRO firm pre-declares an engine for direct entry, window around now.
	now := time.Now().UTC()
	declare := func(esn, tag string) declaration {
		var d declaration
		st := call(t, http.MethodPost, api+"/v1/predeclarations", "mro-hna", map[string]any{
			"object":    map[string]any{"kind": "engine", "esn": esn, "model": "GEnx-1B", "owner": "Qatar Airways"},
			"direction": "in", "gate": "G-MRO-1",
			"window":         map[string]any{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(5 * time.Hour).Format(time.RFC3339)},
			"regime":         "bonded_maintenance",
			"declared_value": map[string]any{"amount": "182000000.00", "currency": "CNY"},
			"hs_code":        "84111200", "conveyance": map[string]any{"stand_tag": tag, "vehicle_plate": "琼A·D1234"},
		}, &d)
		require.Equal(t, http.StatusCreated, st)
		return d
	}
	// One declaration rejected at once: this month's decision waiting time is
	// 0.0 minutes, a figure the chart must draw.
	d0 := declare("956-480", "STAND-0040")
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, api+"/v1/predeclarations/"+d0.ID+"/decision", "officer-1",
		map[string]any{"decision": "reject", "reason": "duplicate of an earlier filing"}, nil))
	d := declare("956-482", "STAND-0042")
	// A firm's scrap request, which waits for customs on the console.
	var lot struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/parts/lots", "mro-hna", map[string]any{
		"part_number": "3214552-1", "description": "starter valve", "quantity": 6, "unit": "EA", "serials": []string{},
		"import_declaration": "460120261000123458", "owner": map[string]any{"kind": "consignment", "supplier": "AAR OSS"},
		"exempted": map[string]any{"duty": map[string]any{"amount": "6000.00", "currency": "CNY"}}}, &lot))
	var scrap struct {
		Movement struct {
			ID string `json:"id"`
		} `json:"movement"`
	}
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/parts/lots/"+lot.ID+"/movements", "mro-hna",
		map[string]any{"kind": "scrap", "quantity": 2}, &scrap))

	// A foreign aircraft in for a C-check, as in the dev samples: declared,
	// cleared and its visit opened; it enters later through the gate.
	var air declaration
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/predeclarations", "mro-hna", map[string]any{
		"object":    map[string]any{"kind": "aircraft", "registration": "9V-SMG", "type": "A350-900", "owner": "Singapore Airlines"},
		"direction": "in", "gate": "G-MRO-1",
		"window":         map[string]any{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(5 * time.Hour).Format(time.RFC3339)},
		"regime":         "bonded_maintenance",
		"declared_value": map[string]any{"amount": "350000000.00", "currency": "CNY"},
		"hs_code":        "88024020", "conveyance": map[string]any{"stand_tag": "STAND-0044", "vehicle_plate": "琼A·S9010"},
	}, &air))
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, api+"/v1/predeclarations/"+air.ID+"/decision", "officer-1",
		map[string]any{"decision": "clear"}, nil))
	openVisit := func(inbound string, object map[string]any, scope, customer string) string {
		var v struct {
			ID string `json:"id"`
		}
		require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/maintenance/visits", "mro-hna", map[string]any{
			"object": object, "inbound_predeclaration": inbound, "scope": scope, "customer": customer, "foreign": true}, &v))
		return v.ID
	}
	airVisit := openVisit(air.ID, map[string]any{"kind": "aircraft", "registration": "9V-SMG", "type": "A350-900", "owner": "Singapore Airlines"},
		"C-check and repaint", "Singapore Airlines")

	shotDir := os.Getenv("BONDGATE_SCREENSHOTS")
	if shotDir == "" {
		shotDir = t.ArtifactDir()
	}
	require.NoError(t, os.MkdirAll(shotDir, 0o755))
	sh := &shots{t: t, dir: shotDir}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.UserDataDir(filepath.Join(dir, "chromium")),
			chromedp.WindowSize(1600, 1100))...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	b := &browser{t: t, ctx: ctx}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[int]("1")) // starts the browser, without a timeout
	require.NoError(t, err, "start Chromium")

	// 1. Sign in with the token in the fragment, as `bondgate dev` prints it.
	row := `#queue tr[data-id="` + d.ID + `"]`
	b.do("open the console", chromedp.Navigate(api+"/#token=officer-1"), chromedp.WaitVisible(chromedp.CSS(row)))
	assert.Empty(t, b.eval("location.hash"), "the token leaves the address bar")
	assert.Equal(t, api+"/", b.eval("location.href"))
	assert.Equal(t, "officer-1", b.eval("sessionStorage.getItem('bondgate.token')"))
	assert.Equal(t, "zh-CN", b.eval("document.documentElement.lang"))
	assert.Contains(t, b.eval("document.querySelector('h1').textContent"), "海关值班台")
	b.waitJS("the stream is live", "document.querySelector('#conn.conn-live')")
	scrapRow := `#scraps tr[data-id="` + scrap.Movement.ID + `"]`
	b.waitJS("the pending scrap request is before customs", "document.querySelector('"+scrapRow+"')")
	b.eval("(document.querySelector('" + scrapRow + " button.primary').click(), 'clicked')")
	b.waitJS("approved, it leaves the list", "!document.querySelector('"+scrapRow+"')")
	var after struct {
		Balance int `json:"balance"`
	}
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, api+"/v1/parts/lots/"+lot.ID, "officer-1", nil, &after))
	assert.Equal(t, 4, after.Balance, "the approved scrap took effect")
	b.waitJS("the gate board shows G-MRO-1 with its link up", `document.querySelector('[data-gate="G-MRO-1"] .badge.link-up')`)
	assert.Contains(t, b.eval(`document.querySelector('`+row+`').textContent`), "956-482")
	b.waitJS("the waiting-time chart draws this month's zeros", "document.querySelector('#chart-waiting svg rect.zero')")
	assert.NotContains(t, b.eval("document.querySelector('#chart-waiting').textContent"), "暂无数据")
	assert.Contains(t, b.eval("document.querySelector('#chart-waiting svg rect.zero title').textContent"), ": 0")
	// Dates read the same in both languages, year first: 12/01 is December
	// to one reader and January to another.
	windowCell := b.eval(`document.querySelector('` + row + ` td.small').textContent`)
	assert.Regexp(t, `^\d{4}-\d{2}-\d{2} \d{2}:\d{2} – \d{4}-\d{2}-\d{2} \d{2}:\d{2}$`, windowCell)
	assert.Contains(t, windowCell, now.Add(-time.Hour).Local().Format("2006-01-02 15:04"))
	// A marker that only survives if the page is never reloaded.
	b.eval("String(window.__noReload = 'still here')")
	sh.take(ctx, "signed-in-queue")

	// 2. Clear it, with the keyboard only: focus the button, Enter, Enter.
	b.do("clear with the keyboard", chromedp.Focus(chromedp.CSS(`button[data-fk="clear:`+d.ID+`"]`)), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#decide[open]")))
	sh.take(ctx, "clear-dialog")
	b.do("confirm", chromedp.Focus(chromedp.CSS("#decide-ok")), chromedp.KeyEvent("\r"),
		chromedp.WaitNotPresent(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(`#moves tr[data-id="`+d.ID+`"][data-status="cleared"]`)))
	var got declaration
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, api+"/v1/predeclarations/"+d.ID, "officer-1", nil, &got))
	assert.Equal(t, "cleared", got.Status, "the click reached the API")
	engineVisit := openVisit(d.ID, map[string]any{"kind": "engine", "esn": "956-482", "model": "GEnx-1B", "owner": "Qatar Airways"},
		"engine shop visit: HPT refurbishment", "Qatar Airways")
	sh.take(ctx, "cleared")

	// 3. The gate sees the engine stand and the beams; the authorized crossing
	// appears live on the board and the declaration moves to crossed.
	proctest.Eventually(t, 90*time.Second, "the clearance reaches the gate", func() bool {
		var st struct {
			Clearances int `json:"clearances"`
		}
		return call(t, http.MethodGet, gate+"/v1/status", "officer-1", nil, &st) == http.StatusOK && st.Clearances > 0
	})
	t0 := time.Now().UTC().Add(-3 * time.Second)
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	g.post(
		map[string]any{"device_id": "CAM-1", "type": "camera.detection", "object_class": "engine", "track_id": "t-e2e-1",
			"direction": "in", "time": at(0), "reads": []map[string]any{{"kind": "stand_tag", "value": "STAND-0042", "confidence": 0.97}},
			"snapshot": "nvr://cam-1/e2e/t-e2e-1.jpg"},
		map[string]any{"device_id": "IR-1", "type": "infrared.break", "beam": "A", "segment": 1, "time": at(1200 * time.Millisecond)},
		map[string]any{"device_id": "IR-1", "type": "infrared.break", "beam": "B", "segment": 1, "time": at(2900 * time.Millisecond)},
	)
	b.waitJS("the authorized crossing appears on the board", `document.querySelector('[data-gate="G-MRO-1"] button.crossing.dec-authorized')`)
	b.waitJS("the declaration moves to crossed", `document.querySelector('#moves tr[data-id="`+d.ID+`"][data-status="crossed"]')`)
	// On a 1,400 px screen the identity the camera read is shown whole.
	b.do("1,400 px wide", chromedp.EmulateViewport(1400, 1000))
	idSpan := `document.querySelector('[data-gate="G-MRO-1"] button.crossing.dec-authorized .x-id')`
	assert.Equal(t, "STAND-0042", b.eval(idSpan+".textContent"))
	b.waitJS("the identity is not cut off", idSpan+".scrollWidth <= "+idSpan+".clientWidth && "+idSpan+".getBoundingClientRect().width > 60")
	assert.Regexp(t, `^\d{2}:\d{2}:\d{2}$`, b.eval(`document.querySelector('[data-gate="G-MRO-1"] button.crossing.dec-authorized .x-time').textContent`))
	sh.take(ctx, "board-1400")
	b.do("back to 1,600 px", chromedp.EmulateViewport(1600, 1100))
	assert.Equal(t, "still here", b.eval("String(window.__noReload)"), "no reload happened")
	sh.take(ctx, "crossing-live")

	b.do("open the crossing", chromedp.Click(chromedp.CSS(`[data-gate="G-MRO-1"] button.crossing.dec-authorized`)),
		chromedp.WaitVisible(chromedp.CSS("#detail[open]")))
	detail := b.eval("document.querySelector('#detail-body').textContent")
	assert.Contains(t, detail, d.ID, "the clearance it used")
	assert.Contains(t, detail, "STAND-0042", "the identity read")
	assert.Contains(t, detail, "IR-1-e2e-", "the beams")
	assert.Contains(t, detail, "nvr://cam-1/e2e/t-e2e-1.jpg", "the snapshot reference")
	sh.take(ctx, "crossing-detail")
	b.do("open its declaration's timeline", chromedp.Click(chromedp.CSS("#detail-body button.link")),
		chromedp.WaitVisible(chromedp.CSS("#detail ol.timeline li.done:nth-child(3)")))
	sh.take(ctx, "timeline")
	b.do("close the detail", chromedp.Click(chromedp.CSS("#detail-close")), chromedp.WaitNotPresent(chromedp.CSS("#detail[open]")))

	// The aircraft is towed in too. Both visits are now in repair and the
	// officer sees them in the zone, live.
	t2 := time.Now().UTC().Add(-3 * time.Second)
	g.post(
		map[string]any{"device_id": "CAM-1", "type": "camera.detection", "object_class": "aircraft", "track_id": "t-e2e-2",
			"direction": "in", "time": t2.Format(time.RFC3339Nano), "reads": []map[string]any{{"kind": "stand_tag", "value": "STAND-0044", "confidence": 0.97}}},
		map[string]any{"device_id": "IR-1", "type": "infrared.break", "beam": "A", "segment": 1, "time": t2.Add(1200 * time.Millisecond).Format(time.RFC3339Nano)},
		map[string]any{"device_id": "IR-1", "type": "infrared.break", "beam": "B", "segment": 1, "time": t2.Add(2900 * time.Millisecond).Format(time.RFC3339Nano)},
	)
	for id, what := range map[string]string{engineVisit: "GEnx-1B · 956-482", airVisit: "9V-SMG"} {
		vr := `#visits tr[data-id="` + id + `"][data-status="in_repair"]`
		b.waitJS("the visit of "+what+" is in repair on the page", "document.querySelector('"+vr+"')")
		assert.Contains(t, b.eval("document.querySelector('"+vr+"').textContent"), strings.Split(what, " · ")[len(strings.Split(what, " · "))-1])
		assert.Contains(t, b.eval("document.querySelector('"+vr+"').textContent"), "维修中")
	}
	airRow := b.eval(`document.querySelector('#visits tr[data-id="` + airVisit + `"]').textContent`)
	assert.Contains(t, airRow, "Singapore Airlines")
	assert.Contains(t, airRow, "免缴保证金", "a foreign aircraft's deposit is exempt")
	assert.NotContains(t, b.eval(`document.querySelector('#visits tr[data-id="`+engineVisit+`"]').textContent`), "免缴保证金")

	// The firm submits last year's write-off; it reaches the queue live and
	// the officer verifies it from the page: it leaves the queue, verified.
	var wo struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	year := now.Year() - 1
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/writeoffs", "mro-hna",
		map[string]any{"from": fmt.Sprintf("%d-01-01", year), "to": fmt.Sprintf("%d-12-31", year)}, &wo))
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, api+"/v1/writeoffs/"+wo.ID+"/submit", "mro-hna", nil, nil))
	woRow := `#writeoffs tr[data-id="` + wo.ID + `"]`
	b.waitJS("the submitted period is in the queue", "document.querySelector('"+woRow+"')")
	assert.Contains(t, b.eval("document.querySelector('"+woRow+"').textContent"), fmt.Sprintf("%d-01-01 – %d-12-31", year, year))
	sh.take(ctx, "maintenance")
	b.eval("(document.querySelector('" + woRow + " button.primary').click(), 'clicked')")
	b.waitJS("verified, it leaves the queue", "!document.querySelector('"+woRow+"')")
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, api+"/v1/writeoffs/"+wo.ID, "officer-1", nil, &wo))
	assert.Equal(t, "verified", wo.Status, "the click reached the API")
	assert.Equal(t, "still here", b.eval("String(window.__noReload)"))

	// The engine is repaired; seen from 31 days on (the page's clock moved
	// forward), it is overdue for departure and listed first.
	b.eval("String(window.__realNow = Date.now, Date.now = () => window.__realNow() + 31 * 86400000)")
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, api+"/v1/maintenance/visits/"+engineVisit+"/outcome", "mro-hna",
		map[string]any{"outcome": "repaired"}, nil))
	engineRow := `#visits tr[data-id="` + engineVisit + `"]`
	b.waitJS("the repaired engine is overdue to leave", "document.querySelector('"+engineRow+"[data-status=\"repaired\"].overdue')")
	assert.Contains(t, b.eval("document.querySelector('"+engineRow+"').textContent"), "逾期未出区")
	assert.Equal(t, engineVisit, b.eval("document.querySelector('#visits tbody tr').dataset.id"), "overdue first")
	b.eval("String(Date.now = window.__realNow)")
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/maintenance/visits/"+airVisit+"/task-cards", "mro-hna",
		map[string]any{"number": "TC-SQ-0001", "title": "C-check zonal inspection"}, nil))
	b.waitJS("at today's clock the engine is waiting to leave, not overdue",
		"document.querySelector('"+engineRow+"') && !document.querySelector('"+engineRow+".overdue') && document.querySelector('"+engineRow+"').textContent.includes('待出区')")

	// 4. Something crosses segment 3 and no camera identifies it: an alarm,
	// live; the officer acknowledges it with a note.
	t1 := time.Now().UTC()
	g.post(
		map[string]any{"device_id": "IR-2", "type": "infrared.break", "beam": "A", "segment": 3, "time": t1.Format(time.RFC3339Nano)},
		map[string]any{"device_id": "IR-2", "type": "infrared.break", "beam": "B", "segment": 3, "time": t1.Add(time.Second).Format(time.RFC3339Nano)},
	)
	alarm := `#alarms li.alarm`
	proctest.Eventually(t, 90*time.Second, "the unidentified crossing raises an alarm on the page", func() bool {
		g.heartbeats() // the gate's clock moves on with its sensors
		return b.eval("String(!!document.querySelector('"+alarm+"'))") == "true"
	})
	alarmID := b.eval(`document.querySelector('` + alarm + `').dataset.alarm`)
	require.NotEmpty(t, alarmID)
	// The gate sends the alarm's kind and params; the Chinese page words it
	// in Chinese and keeps the server's English as the tooltip.
	msg := b.eval(`document.querySelector('` + alarm + ` .alarm-msg').textContent`)
	assert.Contains(t, msg, "第 3 区段")
	assert.NotContains(t, msg, "segment")
	assert.Contains(t, b.eval(`document.querySelector('`+alarm+` .alarm-msg').title`), "segment 3")
	assert.Regexp(t, `\d{4}-\d{2}-\d{2} \d{2}:\d{2}$`, b.eval(`document.querySelector('`+alarm+` .alarm-head .muted').textContent`))
	assert.Equal(t, "still here", b.eval("String(window.__noReload)"))
	sh.take(ctx, "alarm")
	li := `#alarms li[data-alarm="` + alarmID + `"]`
	b.do("acknowledge", chromedp.SendKeys(chromedp.CSS(li+" input.note"), "checked on camera: tow tractor returning"),
		chromedp.Click(chromedp.CSS(li+" button[type=submit]")), chromedp.WaitNotPresent(chromedp.CSS(li)))
	var acked []map[string]any
	var list struct {
		Items []map[string]any `json:"items"`
	}
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, api+"/v1/alarms?state=acked", "officer-1", nil, &list))
	for _, a := range list.Items {
		if a["id"] == alarmID {
			acked = append(acked, a)
		}
	}
	require.Len(t, acked, 1, "the acknowledgement reached the API")
	assert.Equal(t, "checked on camera: tow tractor returning", acked[0]["ack_note"])
	assert.Equal(t, "customs:HK-0031", acked[0]["acked_by"])
	sh.take(ctx, "alarm-acked")

	// A burst of alarms scrolls inside the alarm column; the deadlines panel
	// below stays within reach.
	burst := time.Now().UTC().Add(-30 * time.Second)
	var pairs []map[string]any
	for i := range 9 {
		at := burst.Add(time.Duration(i) * 3 * time.Second)
		pairs = append(pairs,
			map[string]any{"device_id": "IR-2", "type": "infrared.break", "beam": "A", "segment": 3, "time": at.Format(time.RFC3339Nano)},
			map[string]any{"device_id": "IR-2", "type": "infrared.break", "beam": "B", "segment": 3, "time": at.Add(time.Second).Format(time.RFC3339Nano)})
	}
	g.post(pairs...)
	proctest.Eventually(t, 90*time.Second, "the burst's alarms reach the page", func() bool {
		g.heartbeats()
		return b.eval("String(document.querySelectorAll('#alarms li.alarm').length >= 9)") == "true"
	})
	assert.Equal(t, "auto", b.eval("getComputedStyle(document.querySelector('#alarms')).overflowY"))
	b.waitJS("the alarm list is bounded and scrolls", `(() => {
		const l = document.querySelector('#alarms');
		return l.scrollHeight > l.clientHeight && l.getBoundingClientRect().height <= innerHeight * 0.6 + 1;
	})()`)
	sh.take(ctx, "alarm-burst")

	// 5. English.
	b.do("switch language", chromedp.Click(chromedp.CSS("#lang")))
	assert.Equal(t, "en", b.eval("document.documentElement.lang"))
	assert.Contains(t, b.eval("document.querySelector('h1').textContent"), "Customs console")
	assert.Contains(t, b.eval("document.querySelector('#h-gates').textContent"), "Gate board")
	assert.Contains(t, b.eval(`document.querySelector('#moves tr[data-id="`+d.ID+`"]').textContent`), "crossed")
	assert.Contains(t, b.eval(`document.querySelector('#alarms li.alarm .alarm-msg').textContent`), "on segment 3")
	sh.take(ctx, "english")

	// 6. Statistics of 2025 (the source's history, seeded): drawn as SVG.
	b.do("choose 2025", chromedp.SetValue(chromedp.CSS("#period"), "2025"))
	b.eval("String(document.querySelector('#period').dispatchEvent(new Event('change')))")
	b.waitJS("monthly bars are drawn", "document.querySelectorAll('#chart-monthly svg rect').length > 0")
	b.waitJS("the transit histogram is drawn with its 40-minute mark", "document.querySelector('#chart-transit svg line.mark')")
	// Counts are worded for their number: never "Last 1 arrivals".
	note := b.eval("document.querySelector('#transit-note').textContent")
	assert.Regexp(t, `^(The last arrival|Last ([02-9]|\d{2,}) arrivals); \d+ within 40 minutes\.$`, note)
	assert.Equal(t, "The last arrival; 1 within 40 minutes.", b.eval("i18nText('en', 'stats.transit.note', {n: 1, w: 1})"))
	assert.Equal(t, "Last 2 arrivals; 1 within 40 minutes.", b.eval("i18nText('en', 'stats.transit.note', {n: 2, w: 1})"))
	assert.Equal(t, "最近 1 次到达中，1 次在 40 分钟内。", b.eval("i18nText('zh-CN', 'stats.transit.note', {n: 1, w: 1})"))
	b.do("scroll to the statistics", chromedp.ScrollIntoView(chromedp.CSS("#h-stats")))
	sh.take(ctx, "stats-2025")

	// 7. The API goes away: the page says it is behind and reconnects by
	// itself; what happens after is live again without a reload.
	apiProc.StopWithin(t, 20*time.Second)
	b.waitJS("the page says it is behind", "document.querySelector('#conn.conn-behind')")
	sh.take(ctx, "behind")
	apiProc2 := start(t, binary, apiArgs...)
	waitHealthy(t, api)
	b.waitJS("the stream is live again", "document.querySelector('#conn.conn-live')")
	d2 := declare("956-483", "STAND-0043")
	b.waitJS("a new declaration appears live after the reconnect", `document.querySelector('#queue tr[data-id="`+d2.ID+`"]')`)
	assert.Equal(t, windowCell, b.eval(`document.querySelector('#queue tr[data-id="`+d2.ID+`"] td.small').textContent`),
		"the same window reads the same in English")
	assert.Equal(t, "still here", b.eval("String(window.__noReload)"))
	sh.take(ctx, "reconnected")

	// A tablet: one column, alarms right after the gates, nothing cut off.
	b.do("tablet viewport", chromedp.EmulateViewport(820, 1180, chromedp.EmulatePortrait))
	b.waitJS("one column on a tablet", `(() => {
		const g = document.querySelector('.gates').getBoundingClientRect(), a = document.querySelector('.alarms').getBoundingClientRect();
		return a.top > g.bottom && Math.abs(a.left - g.left) < 2 && document.documentElement.scrollWidth <= 820;
	})()`)
	sh.take(ctx, "tablet")

	// The token never reached a URL or a log: the fragment stays in the browser.
	for name, p := range map[string]*proctest.Proc{"api": apiProc, "api (restarted)": apiProc2} {
		assert.False(t, strings.Contains(p.Output(), "officer-1"), "%s logged the token", name)
	}
}
