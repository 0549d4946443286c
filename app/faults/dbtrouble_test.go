package faults

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"chat/app/apptest"
)

// TestDatabaseLocked: another connection holds the SQLite file's write lock (BEGIN
// EXCLUSIVE) for longer than the server's busy timeout (5 s). The message sent meanwhile
// gets store_failed and is not stored; the server keeps serving (pages, health, sockets);
// once the lock is released sending works again, and a resend with the same client id
// stores the failed message once. One case only: each failure waits out the 5 s timeout.
func TestDatabaseLocked(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	e := apptest.Start(t, cfg)
	m := NewMember(t, e.NewUser("alice"), "lobby")
	m.MustConnect()
	if _, err := m.Send("before the lock"); err != nil { // warms the prepared statements up
		t.Fatal(err)
	}
	waitAcked(t, m)

	db, err := sql.Open("sqlite3", "file:"+cfg.DatabaseURL+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	locker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("taking the write lock: %v", err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := locker.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatalf("releasing the write lock: %v", err)
			}
		}
	}
	defer unlock()

	const failing = "while-locked"
	if err := m.SendID(failing, "sent while the database is locked"); err != nil {
		t.Fatal(err)
	}
	expectReading(t, m.Client())
	if _, _, err := m.Current().WaitType(20*time.Second, 0, "error", func(f apptest.Frame) bool {
		return f.Str("code") == "store_failed" && f.Str("client_id") == failing
	}); err != nil {
		t.Fatalf("the sender of a message the locked database refused: %v", err)
	}
	if _, ok := m.Acked()[failing]; ok {
		t.Fatal("the refused message was acknowledged")
	}
	expectReading(t, m.Client())
	// The room page marks the room read, a write: it waits for the lock.
	quick := &http.Client{Jar: m.Client().HTTP.Jar, Timeout: 2 * time.Second}
	// Known limit, logged rather than failed: while another process holds the write lock the
	// room page can wait out SQLite's busy timeout (5 s) before it renders.
	if resp, err := quick.Get(e.BaseURL + "/chat/lobby/"); err != nil {
		t.Logf("known limit: the room page waits while another process holds the write lock: %v", err)
	} else {
		resp.Body.Close()
	}
	unlock()
	expectServing(t, e, m.Client())

	recovers(t, m, failing)
}

// TestDiskFull: the SQLite file lives on a small tmpfs that a filler file makes full. The
// message sent then gets store_failed and is not stored, the server keeps serving, and once
// the filler is deleted sending works again and a resend of the failed one is stored once.
// It needs to mount a tmpfs (root); otherwise it skips.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	// Registered after the mount, so it runs after the server (started below) has stopped.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the tmpfs: %v", err)
		}
	})
	cfg := apptest.Config(t)
	cfg.DatabaseURL = filepath.Join(dir, "chat.db")
	e := apptest.Start(t, cfg)
	m := NewMember(t, e.NewUser("alice"), "lobby")
	m.MustConnect()
	if _, err := m.Send("before the disk filled up"); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, m)

	filler := filepath.Join(dir, "filler")
	if n := fill(t, filler); n == 0 {
		t.Fatal("the tmpfs was already full")
	}
	defer os.Remove(filler)

	const failing = "disk-full"
	if err := m.SendID(failing, "sent while the disk is full"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Current().WaitType(15*time.Second, 0, "error", func(f apptest.Frame) bool {
		return f.Str("code") == "store_failed" && f.Str("client_id") == failing
	}); err != nil {
		t.Fatalf("the sender of a message the full disk refused: %v (acks: %v)", err, m.Acked())
	}
	expectServing(t, e, m.Client())
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	recovers(t, m, failing)
}

// fill writes a file until the file system is full and returns how much it wrote.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(chunk)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("filling the disk: %v", err)
		}
	}
	for size := len(chunk) / 2; size > 0; size /= 2 { // the last scraps
		w, _ := f.Write(chunk[:size])
		n += int64(w)
	}
	return n
}

// expectReading checks that what only reads the database still answers: a new socket with
// its catch-up. (Not /healthz: it pings the writer pool too, whose one connection waits on the
// lock, so it answers 503 while the lock is held, which is fair: the database cannot write.)
func expectReading(t *testing.T, c *apptest.Client) {
	t.Helper()
	s := c.MustDial("elsewhere", "since=0")
	s.Expect("catchup")
	s.Conn.Close()
}

// expectServing checks that the server still answers: health, a page, and a new socket.
func expectServing(t *testing.T, e *apptest.Env, c *apptest.Client) {
	t.Helper()
	if r := c.Get("/healthz"); r.Status != http.StatusOK {
		t.Errorf("/healthz: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/chat/lobby/"); r.Status != http.StatusOK {
		t.Errorf("room page: %d", r.Status)
	}
	s := c.MustDial("elsewhere", "since=0")
	s.Expect("catchup")
	s.Conn.Close()
}

// recovers checks that, the trouble over, a new message is stored, the failed one was not,
// and resending the failed one with its client id stores it once.
func recovers(t *testing.T, m *Member, failing string) {
	t.Helper()
	after, err := m.Send("after the trouble")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := m.Acked()[after]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ack for a message sent after the trouble; errors: %v", m.Failed())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stored := CatchUp(t, m.Client(), m.Room, 0)
	if slices.ContainsFunc(stored, func(f apptest.Frame) bool { return f.Str("client_id") == failing }) {
		t.Fatalf("the message that got store_failed is stored")
	}
	if err := m.SendID(failing, "resent"); err != nil {
		t.Fatal(err)
	}
	ack, _, err := m.Current().WaitType(15*time.Second, 0, "ack", func(f apptest.Frame) bool {
		return f.Str("client_id") == failing
	})
	if err != nil {
		t.Fatal(err)
	}
	if dup, _ := ack["duplicate"].(bool); dup {
		t.Errorf("the resend of a refused message is a duplicate: it had been stored")
	}
	n := 0
	for _, f := range CatchUp(t, m.Client(), m.Room, 0) {
		if f.Str("client_id") == failing {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the resent message is stored %d times, want 1", n)
	}
}
