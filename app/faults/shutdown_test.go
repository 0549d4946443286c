package faults

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // to open the server's file after it stopped

	"chat/app/apptest"
)

// stopWithin bounds a graceful stop: the server's own shutdown timeout is 10 s.
const stopWithin = 15 * time.Second

// TestGracefulShutdown: on SIGTERM and on SIGINT, with members sending, every open socket
// gets close 1001, every message acknowledged before is stored, the process exits 0 within
// 15 s, and the SQLite file it leaves passes PRAGMA integrity_check.
func TestGracefulShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			gracefulStop(t, sig)
		})
	}
}

func gracefulStop(t *testing.T, sig syscall.Signal) {
	db := filepath.Join(t.TempDir(), "chat.db")
	p := StartProc(t, chatBin, "", "DATABASE_URL="+db, "REDIS_URL=", "MESSAGE_RATE=0", "MESSAGE_BURST=0")
	site := p.Site()
	var members []*Member
	for i := range 3 {
		m := NewMember(t, site.NewUser(fmt.Sprintf("user%d", i)), []string{"lobby", "lobby", "side"}[i])
		m.MustConnect()
		members = append(members, m)
	}
	// Settled traffic first: all acknowledged.
	for _, m := range members {
		for i := range 10 {
			if _, err := m.Send(fmt.Sprintf("settled %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAcked(t, members...)

	// Then traffic in flight while the signal arrives.
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() {
			for i := range 30 {
				if _, err := m.Send(fmt.Sprintf("in flight %d", i)); err != nil {
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	signalled := time.Now()
	p.Signal(sig)
	wg.Wait()

	for _, m := range members {
		st := m.Current()
		if !st.WaitFor(stopWithin, func(_ []apptest.Frame, ended bool) bool { return ended }) {
			t.Fatalf("%s: socket still open %v after %v", m.Client().Username, stopWithin, sig)
		}
		if _, code, err := st.Ended(); code != 1001 {
			t.Errorf("%s: socket ended with code %d (%v), want 1001", m.Client().Username, code, err)
		}
	}
	code, ok := p.Wait(stopWithin)
	if !ok {
		t.Fatalf("the server still runs %v after %v:\n%s", stopWithin, sig, p.Output())
	}
	if code != 0 {
		t.Fatalf("the server exited %d after %v, want 0:\n%s", code, sig, p.Output())
	}
	t.Logf("%v: sockets closed and process exited 0 in %v", sig, time.Since(signalled).Round(time.Millisecond))

	// The file: its WAL checkpointed, intact, holding every acknowledged message.
	if fi, err := os.Stat(db + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("the server left a %d-byte -wal behind: not checkpointed on shutdown", fi.Size())
	}
	conn, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	acked := 0
	for _, m := range members {
		for cid, id := range m.Acked() {
			acked++
			var n int
			err := conn.QueryRow(`SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
				WHERE u.username = ? AND m.client_id = ? AND m.id = ?`, m.Client().Username, cid, id).Scan(&n)
			if err != nil || n != 1 {
				t.Errorf("acknowledged %s/%s (id %d) found %d times in the file (%v)", m.Client().Username, cid, id, n, err)
			}
		}
	}
	var stored int
	if err := conn.QueryRow(`SELECT count(*) FROM messages`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages acknowledged, %d stored", acked, stored)
}

// waitAcked waits until every message the members sent is acknowledged.
func waitAcked(t testing.TB, members ...*Member) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		done := true
		for _, m := range members {
			if len(m.Acked()) < len(m.Sent()) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not every message was acknowledged within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
