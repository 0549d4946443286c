package faults

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a private redis-server on a free port, with no persistence, that a test may
// stop and start again: never the shared Redis other test packages use.
type RedisServer struct {
	T    testing.TB
	Port int
	Addr string // 127.0.0.1:port
	URL  string // redis://127.0.0.1:port/0

	bin    string
	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// StartRedis starts a private redis-server; it skips the test (fails it under
// CHAT_REQUIRE_SERVICES=1) when redis-server is not installed. It is stopped when the test
// ends.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(t, "redis-server is not installed (a private one is needed to stop and restart it): %v", err)
	}
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	r := &RedisServer{T: t, Port: n, Addr: addr, URL: "redis://" + addr + "/0", bin: bin, dir: t.TempDir()}
	r.Start()
	t.Cleanup(func() {
		if r.Running() {
			r.Stop(syscall.SIGKILL)
		}
	})
	return r
}

// Start starts redis-server on the server's port (again, after Stop) and waits until it
// answers PING.
func (r *RedisServer) Start() {
	r.T.Helper()
	if r.cmd != nil && r.Running() {
		r.T.Fatalf("redis-server on %s already runs", r.Addr)
	}
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no",
			"--protected-mode", "no", "--loglevel", "warning")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			r.T.Fatalf("starting redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		r.cmd, r.out, r.exited = cmd, out, exited
		if r.waitReady(exited, deadline) {
			return
		}
		if time.Now().After(deadline) {
			r.T.Fatalf("redis-server on %s did not start:\n%s", r.Addr, out.String())
		}
		time.Sleep(100 * time.Millisecond) // the port may still be held by the previous one
	}
}

// waitReady polls PING until +PONG (true) or the process exits (false).
func (r *RedisServer) waitReady(exited chan struct{}, deadline time.Time) bool {
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if ping(r.Addr) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Stop(syscall.SIGKILL)
	return false
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Stop sends sig (SIGTERM or SIGKILL) and waits for the process to exit.
func (r *RedisServer) Stop(sig syscall.Signal) {
	r.T.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil && err != os.ErrProcessDone {
		r.T.Fatalf("signal redis-server: %v", err)
	}
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.T.Fatalf("redis-server did not exit after %v", sig)
	}
}

// Running reports whether the redis-server process is alive.
func (r *RedisServer) Running() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}
