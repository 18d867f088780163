package ops

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertTestsFile = "prometheus/alerts_test.yml"
)

// promtool finds promtool (Debian package `prometheus`; `make tools`
// installs it). Without it the rule checks are skipped, loudly.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("SKIPPED: promtool is not on PATH, so the alert rules were NOT checked. " +
			"Install it with `make tools` (as root: apt-get install -y prometheus).")
	}
	return p
}

// TestAlertRulesAreValid runs `promtool check rules` on the rules and
// `promtool test rules` on their unit tests (each alert fires when it
// should, with the labels and text the operator will read).
func TestAlertRulesAreValid(t *testing.T) {
	pt := promtool(t)
	out, err := exec.Command(pt, "check", "rules", alertsFile).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	assert.Contains(t, string(out), "SUCCESS")

	cmd := exec.Command(pt, "test", "rules", filepath.Base(alertTestsFile))
	cmd.Dir = filepath.Dir(alertTestsFile)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "promtool test rules:\n%s", out)
	assert.Contains(t, string(out), "SUCCESS")
}

// alertRule is what this test needs from one rule in alerts.yml.
type alertRule struct {
	name, expr      string
	summary, sevity bool
}

// readAlertRules pulls each alert's name and expression out of the rules
// file. The file is simple, regular YAML: `- alert: NAME` starts a rule,
// `expr:` is either inline or a block scalar (`|`) of deeper-indented lines.
func readAlertRules(t *testing.T) []alertRule {
	t.Helper()
	raw, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	var (
		rules []alertRule
		lines = strings.Split(string(raw), "\n")
	)
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, "- alert:"):
			rules = append(rules, alertRule{name: strings.TrimSpace(strings.TrimPrefix(l, "- alert:"))})
		case strings.HasPrefix(l, "expr:") && len(rules) > 0:
			v := strings.TrimSpace(strings.TrimPrefix(l, "expr:"))
			if v == "|" || v == ">" || v == "|-" || v == ">-" {
				base := indent(lines[i])
				var block []string
				for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || indent(lines[i+1]) > base) {
					i++
					block = append(block, strings.TrimSpace(lines[i]))
				}
				v = strings.Join(block, " ")
			}
			rules[len(rules)-1].expr = v
		case strings.HasPrefix(l, "summary:") && len(rules) > 0:
			rules[len(rules)-1].summary = true
		case strings.HasPrefix(l, "severity:") && len(rules) > 0:
			rules[len(rules)-1].sevity = true
		}
	}
	return rules
}

var metricName = regexp.MustCompile(`\bbondgate_[a-zA-Z0-9_:]+`)

// TestAlertsCoverTheIssue: the alerts the operator kit promises exist, and
// each has a severity and a summary.
func TestAlertsCoverTheIssue(t *testing.T) {
	rules := readAlertRules(t)
	names := map[string]alertRule{}
	for _, r := range rules {
		names[r.name] = r
		assert.NotEmpty(t, r.expr, "%s has an expression", r.name)
		assert.True(t, r.summary, "%s has a summary", r.name)
		assert.True(t, r.sevity, "%s has a severity", r.name)
	}
	for _, want := range []string{
		"BondgateKafkaLinkDown",            // link down > 2 min
		"BondgateOldestUndeliveredEvent",   // oldest undelivered > 5 min
		"BondgateSensorSilent",             // sensor silent
		"BondgateQuarantineNotEmpty",       // quarantine not empty
		"BondgateOpenCrossingAlarms",       // open unauthorized/unidentified alarms
		"BondgateTemporaryEntryOverdue",    // overdue temporary entries
		"BondgateGreenChannelDecisionLate", // decision waiting over the target
		"BondgateStandbyLagging",           // standby behind the changelog
		"BondgateNoWritableAPI",            // no node holds the lease
	} {
		assert.Contains(t, names, want)
	}
	assert.Contains(t, names["BondgateOpenCrossingAlarms"].expr, "unauthorized_crossing")
	assert.Contains(t, names["BondgateOpenCrossingAlarms"].expr, "unidentified_crossing")
}

// TestAlertMetricsAreServed starts the real binary as `api` and `gate`,
// makes the gate see a sensor and decide a crossing, and checks that every
// metric an alert reads is on one of their /metrics pages. An alert on a
// metric nobody serves never fires: this is the test that catches a rename.
func TestAlertMetricsAreServed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the binary")
	}
	bin := buildBinary(t)
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(tokens, []byte(`[{"token":"gate-ops","role":"gate","gate":"G-OPS"},
 {"token":"officer-ops","role":"customs","officer":"HK-0001"}]`), 0o600))
	noBroker := proctest.FreeAddr(t) // nothing listens: both start and report the link down

	apiAddr, gateAddr := proctest.FreeAddr(t), proctest.FreeAddr(t)
	startProc(t, bin, "api", "--addr", apiAddr, "--data", t.TempDir(), "--brokers", noBroker, "--tokens", tokens)
	startProc(t, bin, "gate", "--id", "G-OPS", "--addr", gateAddr, "--data", t.TempDir(), "--brokers", noBroker,
		"--tokens", tokens, "--window", "1s")
	proctest.WaitHTTP(t, "http://"+apiAddr+"/healthz", 30*time.Second)
	proctest.WaitHTTP(t, "http://"+gateAddr+"/healthz", 30*time.Second)

	// A heartbeat and an infrared crossing nobody identified: sensor series
	// and a decision (unidentified) appear once the window has passed.
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	events := fmt.Sprintf(`[
 {"event_id":"IR-1-1","device_id":"IR-1","gate":"G-OPS","time":%q,"type":"infrared.break","beam":"A","segment":1},
 {"event_id":"IR-1-2","device_id":"IR-1","gate":"G-OPS","time":%q,"type":"infrared.break","beam":"B","segment":1},
 {"event_id":"IR-1-3","device_id":"IR-1","gate":"G-OPS","time":%q,"type":"heartbeat"}]`,
		ts(-10*time.Second), ts(-9*time.Second), ts(0))
	req, err := http.NewRequest("POST", "http://"+gateAddr+"/v1/events", strings.NewReader(events))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer gate-ops")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)

	want := map[string][]string{} // metric -> alerts that read it
	for _, r := range readAlertRules(t) {
		for _, m := range metricName.FindAllString(r.expr, -1) {
			want[m] = append(want[m], r.name)
		}
	}
	require.NotEmpty(t, want)

	var served map[string]bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		served = scrape(t, "http://"+apiAddr+"/metrics")
		for m := range scrape(t, "http://"+gateAddr+"/metrics") {
			served[m] = true
		}
		if len(missing(want, served)) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range missing(want, served) {
		t.Errorf("metric %s (read by %s) is on neither /metrics page", m, strings.Join(want[m], ", "))
	}
}

func missing(want map[string][]string, served map[string]bool) []string {
	var out []string
	for m := range want {
		if !served[m] {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// scrape returns the metric family names on a /metrics page, with
// histogram and summary sample names (_bucket, _sum, _count) too.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name := l
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name = l[:i]
		}
		out[name] = true
	}
	require.NoError(t, sc.Err())
	return out
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds cmd/bondgate once for the package's tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bondgate-ops")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "bondgate")
		if out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/bondgate").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

// TestEnvExamplesNameRealFlags: every BONDGATE_* variable in the env file
// examples (commented or not) is a flag of the command the unit runs, so
// an operator copying them gets no "bad environment" refusal or silent no-op.
func TestEnvExamplesNameRealFlags(t *testing.T) {
	bin := buildBinary(t)
	// Set by the gate unit (the password file: where systemd puts the credential).
	unitOnly := map[string]bool{"BONDGATE_ID": true, "BONDGATE_DATA": true, "BONDGATE_KAFKA_PASSWORD_FILE": true}
	for file, command := range map[string]string{
		"systemd/bondgate.env.example":             "api",
		"systemd/bondgate-gate.env.example":        "gate",
		"systemd/bondgate-api-primary.env.example": "api",
		"systemd/bondgate-api-standby.env.example": "api",
	} {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		help, _ := exec.Command(bin, command, "--help").CombinedOutput()
		vars := regexp.MustCompile(`(?m)^#?(BONDGATE_[A-Z_]+)=`).FindAllStringSubmatch(string(raw), -1)
		require.NotEmpty(t, vars, file)
		for _, v := range vars {
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(v[1], "BONDGATE_"), "_", "-"))
			// A value flag is listed as "-name type", a boolean as "-name" alone.
			assert.Regexp(t, `(?m)-`+flag+`( |$)`, string(help), "%s: %s is not a flag of `bondgate %s`", file, v[1], command)
		}
	}
	for _, unit := range []string{"systemd/bondgate-gate@.service"} {
		raw, err := os.ReadFile(unit)
		require.NoError(t, err)
		for _, v := range regexp.MustCompile(`Environment=(BONDGATE_[A-Z_]+)=`).FindAllStringSubmatch(string(raw), -1) {
			assert.True(t, unitOnly[v[1]], "%s sets %s", unit, v[1])
		}
	}
	help, _ := exec.Command(bin, "gate", "--help").CombinedOutput()
	assert.Contains(t, string(help), "-id ")
	assert.Contains(t, string(help), "-data ")
}

// startProc runs the binary until the test ends, then stops it with
// SIGTERM (SIGKILL after 20 s) and shows its output if the test failed.
func startProc(t *testing.T, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out := &proctest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("bondgate %s output:\n%s", args[0], out.String())
		}
	})
}

// TestTopicsFileIsComplete: what ops/KAFKA.md and the runbook promise about
// the topics file holds (the kafka package's tests apply it to a cluster).
func TestTopicsFileIsComplete(t *testing.T) {
	raw, err := os.ReadFile("kafka/topics.json")
	require.NoError(t, err)
	specs, err := kafka.ParseTopicSpecs(raw)
	require.NoError(t, err)
	for _, sp := range specs {
		assert.Equal(t, 3, sp.ReplicationFactor, sp.Name)
		assert.Equal(t, "2", sp.Configs["min.insync.replicas"], sp.Name)
		assert.Equal(t, "false", sp.Configs["unclean.leader.election.enable"], sp.Name)
		if sp.Configs["cleanup.policy"] == "compact" {
			assert.Contains(t, []string{"bondgate.zone.clearances", "bondgate.zone.changelog"}, sp.Name,
				"only clearances and the changelog are compacted")
			continue
		}
		assert.NotEmpty(t, sp.Configs["retention.ms"], "%s has a retention", sp.Name)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}
