// Package bench is the performance harness of README "Performance" behind
// `bondgate bench run`: it starts real processes (the running binary's
// broker, gate and api commands), loads them, and reports every figure with
// a baseline measured in the same run and the ratio.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchTokens is the tokens file every bench process reads.
const benchTokens = `[{"token":"mro-hna","role":"mro","firm":"HNA-TECHNIC"},
 {"token":"mro-gameco","role":"mro","firm":"GAMECO"},
 {"token":"officer-1","role":"customs","officer":"HK-0031"},
 {"token":"gate-mro-1","role":"gate","gate":"G-MRO-1"},
 {"token":"auditor-1","role":"auditor"}]`

const (
	benchGate       = "G-MRO-1"
	benchGateToken  = "gate-mro-1"
	benchCustoms    = "officer-1"
	benchMROToken   = "mro-hna"
	benchMROFirm    = "HNA-TECHNIC"
	benchOtherToken = "mro-gameco"
)

// benchEnv is what one `bench run` shares: the binary, a scratch folder,
// the tokens file and a log of the processes it started.
type benchEnv struct {
	bin    string
	dir    string
	tokens string
	log    *slog.Logger
	out    io.Writer
	procs  []*benchProc
	// Measurements at a size already taken in this run are reused by
	// figure 6 rather than seeded again.
	drains map[int]drainResult
	reads  map[int]readsResult
}

// benchProc is a child process of the harness.
type benchProc struct {
	name string
	cmd  *exec.Cmd
	addr string
	logf *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
	once sync.Once
}

// freePort picks a loopback port nobody listens on.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs `bondgate args...` with its log in the scratch folder.
func (e *benchEnv) start(name, addr string, args ...string) (*benchProc, error) {
	logf, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = benchChildEnv()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &benchProc{name: name, cmd: cmd, addr: addr, logf: logf, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	e.procs = append(e.procs, p)
	return p, nil
}

// benchChildEnv is the environment without BONDGATE_* variables, so an
// operator's settings cannot change what the benchmark measures.
func benchChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BONDGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (p *benchProc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.logf.Close()
	})
}

// pid is the child's process ID.
func (p *benchProc) pid() int { return p.cmd.Process.Pid }

// stopAll stops whatever is still running.
func (e *benchEnv) stopAll() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.procs = nil
}

// benchWaitHTTP polls url until it answers 200 or the deadline passes.
func benchWaitHTTP(ctx context.Context, url string, within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		res, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer within %v", url, within)
}

// startBroker starts `bondgate broker` (in memory) and waits for it.
func (e *benchEnv) startBroker(ctx context.Context) (*benchProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := e.start("broker", addr, "broker", "--addr", addr, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			// Topics are created right after listening: give it a moment.
			time.Sleep(300 * time.Millisecond)
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("broker exited: %v (see %s)", p.err, p.logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, errors.New("broker did not listen within 30 s")
}

// startGate starts `bondgate gate` on dataDir and returns once /healthz
// answers, with how long that took from the process start.
func (e *benchEnv) startGate(ctx context.Context, name, dataDir, brokers string, extra ...string) (*benchProc, time.Duration, error) {
	addr, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	args := append([]string{"gate", "--id", benchGate, "--addr", addr, "--data", dataDir, "--brokers", brokers,
		"--tokens", e.tokens, "--device-rate", "-1", "--log-level", "warn"}, extra...)
	p, err := e.start(name, addr, args...)
	if err != nil {
		return nil, 0, err
	}
	up, err := benchWaitHTTP(ctx, "http://"+addr+"/healthz", 120*time.Second)
	if err != nil {
		p.stop()
		return nil, 0, fmt.Errorf("%s: %w (see %s)", name, err, p.logf.Name())
	}
	return p, up, nil
}

// startAPI starts `bondgate api` on dataDir.
func (e *benchEnv) startAPI(ctx context.Context, dataDir, brokers string) (*benchProc, time.Duration, error) {
	addr, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	p, err := e.start("api", addr, "api", "--addr", addr, "--data", dataDir, "--brokers", brokers, "--tokens", e.tokens,
		"--log-level", "warn")
	if err != nil {
		return nil, 0, err
	}
	up, err := benchWaitHTTP(ctx, "http://"+addr+"/healthz", 120*time.Second)
	if err != nil {
		p.stop()
		return nil, 0, fmt.Errorf("api: %w (see %s)", err, p.logf.Name())
	}
	return p, up, nil
}

// procMem reads a process's memory figures (kB) from /proc/<pid>/status:
// VmHWM (peak resident), VmRSS, RssAnon (heap and stacks) and RssFile
// (mapped file pages: bbolt's mmap).
type procMem struct {
	HWM, RSS, Anon, File int64
}

func readProcMem(pid int) (procMem, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			m.HWM = n
		case "VmRSS:":
			m.RSS = n
		case "RssAnon:":
			m.Anon = n
		case "RssFile:":
			m.File = n
		}
	}
	return m, nil
}

// mib formats kB as MiB.
func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

// loadAverage is the 1-minute load average, for the table's header.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// httpJSON does one request with a bearer token and decodes a JSON answer.
func httpJSON(ctx context.Context, client *http.Client, method, url, token string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// procCPU is a process's user plus system CPU time so far, from
// /proc/<pid>/stat (utime and stime, in clock ticks of 1/100 s).
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of the whole line
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
