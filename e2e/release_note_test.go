package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/internal/proctest"
)

// The printable release note in headless Chromium: the page loads under
// the API's CSP with its stylesheet, the console's timeline links to it,
// and printed to PDF (A4) it holds the number and the Chinese labels.
func TestReleaseNotePrintsToPDF(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short")
	}
	chrome := chromium(t)
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("SKIPPED: pdftotext not installed (Debian poppler-utils; `make browser` installs it): the release-note print test did not run")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "bondgate")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/bondgate").CombinedOutput()
	require.NoError(t, err, "build: %s", out)
	tokens := filepath.Join(dir, "tokens.json")
	require.NoError(t, os.WriteFile(tokens, fixtures.Tokens(), 0o600))
	brokerAddr, apiAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	api := "http://" + apiAddr
	start(t, binary, "broker", "--addr", brokerAddr)
	start(t, binary, "api", "--addr", apiAddr, "--data", filepath.Join(dir, "api"), "--brokers", brokerAddr,
		"--tokens", tokens, "--gates", "G-MRO-1,G-MAIN")
	waitHealthy(t, api)

	now := time.Now().UTC()
	var d declaration
	require.Equal(t, http.StatusCreated, call(t, http.MethodPost, api+"/v1/predeclarations", "mro-hna", map[string]any{
		"object":    map[string]any{"kind": "engine", "esn": "956-482", "model": "GEnx-1B", "owner": "Qatar Airways"},
		"direction": "in", "gate": "G-MRO-1",
		"window":         map[string]any{"from": now.Add(-time.Hour).Format(time.RFC3339), "to": now.Add(5 * time.Hour).Format(time.RFC3339)},
		"regime":         "bonded_maintenance",
		"declared_value": map[string]any{"amount": "182000000.00", "currency": "CNY"},
		"hs_code":        "84111200", "conveyance": map[string]any{"stand_tag": "STAND-0042", "vehicle_plate": "琼A·D1234"},
	}, &d))
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, api+"/v1/predeclarations/"+d.ID+"/decision", "officer-1",
		map[string]any{"decision": "clear"}, nil))
	var note struct {
		Number string `json:"number"`
	}
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, api+"/v1/predeclarations/"+d.ID+"/release-note", "mro-hna", nil, &note))
	require.NotEmpty(t, note.Number)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(filepath.Join(dir, "chromium")),
			chromedp.WindowSize(1200, 1000))...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	b := &browser{t: t, ctx: ctx}
	_, err = chromedp.Run(ctx, chromedp.Evaluate[int]("1"))
	require.NoError(t, err, "start Chromium")

	// The console's timeline shows the number with a link to the page.
	b.do("open the console", chromedp.Navigate(api+"/#token=officer-1"),
		chromedp.WaitVisible(chromedp.CSS(`#moves tr[data-id="`+d.ID+`"] button.link`)),
		chromedp.Click(chromedp.CSS(`#moves tr[data-id="`+d.ID+`"] button.link`)),
		chromedp.WaitVisible(chromedp.CSS(`.note-link[data-note="`+note.Number+`"]`)))

	// The page itself, as the link's tab reads it: with the officer's token.
	_, err = chromedp.Run(ctx, func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": "Bearer officer-1"}})
		return chromedp.Void{}, err
	})
	require.NoError(t, err)
	b.do("open the printable page", chromedp.Navigate(api+"/v1/predeclarations/"+d.ID+"/release-note"),
		chromedp.WaitVisible(chromedp.CSS("main.note img")))
	assert.Equal(t, "核放单 "+note.Number, b.eval("document.title"))
	assert.Equal(t, "collapse", b.eval("getComputedStyle(document.querySelector('table')).borderCollapse"),
		"the stylesheet loaded under the page's CSP")
	assert.Equal(t, "true", b.eval("String(document.querySelector('main.note img').naturalWidth > 0)"), "the QR code shows")

	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	require.NoError(t, err)
	pdfPath := filepath.Join(t.ArtifactDir(), "release-note.pdf")
	require.NoError(t, os.WriteFile(pdfPath, pdf, 0o644))
	t.Logf("printed %s", pdfPath)
	text, err := exec.Command(pdftotext, "-layout", pdfPath, "-").Output()
	require.NoError(t, err)
	page := string(text)
	assert.Contains(t, page, note.Number)
	for _, label := range []string{"核放单", "核放单编号", "申报企业", "卡口", "进出区方向", "进区", "通行时段", "审批关员",
		"签发时间", "运输工具", "托架号", "车牌号", "货物", "已审批", "HNA-TECHNIC", "G-MRO-1", "STAND-0042", "956-482"} {
		assert.Contains(t, page, label)
	}
	info, err := exec.Command("pdfinfo", pdfPath).Output()
	if err == nil {
		assert.Regexp(t, `Page size:.*\(A4\)`, string(info), "A4 paper")
		assert.Regexp(t, `Pages:\s+1\n`, string(info), "one sheet")
	}
}
