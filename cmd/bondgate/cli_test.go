package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/internal/proctest"
	"github.com/bondgate/bondgate/internal/zone"
)

// TestVersionFlag: `bondgate --version` answers like `bondgate version`.
func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 0, run([]string{arg}, &out, &errOut), arg)
		assert.Equal(t, "bondgate "+version+"\n", out.String(), arg)
		assert.Empty(t, errOut.String(), arg)
	}
}

// TestFlagValueNamesAreOneWord: Go's flag package takes a back-quoted word
// of a usage string as the value's name; `demo --help` showed
// "-api bondgate dev". Every command's flags show one word, or none.
func TestFlagValueNamesAreOneWord(t *testing.T) {
	for _, c := range commands() {
		var out, errOut bytes.Buffer
		run([]string{c.name, "--help"}, &out, &errOut)
		for line := range strings.SplitSeq(errOut.String()+out.String(), "\n") {
			if !strings.HasPrefix(line, "  -") {
				continue
			}
			assert.Regexp(t, `^  -[a-z0-9-]+( [A-Za-z_]+)?$`, line, "bondgate %s --help", c.name)
		}
	}
}

// TestSimCountsRefusalsAndSaysItsErrorOnce: a replay whose every event is
// refused (a token for another gate: 403) reports them as refused, and the
// error line names the command once ("bondgate sim: sim: ..." before).
func TestSimCountsRefusalsAndSaysItsErrorOnce(t *testing.T) {
	toks, err := zone.ParseTokens(bytes.NewReader(fixtures.Tokens()))
	require.NoError(t, err)
	addr := proctest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveGate(ctx, gateway.Config{GateID: "G-MRO-1", Addr: addr, DataDir: t.TempDir(), Tokens: toks, Log: quietLogger()})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("gate did not stop")
		}
	})
	proctest.WaitHTTP(t, "http://"+addr+"/healthz", 30*time.Second)

	rec := filepath.Join("..", "..", "fixtures", "streams", "genx-direct-entry.jsonl")
	var out, errOut bytes.Buffer
	code := run([]string{"sim", "--gate", "http://" + addr, "--token", "gate-main", rec}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "14 events: 0 accepted, 0 duplicates, 14 refused", "all 14 got 403")
	assert.True(t, strings.HasPrefix(errOut.String(), "bondgate sim: the token may not post"), "%q", errOut.String())
	assert.Equal(t, 1, strings.Count(errOut.String(), "sim:"), "%q", errOut.String())
}

// TestTwoDevInstancesSideBySide runs two `bondgate dev` at once, each on its
// own ports given by --broker-addr, --api-addr and --gate-addrs (never the
// default ones), checks every part of both answers, and that no log line of
// either says a key twice (`component=… component=…` before).
func TestTwoDevInstancesSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	type dev struct {
		p                  *proctest.Proc
		api, mro, mainGate string
	}
	var devs []dev
	for range 2 {
		d := dev{api: proctest.FreeAddr(t), mro: proctest.FreeAddr(t), mainGate: proctest.FreeAddr(t)}
		d.p = proctest.Start(t, binary, nil, "dev", "--data", t.TempDir(), "--broker-addr", proctest.FreeAddr(t), "--api-addr", d.api,
			"--gate-addrs", "G-MRO-1="+d.mro+",G-MAIN="+d.mainGate, "--log-format", "json")
		devs = append(devs, d)
	}
	for _, d := range devs {
		for _, a := range []string{d.api, d.mro, d.mainGate} {
			proctest.WaitHTTP(t, "http://"+a+"/healthz", 30*time.Second)
		}
		assert.Contains(t, d.p.Output(), "http://"+d.mro, "the banner names the gate's address")
		st, _ := proctest.Call(t, "GET", "http://"+d.api+"/v1/predeclarations", "officer-1", "")
		assert.Equal(t, 200, st)
		// The gate's readiness needs its store; its link reaches its own broker.
		for _, g := range []string{d.mro, d.mainGate} {
			assert.Eventually(t, func() bool {
				st, body := proctest.Call(t, "GET", "http://"+g+"/readyz", "", "")
				return st == 200 && body["link"] == "up"
			}, 30*time.Second, 100*time.Millisecond, "gate %s ready with its link up", g)
		}
	}
	for _, d := range devs {
		assert.Equal(t, 0, d.p.Stop(t), "exit code after SIGTERM")
		assertEachKeyOnce(t, d.p.Output())
	}
}

// assertEachKeyOnce checks every JSON log line in out names each key once
// (encoding/json would silently keep the last of two).
func assertEachKeyOnce(t *testing.T, out string) {
	t.Helper()
	lines := 0
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the banner
		}
		lines++
		dec := json.NewDecoder(strings.NewReader(line))
		keys := map[string]int{}
		if _, err := dec.Token(); !assert.NoError(t, err, line) {
			continue
		}
		for dec.More() {
			k, err := dec.Token()
			if !assert.NoError(t, err, line) {
				break
			}
			keys[fmt.Sprint(k)]++
			var skip json.RawMessage
			if !assert.NoError(t, dec.Decode(&skip), line) {
				break
			}
		}
		for k, n := range keys {
			assert.Equal(t, 1, n, "key %q %d times in %s", k, n, line)
		}
	}
	assert.Positive(t, lines, "no JSON log lines")
}
