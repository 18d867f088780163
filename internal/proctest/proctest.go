// Package proctest holds what the tests that run real processes and servers
// share: free loopback addresses, starting and stopping a process, an
// output buffer, JSON calls, the dev tokens file, the contract's engine
// declaration, and waiting for an endpoint or a condition.
package proctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bondgate/bondgate/fixtures"
)

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free address: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("free address: %v", err)
	}
	return addr
}

// Buffer collects a process's output; it is safe to write from the process
// pipes while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitHTTP waits until url answers at all (any status), failing the test
// after within.
func WaitHTTP(tb testing.TB, url string, within time.Duration) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s never answered within %s", url, within)
}

// Proc is a process started by Start.
type Proc struct {
	cmd  *exec.Cmd
	out  *Buffer
	done chan struct{} // closed once the process has exited and been waited for
}

// Start runs bin with args, env added to this process's environment. The
// process is killed when the test ends if it is still running, and its
// output is logged if the test failed.
func Start(tb testing.TB, bin string, env []string, args ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{cmd: cmd, out: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			name := filepath.Base(bin)
			if len(args) > 0 {
				name += " " + args[0]
			}
			tb.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Pid is the process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to 30 s for the exit and returns the exit code.
func (p *Proc) Stop(tb testing.TB) (exit int) {
	tb.Helper()
	return p.StopWithin(tb, 30*time.Second)
}

// StopWithin is Stop with its own bound.
func (p *Proc) StopWithin(tb testing.TB, d time.Duration) (exit int) {
	tb.Helper()
	p.Signal(tb, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		tb.Fatalf("no exit %s after SIGTERM", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process.
func (p *Proc) Signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill(tb testing.TB) {
	tb.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("process survived SIGKILL")
	}
}

// Run runs bin with args to the end and returns its combined output.
func Run(tb testing.TB, bin string, args ...string) (string, error) {
	tb.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// Call sends body (JSON, or none when empty) with a bearer token and
// decodes the answer as a JSON object (nil when it is not one).
func Call(tb testing.TB, method, url, token, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// WriteTokens writes the dev tokens file into a temporary folder and
// returns its path.
func WriteTokens(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tokens.json")
	if err := os.WriteFile(path, fixtures.Tokens(), 0o600); err != nil {
		tb.Fatalf("write tokens: %v", err)
	}
	return path
}

// EngineBody is the contract's example: a firm pre-declares an engine for
// G-MRO-1, with a window around now (a window already over is refused).
func EngineBody() string {
	now := time.Now().UTC()
	return `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B","owner":"Qatar Airways"},
 "direction":"in","gate":"G-MRO-1",
 "window":{"from":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","to":"` +
		now.Add(5*time.Hour).Format(time.RFC3339) + `"},
 "regime":"bonded_maintenance","declared_value":{"amount":"182000000.00","currency":"CNY"},
 "hs_code":"84111200","conveyance":{"stand_tag":"STAND-0042","vehicle_plate":"琼A·D1234"}}`
}

// Eventually polls cond every 100 ms until it holds, failing the test with
// what once d has passed.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Build compiles the Go package pkg (an import path, or a directory
// relative to the test's) into a new temporary folder, for a TestMain that
// runs the real binary. remove deletes the folder.
func Build(pkg string) (bin string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "bondgate-bin")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	bin = filepath.Join(dir, "bondgate")
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build %s: %v\n%s", pkg, err, out)
	}
	return bin, remove, nil
}
