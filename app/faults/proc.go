package faults

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"chat/app/apptest"
)

// Build compiles the chat binary (module "chat") into dir and returns its path. Call it once
// from TestMain; the go build cache makes later builds cheap.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "chat")
	cmd := exec.Command("go", "build", "-o", bin, "chat")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -o %s chat: %v\n%s", bin, err, out)
	}
	return bin, nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Proc is the chat binary running as a separate process.
type Proc struct {
	T    testing.TB
	Bin  string
	Addr string   // 127.0.0.1:port it listens on
	Env  []string // KEY=VALUE settings on top of the inherited environment

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	state  *os.ProcessState
}

// StartProc runs "chat serve" with ADDR=addr (a free one when ""), cheap password hashes and
// warn-level logs, plus env, and waits until /healthz answers 200. The process is killed when
// the test ends if it still runs.
func StartProc(t testing.TB, bin, addr string, env ...string) *Proc {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	p := &Proc{T: t, Bin: bin, Addr: addr, Env: env}
	p.start()
	t.Cleanup(func() {
		if p.Running() {
			p.Kill()
		}
	})
	return p
}

// Restart starts the binary again on the same address with the same settings (after it
// exited: kill or stop it first).
func (p *Proc) Restart() {
	p.T.Helper()
	if p.Running() {
		p.T.Fatalf("restart: the server on %s still runs", p.Addr)
	}
	p.start()
}

func (p *Proc) start() {
	p.T.Helper()
	cmd := exec.Command(p.Bin, "serve")
	cmd.Env = append(os.Environ(), "ADDR="+p.Addr, "BCRYPT_COST=4", "LOG_LEVEL=warn", "PPROF_ADDR=")
	cmd.Env = append(cmd.Env, p.Env...) // later entries win
	p.out = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.T.Fatalf("starting %s: %v", p.Bin, err)
	}
	p.cmd, p.exited, p.state = cmd, make(chan struct{}), nil
	exited := p.exited
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(exited)
	}()
	// The address may still be held for a moment by the previous process (restart on the
	// same port): wait for this process to answer, or to fail.
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			p.T.Fatalf("chat serve on %s exited at start (%v):\n%s", p.Addr, p.state, p.Output())
		default:
		}
		resp, err := client.Get("http://" + p.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				client.CloseIdleConnections()
				return
			}
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("chat serve on %s did not become healthy in 30s:\n%s", p.Addr, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) {
	p.T.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.T.Fatalf("signal %v: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.T.Helper()
	p.Signal(syscall.SIGKILL)
	if _, ok := p.Wait(10 * time.Second); !ok {
		p.T.Fatalf("process %d did not die of SIGKILL", p.Pid())
	}
}

// Wait waits at most d for the process to exit and returns its exit code (-1 when a signal
// ended it); ok is false when it still runs.
func (p *Proc) Wait(d time.Duration) (code int, ok bool) {
	select {
	case <-p.exited:
		return p.state.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

// Output is everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Site returns an apptest.Env that only describes where the process listens, so apptest's
// clients (forms, cookies, websockets) can talk to it. Its Server is nil: do not Stop it.
func (p *Proc) Site() *apptest.Env {
	return Site(p.T, p.Addr)
}

// Site describes a server that runs elsewhere, at addr, for apptest's clients.
func Site(t testing.TB, addr string) *apptest.Env {
	return &apptest.Env{T: t, Addr: addr, BaseURL: "http://" + addr}
}

// On returns a client that talks to site with c's cookie jar: a browser that got its session
// on one node and now reaches another (cookies are per host, not per port).
func On(c *apptest.Client, site *apptest.Env) *apptest.Client {
	return &apptest.Client{Env: site, HTTP: c.HTTP, Username: c.Username}
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test's readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RequireServices reports whether CHAT_REQUIRE_SERVICES=1: a missing service fails the test
// instead of skipping it.
func RequireServices() bool { return os.Getenv("CHAT_REQUIRE_SERVICES") == "1" }

// Missing skips the test because a service is missing, or fails it under
// CHAT_REQUIRE_SERVICES=1.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireServices() {
		t.Fatal(msg + " (CHAT_REQUIRE_SERVICES=1)")
	}
	t.Skip(msg)
}
