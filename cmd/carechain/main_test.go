package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/trust"
)

// binary is the carechain executable built once for the tests that run it as
// a subprocess, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "carechain-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "carechain")
	args := []string{"build", "-o", binary}
	if trust.Built { // the binary has the trust bypass if this test does (-tags notrust)
		args = append(args, "-tags", "notrust")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build carechain:", err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 && !checkReadme() {
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

const testPassphrase = "correct horse battery staple"

// run runs the binary to completion and returns its combined output.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	noteRun(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := run(t, env, args...)
	if err != nil {
		t.Fatalf("carechain %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func passEnv(p string) []string { return []string{PassphraseEnv + "=" + p} }

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := node.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// process is a carechain subprocess that keeps running (start, demo).
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed once the process has exited and err is set
	err    error         // from cmd.Wait
}

// syncBuffer is a bytes.Buffer the subprocess writes while the test reads;
// a test can wait for the next write.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	grew chan struct{} // closed by the next Write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grew != nil {
		close(s.grew)
		s.grew = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// next returns what has been written so far and a channel closed by the
// next write.
func (s *syncBuffer) next() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grew == nil {
		s.grew = make(chan struct{})
	}
	return s.b.String(), s.grew
}

func (p *process) output() string { return p.out.String() }

func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startBinary(t, binary, env, args...)
}

// startBinary is startProcess with another carechain build, bin.
func startBinary(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	noteRun(args)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// interrupt sends SIGINT (Ctrl-C) and waits for a clean exit.
func (p *process) interrupt(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Fatalf("exit after Ctrl-C: %v\n%s", p.err, p.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30s after Ctrl-C\n%s", p.out)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// waitOutput waits until the process has printed want, looking again at
// each write; it fails if the process exits without printing it.
func waitOutput(t *testing.T, p *process, want string, limit time.Duration) {
	t.Helper()
	timeout := time.After(limit)
	for {
		out, grew := p.out.next()
		if strings.Contains(out, want) {
			return
		}
		select {
		case <-grew:
		case <-p.exited: // its output is complete
			if !strings.Contains(p.output(), want) {
				t.Fatalf("exited (%v) without printing %q:\n%s", p.err, want, p.output())
			}
			return
		case <-timeout:
			t.Fatalf("no %q within %v:\n%s", want, limit, p.output())
		}
	}
}

// waitFor checks cond at once and then every 50 ms until it returns nil. It
// is for what the process cannot tell the test about: its HTTP API
// answering, the chain reaching a state (what it prints, waitOutput waits
// for). The test fails, with what it waited for, cond's last error and the
// process's output, if the process exits or limit passes first.
func (p *process) waitFor(t *testing.T, limit time.Duration, what string, cond func() error) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-p.exited:
			t.Fatalf("process exited (%v) while waiting for %s (%v)\n%s", p.err, what, err, p.output())
		case <-timeout:
			t.Fatalf("no %s within %v: %v\n%s", what, limit, err, p.output())
		}
	}
}

// waitHealthy waits until /readyz answers 200 (caught up, serving), and
// returns how long it took.
func waitHealthy(t *testing.T, p *process, addr string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitHealthyOver(t, p, http.DefaultClient, "http://"+addr, limit)
	return time.Since(start)
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
