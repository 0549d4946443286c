package multinode

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/faults"
)

// presenceTTL is the Redis layer's default PresenceTTL: how long a killed node's members may
// stay listed. RedisOptions.PresenceTTL is not settable from the server's configuration (no
// PRESENCE_TTL), so the test waits the default out.
const presenceTTL = 30 * time.Second

// TestNodeKilled: node B runs as its own process; a member connected to it sees the room,
// then B is killed with SIGKILL. The member reconnects to node A with ?since=<last id> and
// catches up on what was sent meanwhile with nothing lost or doubled; B's presence entries
// expire from A's view within the presence TTL.
func TestNodeKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, nil)
	a := c.nodes[0]
	b := faults.StartProc(t, chatBin, "", "DATABASE_URL="+c.dbURL, "REDIS_URL="+c.redis.URL,
		"NODE_NAME=b", "MESSAGE_RATE=0", "MESSAGE_BURST=0", "CATCHUP_LIMIT=50000")
	siteB := b.Site()

	alice := a.NewUser("alice")
	bob := siteB.NewUser("bob")
	ghost := siteB.NewUser("ghost") // stays behind on B: only presence expiry removes it
	watcher := a.NewUser("watcher")

	ma := faults.NewMember(t, alice, "lobby")
	ma.MustConnect()
	mb := faults.NewMember(t, bob, "lobby")
	mb.MustConnect()
	gs := faults.Watch(ghost.MustDial("lobby", ""))
	defer gs.Close()
	lastPresence(t, ma.Current(), 10*time.Second, "alice", "bob", "ghost")

	sendN := func(m *faults.Member, n int, tag string) {
		for i := range n {
			if _, err := m.Send(fmt.Sprintf("%s %d", tag, i)); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	// One node at a time: two nodes publishing to one room at once lose messages (see
	// TestMessagesCrossNodesConcurrent), which is not what this test is about.
	sendN(ma, 10, "before")
	newest := waitAcks(t, ma)
	if !mb.WaitView(10*time.Second, newest) {
		t.Fatalf("bob on B never got message %d", newest)
	}
	sendN(mb, 10, "before from b")
	newest = waitAcks(t, mb)
	if !ma.WaitView(10*time.Second, newest) || !mb.WaitView(10*time.Second, newest) {
		t.Fatalf("message %d from B did not reach everyone", newest)
	}

	b.Kill()
	if !mb.Current().WaitFor(10*time.Second, func(_ []apptest.Frame, ended bool) bool { return ended }) {
		t.Fatal("bob's socket to the killed node is still open")
	}
	sendN(ma, 15, "while b is dead")
	newest = waitAcks(t, ma)

	mb.Move(a)
	mb.MustConnect()
	if !mb.WaitView(10*time.Second, newest) {
		t.Fatalf("bob, reconnected to A, never got message %d", newest)
	}
	sendN(ma, 5, "after")
	newest = waitAcks(t, ma)
	for _, m := range []*faults.Member{ma, mb} {
		if !m.WaitView(10*time.Second, newest) {
			t.Fatalf("%s never got message %d", m.Client().Username, newest)
		}
	}
	stored := storedIDs(t, alice, "lobby")
	if len(stored) != 40 {
		t.Errorf("%d messages stored, want 40", len(stored))
	}
	for _, m := range []*faults.Member{ma, mb} {
		if err := faults.CompareView(m.View(), stored); err != nil {
			t.Errorf("%s: %v", m.Client().Username, err)
		}
	}

	// B's presence entries expire from A's view. Each probe is a fresh socket on A, whose
	// join makes A announce the room's list as Redis has it.
	killed := time.Now()
	deadline := killed.Add(presenceTTL + 10*time.Second)
	for {
		users := probePresence(t, watcher, "lobby")
		if !slices.Contains(users, "ghost") {
			if !slices.Contains(users, "bob") || !slices.Contains(users, "alice") {
				t.Fatalf("presence on A after B died: %v, want alice and bob (both on A now)", users)
			}
			t.Logf("the killed node's member left A's presence %v after SIGKILL", time.Since(killed).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ghost, on the killed node, is still present on A %v after SIGKILL: %v", time.Since(killed), users)
		}
		time.Sleep(time.Second)
	}
}

// probePresence opens room as c, returns the first presence list that names c itself, and
// closes the socket.
func probePresence(t testing.TB, c *apptest.Client, room string) []string {
	t.Helper()
	st := faults.Watch(c.MustDial(room, ""))
	defer st.Close()
	f, _, err := st.WaitType(10*time.Second, 0, "presence", func(f apptest.Frame) bool {
		return slices.Contains(names(f), c.Username)
	})
	if err != nil {
		t.Fatalf("presence probe: %v", err)
	}
	return names(f)
}

// TestCheckCommandRedis: "chat check" with REDIS_URL sends a message from one layer to
// another through Redis and exits 0; with REDIS_URL on a closed port it exits 1 and says
// which part failed and where.
func TestCheckCommandRedis(t *testing.T) {
	t.Parallel()
	r := faults.StartRedis(t)
	db := "DATABASE_URL=" + filepath.Join(t.TempDir(), "check.db")

	out, code := runChat(t, "check", db, "REDIS_URL="+r.URL)
	if code != 0 || !strings.Contains(out, "Redis, from one node to another") {
		t.Fatalf("chat check against Redis: exit %d, want 0 and \"Redis, from one node to another\":\n%s", code, out)
	}
	if !strings.Contains(out, "database ok") {
		t.Errorf("chat check does not report the database:\n%s", out)
	}

	closed := faults.FreeAddr(t)
	out, code = runChat(t, "check", db, "REDIS_URL=redis://"+closed+"/0")
	if code != 1 {
		t.Fatalf("chat check with Redis on a closed port: exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"chat check:", "channel layer", closed, "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("chat check with Redis on a closed port does not say %q:\n%s", want, out)
		}
	}
}

// runChat runs the binary with env on top of ours and returns its combined output and exit
// code.
func runChat(t testing.TB, cmd string, env ...string) (string, int) {
	t.Helper()
	c := exec.Command(chatBin, cmd)
	c.Env = append(c.Environ(), "LOG_LEVEL=warn", "REDIS_URL=")
	c.Env = append(c.Env, env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = c.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("chat %s did not finish within 60s:\n%s", cmd, out)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("chat %s: %v", cmd, err)
	}
	return string(out), 0
}
