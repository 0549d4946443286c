package multinode

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/faults"
)

// TestMessagesCrossNodes: a member on node A and one on node B of the same room, taking turns
// to send bursts, each see every message of the room exactly once and in id order, the same
// ones the database has; members of another room, on either node, see none of them.
func TestMessagesCrossNodes(t *testing.T) {
	t.Parallel()
	crossNodeMessages(t, false)
}

// TestMessagesCrossNodesConcurrent is TestMessagesCrossNodes with both members sending at
// the same time, so the two nodes' publishers interleave in one room.
func TestMessagesCrossNodesConcurrent(t *testing.T) {
	t.Parallel()
	crossNodeMessages(t, true)
}

func crossNodeMessages(t *testing.T, concurrent bool) {
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	alice, bob := a.NewUser("alice"), b.NewUser("bob")
	carol, dave := a.NewUser("carol"), b.NewUser("dave")

	ma, mb := faults.NewMember(t, alice, "lobby"), faults.NewMember(t, bob, "lobby")
	ma.MustConnect()
	mb.MustConnect()
	otherA, otherB := watch(t, carol, "elsewhere"), watch(t, dave, "elsewhere")

	const rounds, burst = 3, 15
	total := 0
	sendBurst := func(m *faults.Member, round int) {
		for i := range burst {
			if _, err := m.Send(fmt.Sprintf("%s says %d.%d", m.Client().Username, round, i)); err != nil {
				t.Errorf("send: %v", err)
				return
			}
		}
	}
	// Wait for every ack, then for both views to reach the newest acked id: a message
	// dropped on the way is older, so this does not wait out a timeout when one is lost.
	waitAll := func(int) {
		newest := waitAcks(t, ma, mb)
		for _, m := range []*faults.Member{ma, mb} {
			if !m.WaitView(15*time.Second, newest) {
				t.Fatalf("%s never got message %d", m.Client().Username, newest)
			}
		}
	}
	for round := range rounds {
		if concurrent {
			var wg sync.WaitGroup
			wg.Go(func() { sendBurst(ma, round) })
			wg.Go(func() { sendBurst(mb, round) })
			wg.Wait()
			total += 2 * burst
			waitAll(total)
			continue
		}
		for _, m := range []*faults.Member{ma, mb} {
			sendBurst(m, round)
			total += burst
			waitAll(total)
		}
	}
	// A marker in the other room, from B to A: once it arrived, a leak would have too.
	if err := otherB.Send(map[string]any{"message": "marker"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := otherA.WaitType(10*time.Second, 0, "chat.message", nil); err != nil {
		t.Fatal(err)
	}

	stored := storedIDs(t, alice, "lobby")
	if len(stored) != total {
		t.Fatalf("the database has %d messages in lobby, want %d", len(stored), total)
	}
	for _, m := range []*faults.Member{ma, mb} {
		view := m.View()
		if concurrent {
			// Two nodes committing into one room at once publish in an order Redis may
			// interleave, so frames can arrive out of id order (docs/protocol.md); the page
			// places each by id (and fills a gap that lasts), so what a person sees is the
			// page view.
			if m.Fills() == 0 {
				if dups := duplicateIDs(view); len(dups) > 0 {
					t.Errorf("%s got messages %v twice without asking for a gap", m.Client().Username, dups)
				}
			}
			view = m.PageView()
		}
		if err := faults.CompareView(view, stored); err != nil {
			t.Errorf("%s: %v", m.Client().Username, err)
		}
		if got := countByClientID(m.View()); len(got) != total {
			t.Errorf("%s saw %d distinct client ids, want %d", m.Client().Username, len(got), total)
		}
	}
	for _, st := range []*faults.Stream{otherA, otherB} {
		for _, f := range st.OfType("chat.message") {
			if f.Str("message") != "marker" || f.Str("room") != "elsewhere" {
				t.Errorf("a member of another room got %v", f)
			}
		}
	}
}

// TestPresenceCrossNodes: presence lists members on both nodes, on both nodes, and drops
// one who leaves.
func TestPresenceCrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	alice, bob := a.NewUser("alice"), b.NewUser("bob")

	sa := watch(t, alice, "lobby")
	sb := watch(t, bob, "lobby")
	waitPresence(t, sa, 10*time.Second, "alice", "bob")
	waitPresence(t, sb, 10*time.Second, "alice", "bob")

	sb.Close()
	lastPresence(t, sa, 10*time.Second, "alice")

	// And the other way round: bob back on B sees alice, who is on A.
	sb2 := watch(t, bob, "lobby")
	lastPresence(t, sb2, 10*time.Second, "alice", "bob")
	lastPresence(t, sa, 10*time.Second, "alice", "bob")
}

// TestSessionCrossNodes: a session made by logging in through node A's form works on node B,
// for pages and for the websocket, because sessions live in the shared database.
func TestSessionCrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	a.NewUser("alice") // registers (and logs in) a first session
	onA := a.NewClient()
	onA.Login("alice", "password-alice")
	onB := faults.On(onA, b)

	r := onB.Get("/chat/lobby/")
	if r.Status != http.StatusOK {
		t.Fatalf("room page on B with A's session: status %d (location %q)", r.Status, r.Location)
	}
	if !strings.Contains(r.Body, "alice") {
		t.Errorf("room page on B does not name the logged-in user alice")
	}
	if r := b.NewClient().Get("/chat/lobby/"); r.Status == http.StatusOK {
		t.Errorf("room page on B without a session: status 200, want a redirect to login")
	}
	s := faults.Watch(onB.MustDial("lobby", ""))
	defer s.Close()
	if err := s.Send(map[string]any{"message": "hello from B", "client_id": "x1"}); err != nil {
		t.Fatal(err)
	}
	ack, _, err := s.WaitType(10*time.Second, 0, "ack", nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg, _, err := s.WaitType(10*time.Second, 0, "chat.message", nil); err != nil || msg.Str("user") != "alice" || msg.ID() != ack.ID() {
		t.Fatalf("message on B: %v, %v (ack %v)", msg, err, ack)
	}
}

// TestLogoutClosesSocketOnOtherNode: logging out on node A closes the sockets that session
// opened on node B with 1008 (through the session's group on the layer), leaves another
// session's socket open, and the session no longer opens pages on B.
func TestLogoutClosesSocketOnOtherNode(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	other := a.NewUser("alice") // alice's other session, which must survive
	onA := a.NewClient()
	onA.Login("alice", "password-alice")
	onB := faults.On(onA, b)

	doomed := faults.Watch(onB.MustDial("lobby", ""))
	defer doomed.Close()
	kept := faults.Watch(faults.On(other, b).MustDial("lobby", ""))
	defer kept.Close()
	waitPresence(t, kept, 10*time.Second, "alice")

	if r := onA.PostCSRF("/logout", url.Values{}); r.Status != http.StatusSeeOther {
		t.Fatalf("logout on A: status %d", r.Status)
	}
	if !doomed.WaitFor(10*time.Second, func(_ []apptest.Frame, ended bool) bool { return ended }) {
		t.Fatal("the logged-out session's socket on B is still open after 10s")
	}
	if _, code, err := doomed.Ended(); code != 1008 {
		t.Fatalf("socket on B ended with code %d (%v), want 1008", code, err)
	}
	if ended, _, _ := kept.Ended(); ended {
		t.Fatal("the other session's socket on B was closed too")
	}
	if r := onB.Get("/chat/lobby/"); r.Status == http.StatusOK {
		t.Fatal("the logged-out session still opens the room page on B")
	}
	if _, resp, err := onB.DialRoom("lobby", ""); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("websocket on B after logout: err %v, want a 403 handshake", err)
	}
}

// TestAdminDeleteCrossNodes: a staff member deletes a message in node A's admin; a member
// of the room on node B gets chat.delete for it, and it is gone from the database.
func TestAdminDeleteCrossNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.nodes[0], c.nodes[1]
	if r := a.NewClient().Get("/admin/"); r.Status == http.StatusNotFound {
		t.Skip("no admin at /admin/ on this build: nothing to test")
	}
	staff := a.NewUser("sam")
	a.MakeStaff("sam")
	bob := b.NewUser("bob")
	sb := watch(t, bob, "lobby")
	if err := sb.Send(map[string]any{"message": "delete me", "client_id": "d1"}); err != nil {
		t.Fatal(err)
	}
	if err := sb.Send(map[string]any{"message": "keep me", "client_id": "k1"}); err != nil {
		t.Fatal(err)
	}
	var doomed, keep int64
	sb.WaitFor(10*time.Second, func(frames []apptest.Frame, _ bool) bool {
		for _, f := range frames {
			if f.Type() == "ack" {
				switch f.Str("client_id") {
				case "d1":
					doomed = f.ID()
				case "k1":
					keep = f.ID()
				}
			}
		}
		return doomed != 0 && keep != 0
	})
	if doomed == 0 || keep == 0 {
		t.Fatalf("no acks: %v", sb.Frames())
	}

	r := staff.PostCSRF("/admin/messages/delete", url.Values{"scope": {"selected"},
		"ids": {strconv.FormatInt(doomed, 10)}, "confirm": {"yes"}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("admin delete on A: status %d\n%s", r.Status, r.Body)
	}
	del, _, err := sb.WaitType(10*time.Second, 0, "chat.delete", nil)
	if err != nil {
		t.Fatalf("member on B: %v", err)
	}
	if del.ID() != doomed {
		t.Fatalf("chat.delete for %d, want %d", del.ID(), doomed)
	}
	if got := storedIDs(t, bob, "lobby"); !slices.Equal(got, []int64{keep}) {
		t.Fatalf("stored after delete: %v, want [%d]", got, keep)
	}
}

func countType(frames []apptest.Frame, typ string) int {
	n := 0
	for _, f := range frames {
		if f.Type() == typ {
			n++
		}
	}
	return n
}

func countByClientID(frames []apptest.Frame) map[string]int {
	out := map[string]int{}
	for _, f := range frames {
		out[f.Str("client_id")]++
	}
	return out
}

// waitAcks waits until every message the members sent is acknowledged and returns the
// highest acknowledged id.
func waitAcks(t testing.TB, members ...*faults.Member) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var newest int64
		done := true
		for _, m := range members {
			acked := m.Acked()
			if len(acked) < len(m.Sent()) {
				done = false
			}
			for _, id := range acked {
				newest = max(newest, id)
			}
		}
		if done {
			return newest
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every message was acknowledged within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// duplicateIDs lists the message ids that occur more than once in frames.
func duplicateIDs(frames []apptest.Frame) []int64 {
	seen := map[int64]int{}
	var dups []int64
	for _, f := range frames {
		if seen[f.ID()]++; seen[f.ID()] == 2 {
			dups = append(dups, f.ID())
		}
	}
	return dups
}
