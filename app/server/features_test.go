//go:build unix

package server_test

// Tests for the issue "What people expect of a real chat": reconnects that lose and double
// nothing, resends stored once, slow clients that do not slow the room, history paging,
// presence, typing, edits and deletes, unread counts and the rate limits.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
	"chat/app/config"
)

// featConfig is apptest.Config without the per-user message rate limit, for tests that send
// more messages than a person would; what they test is not the limiter.
func featConfig(t testing.TB) config.Config {
	cfg := apptest.Config(t)
	cfg.MessageRate, cfg.MessageBurst = 0, 0
	return cfg
}

// featSendAll sends each text and waits until p has seen them all; it returns their ids.
func featSendAll(p *featConn, texts ...string) []int64 {
	p.t.Helper()
	for _, text := range texts {
		p.send(map[string]any{"message": text})
	}
	got := p.messages(len(texts))
	for i, f := range got {
		if f.Str("message") != texts[i] {
			p.t.Fatalf("message %d: got %q, want %q", i, f.Str("message"), texts[i])
		}
	}
	ids := featIDs(got)
	featCheckIncreasing(p.t, "sent messages", ids)
	return ids
}

// featTexts is n message texts with a prefix.
func featTexts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	return out
}

// featNum is a numeric frame field.
func featNum(f apptest.Frame, key string) float64 { n, _ := f[key].(float64); return n }

// featBody is how the room page renders a message body (texts here need no escaping).
func featBody(text string) string { return `<span class="body">` + text + `</span>` }

// featRoomPage fetches a room page as c.
func featRoomPage(t testing.TB, c *apptest.Client, room string) string {
	t.Helper()
	page := c.Get("/chat/" + url.PathEscape(room) + "/")
	if page.Status != http.StatusOK {
		t.Fatalf("room page %q: status %d", room, page.Status)
	}
	return page.Body
}

// 1. A member whose socket drops in the middle of a burst, and who reconnects with the last id
// he saw, ends up with every stored message exactly once and in order, while others (one of
// them on another goroutine) keep sending before the drop, while he is away, during his
// reconnect and after it.
func TestFeatReconnectDuringBurst(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob, carol := env.NewUser("alice"), env.NewUser("bob"), env.NewUser("carol")
	for _, cut := range []int{1, 42, 99} {
		featBurst(t, env, alice, bob, carol, cut)
	}
}

// featBurst runs one reconnect during a burst in a room of its own; bob's socket drops after
// he has seen cut messages.
func featBurst(t *testing.T, env *apptest.Env, alice, bob, carol *apptest.Client, cut int) {
	const aliceBefore, aliceAway, aliceLive, carolN = 100, 30, 30, 50
	const total = aliceBefore + aliceAway + aliceLive + carolN
	room := fmt.Sprintf("burst-%d", cut)
	a, b, c := featDial(t, alice, room, ""), featDial(t, bob, room, ""), featDial(t, carol, room, "")
	defer func() {
		for _, p := range []*featConn{a, b, c} {
			p.shut()
		}
	}()

	// alice sends aliceBefore messages, waits until bob's socket is gone, sends aliceAway while
	// he reconnects, waits until he is back and sends aliceLive; carol sends all along on her
	// own goroutine.
	cutDone, reconnected, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer close(stop)
	gates := map[int]chan struct{}{aliceBefore: cutDone, aliceBefore + aliceAway: reconnected}
	errs := make(chan error, 2)
	go func() {
		for i := 0; i < aliceBefore+aliceAway+aliceLive; i++ {
			if gate := gates[i]; gate != nil {
				select {
				case <-gate:
				case <-stop:
					errs <- nil
					return
				}
			}
			if err := a.sock.Conn.WriteJSON(map[string]any{"message": fmt.Sprintf("alice %d", i)}); err != nil {
				errs <- fmt.Errorf("alice send %d: %w", i, err)
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for i := 0; i < carolN; i++ {
			if err := c.sock.Conn.WriteJSON(map[string]any{"message": fmt.Sprintf("carol %d", i)}); err != nil {
				errs <- fmt.Errorf("carol send %d: %w", i, err)
				return
			}
		}
		errs <- nil
	}()

	// bob sees cut messages, then his socket is closed without a goodbye.
	view := featIDs(b.messages(cut))
	since := view[len(view)-1]
	b.shut()
	close(cutDone)
	b2 := featDial(t, bob, room, "since="+strconv.FormatInt(since, 10))
	defer b2.shut()
	close(reconnected)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// alice's view is the reference: every stored message, once, in id order.
	aliceFrames := a.messages(total)
	want := featIDs(aliceFrames)
	featCheckIncreasing(t, "alice's view", want)
	featSameIDs(t, "alice's view against the database", want, featStoredIDs(t, env, room))
	seen := map[string]int{}
	for _, f := range aliceFrames {
		seen[f.Str("message")]++
	}
	for who, n := range map[string]int{"alice": aliceBefore + aliceAway + aliceLive, "carol": carolN} {
		for i := 0; i < n; i++ {
			if k := seen[fmt.Sprintf("%s %d", who, i)]; k != 1 {
				t.Fatalf("cut %d: %q stored %d times", cut, fmt.Sprintf("%s %d", who, i), k)
			}
		}
	}

	// bob's second socket: the missed messages, a catchup frame that counts them, then live
	// ones, until he has the newest.
	final := want[len(want)-1]
	replayed, caughtUp := 0, false
	for !caughtUp || view[len(view)-1] != final {
		f, err := b2.next(featWait)
		if err != nil {
			t.Fatalf("cut %d: bob after reconnect, with %d of %d messages: %v", cut, len(view), total, err)
		}
		switch f.Type() {
		case "chat.message":
			if !caughtUp {
				replayed++
			}
			view = append(view, f.ID())
		case "catchup":
			if caughtUp {
				t.Fatalf("cut %d: second catchup frame %v", cut, f)
			}
			caughtUp = true
			if int(featNum(f, "count")) != replayed || int64(featNum(f, "last_id")) != view[len(view)-1] {
				t.Fatalf("cut %d: catchup %v after %d replayed messages ending at %d", cut, f, replayed, view[len(view)-1])
			}
		case "reload":
			t.Fatalf("cut %d: reload after missing at most %d messages", cut, total)
		}
	}
	featCheckIncreasing(t, fmt.Sprintf("cut %d: bob's view", cut), view)
	featSameIDs(t, fmt.Sprintf("cut %d: bob's view against alice's", cut), view, want)
	live := len(view) - cut - replayed
	if live < aliceLive {
		t.Fatalf("cut %d: only %d messages came live after the reconnect, want at least %d", cut, live, aliceLive)
	}
	t.Logf("cut after %d: %d replayed, %d live", cut, replayed, live)
}

// 2. A client that missed more than CatchupLimit messages is told to reload instead of getting
// a partial replay; one that missed exactly the limit gets them all, then live messages.
func TestFeatTooMuchMissedAsksForReload(t *testing.T) {
	cfg := featConfig(t)
	cfg.CatchupLimit = 5
	env := apptest.Start(t, cfg)
	alice := env.NewUser("alice")
	a := featDial(t, alice, "missed", "")
	ids := featSendAll(a, featTexts("m", 10)...)

	tests := []struct {
		name   string
		since  int64
		reload bool
	}{
		{"far behind", 0, true},
		{"one over the limit", ids[3], true},
		{"exactly the limit", ids[4], false},
		{"one missed", ids[8], false},
		{"nothing missed", ids[9], false},
	}
	for _, tt := range tests {
		var want []int64 // what the socket missed: by now maybe more than when the table was made
		for _, id := range featStoredIDs(t, env, "missed") {
			if id > tt.since {
				want = append(want, id)
			}
		}
		p := featDial(t, alice, "missed", "since="+strconv.FormatInt(tt.since, 10))
		replayed, end := p.catchUp()
		if tt.reload {
			if end.Type() != "reload" || end.Str("reason") != "too_many_missed" || len(replayed) != 0 {
				t.Fatalf("%s: got %d messages then %v, want only reload too_many_missed", tt.name, len(replayed), end)
			}
			if len(want) <= cfg.CatchupLimit {
				t.Fatalf("%s: the case is wrong: %d missed", tt.name, len(want))
			}
			p.shut()
			continue
		}
		if end.Type() != "catchup" {
			t.Fatalf("%s: got %v, want catchup", tt.name, end)
		}
		featSameIDs(t, tt.name, featIDs(replayed), want)
		lastID := tt.since
		if len(want) > 0 {
			lastID = want[len(want)-1]
		}
		if int(featNum(end, "count")) != len(want) || int64(featNum(end, "last_id")) != lastID {
			t.Fatalf("%s: catchup frame %v, want count %d and last_id %d", tt.name, end, len(want), lastID)
		}
		// Live messages follow the replay.
		live := featSendAll(a, "live after "+tt.name)
		if f := p.expect("chat.message"); f.ID() != live[0] {
			t.Fatalf("%s: after the catch-up got %v, want live id %d", tt.name, f, live[0])
		}
		p.shut()
	}
}

// 2b. The same at the default CATCHUP_LIMIT of 1000: 1001 missed messages must be a reload,
// not 1000 of them followed by live messages with the rest silently missing (the store once
// capped every read at 1000 rows), and exactly 1000 are all replayed.
func TestFeatTooMuchMissedAtDefaultLimit(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice := env.NewUser("alice")
	ids := featSeed(t, env, "alice", "many", env.Config.CatchupLimit+1)
	p := featDial(t, alice, "many", "since=0")
	replayed, end := p.catchUp()
	if end.Type() != "reload" || len(replayed) != 0 {
		t.Fatalf("missed %d (limit %d): got %d messages then %v, want reload", len(ids), env.Config.CatchupLimit, len(replayed), end)
	}
	p.shut()

	p = featDial(t, alice, "many", "since="+strconv.FormatInt(ids[0], 10))
	replayed, end = p.catchUp()
	if end.Type() != "catchup" || int(featNum(end, "count")) != len(ids)-1 {
		t.Fatalf("missed %d: got %v", len(ids)-1, end)
	}
	featSameIDs(t, "replay of exactly the limit", featIDs(replayed), ids[1:])
}

// 3. A message resent with the same client_id is stored and broadcast once, whether the resend
// comes on the same socket, another socket of the same user, or after a server restart; the
// sender's resend is acked as a duplicate with the stored id. Another user may use the same
// client_id for a message of their own.
func TestFeatIdempotentSends(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	const room, cid = "idem", "3f1c2a9e-0b7d-4a57-9d0e-6c4f1b2a8e11"
	a1, a2, b := featDial(t, alice, room, ""), featDial(t, alice, room, ""), featDial(t, bob, room, "")

	first := a1.ack("only once", cid)
	id := first.ID()
	if first["duplicate"] != false {
		t.Fatalf("first send acked as %v, want duplicate false", first)
	}
	if f := b.expect("chat.message"); f.ID() != id || f.Str("client_id") != cid || f.Str("message") != "only once" {
		t.Fatalf("bob got %v, want id %d with client_id", f, id)
	}

	resends := []struct {
		name string
		sock *featConn
		text string
	}{
		{"same socket", a1, "only once"},
		{"same socket, other text", a1, "only once (edited resend)"},
		{"second socket of the same user", a2, "only once"},
	}
	for _, r := range resends {
		ack := r.sock.ack(r.text, cid)
		if ack["duplicate"] != true || ack.ID() != id {
			t.Fatalf("%s: resend acked as %v, want duplicate true with id %d", r.name, ack, id)
		}
	}
	// A marker sent after the resends is the next message bob sees: none was broadcast again.
	marker := a1.ack("marker", "marker-1").ID()
	if f := b.expect("chat.message"); f.ID() != marker {
		t.Fatalf("after the resends bob got %v, want the marker %d", f, marker)
	}

	// The client id is per user: bob's message with the same id is his own, new message.
	bobs := b.ack("bob's message", cid)
	if bobs["duplicate"] != false || bobs.ID() == id {
		t.Fatalf("bob's send with alice's client_id acked as %v", bobs)
	}
	if f := a1.expectWhere("chat.message", func(f apptest.Frame) bool { return f.Str("user") == "bob" }); f.ID() != bobs.ID() {
		t.Fatalf("alice got %v, want bob's message %d", f, bobs.ID())
	}

	// After a restart the database still knows the client id.
	env.Restart()
	a3 := featDial(t, alice, room, "")
	b2 := featDial(t, bob, room, "since="+strconv.FormatInt(bobs.ID(), 10))
	if replayed, end := b2.catchUp(); len(replayed) != 0 || end.Type() != "catchup" {
		t.Fatalf("bob's catch-up after restart: %d messages, then %v", len(replayed), end)
	}
	if ack := a3.ack("only once", cid); ack["duplicate"] != true || ack.ID() != id {
		t.Fatalf("resend after restart acked as %v, want duplicate true with id %d", ack, id)
	}
	marker2 := a3.ack("marker after restart", "marker-2").ID()
	if f := b2.expect("chat.message"); f.ID() != marker2 {
		t.Fatalf("after the resend bob got %v, want the marker %d", f, marker2)
	}

	page := featRoomPage(t, alice, room)
	if n := strings.Count(page, featBody("only once")); n != 1 {
		t.Fatalf("room page shows the message %d times, want once", n)
	}
	if strings.Contains(page, "edited resend") {
		t.Fatal("a resend replaced the stored text")
	}
	if got := featStoredIDs(t, env, room); len(got) != 4 {
		t.Fatalf("stored %d messages (%v), want 4: once, marker, bob's, marker after restart", len(got), got)
	}
}

// featFlood fills a room until a member who stopped reading overflows: alice sends, bob reads
// along, carol's socket (stalled, returned) reads nothing. It returns the ids of every message,
// as bob got them.
func featFlood(t *testing.T) (env *apptest.Env, a, b *featConn, carol *apptest.Client, stalled *websocket.Conn, sent []int64) {
	t.Helper()
	cfg := featConfig(t)
	cfg.SendQueueBytes = 32 << 10
	cfg.ChannelCapacity = 32
	env = apptest.Start(t, cfg)
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	carol = env.NewUser("carol")
	a, b = featDial(t, alice, featSlowRoom, ""), featDial(t, bob, featSlowRoom, "")
	stalled = featDialStalled(t, carol, featSlowRoom)
	b.expectWhere("presence", featPresenceIs("alice", "bob", "carol"))
	a.expectWhere("presence", featPresenceIs("alice", "bob", "carol"))

	// 3000 two-byte characters: about 6 KB a frame. alice sends them in rounds of 5 (under 32
	// KiB), waiting each round until bob and she have them, so a member who reads never has more
	// than a round queued, until the stalled socket's buffers are full and its queue overflows.
	big := strings.Repeat("é", 3000)
	const round, most = 5, 1000
	for len(sent) < most && env.Server.Layer.Stats().Skipped == 0 {
		first := len(sent)
		for i := range round {
			a.send(map[string]any{"message": fmt.Sprintf("%04d %s", first+i, big)})
		}
		text := func(i int) string { return fmt.Sprintf("%04d ", first+i) }
		a.messageIDs(round, text)
		sent = append(sent, b.messageIDs(round, text)...)
	}
	if env.Server.Layer.Stats().Skipped == 0 {
		t.Fatalf("after %d messages the stalled client's queue never overflowed", len(sent))
	}
	// A few more after the overflow, which the stalled client can only get from catch-up.
	featSendAll(a, featTexts("after the overflow", 3)...)
	sent = append(sent, featIDs(b.messages(3))...)
	featCheckIncreasing(t, "bob's view", sent)
	featSameIDs(t, "bob's view against the database", sent, featStoredIDs(t, env, featSlowRoom))
	return env, a, b, carol, stalled, sent
}

const featSlowRoom = "firehose"

// 4. A client that stops reading is closed with 1013 once its queue overflows, without slowing
// the room: a member who reads gets every message in order (featFlood checks it) and stays
// connected.
func TestFeatSlowConsumerIsClosed(t *testing.T) {
	env, a, b, _, stalled, sent := featFlood(t)

	// The stalled client now reads what was queued for it, then finds the 1013 close frame (or,
	// if the server gave up writing, a reset).
	code, seen, err := featCloseCode(stalled, 10*time.Second)
	switch {
	case err == nil && code != 1013:
		t.Fatalf("stalled client closed with %d, want 1013", code)
	case err != nil:
		t.Logf("stalled client's connection ended without a close frame: %v", err)
	}
	if n := env.Server.Sockets.Stats().SlowCloses; n < 1 {
		t.Fatalf("SlowCloses = %d, want at least 1", n)
	}
	if len(seen) >= len(sent) {
		t.Fatalf("the stalled client got all %d messages: its queue never overflowed", len(seen))
	}
	t.Logf("stalled client read %d of %d messages, closed with %d", len(seen), len(sent), code)

	// bob's socket is still open and live.
	live := featSendAll(a, "still here")
	if f := b.expect("chat.message"); f.ID() != live[0] {
		t.Fatalf("bob got %v, want %d", f, live[0])
	}
}

// 4b. The slow client then reconnects with the last id it saw and has every message once: what
// it got before the close must be the start of the room with no gap, since a client cannot
// tell a gap in ids (they are shared by all rooms) from messages of other rooms.
func TestFeatSlowConsumerCatchesUpWithoutLoss(t *testing.T) {
	_, a, _, carol, stalled, sent := featFlood(t)
	_, seen, _ := featCloseCode(stalled, 10*time.Second)
	var lastID int64
	if len(seen) > 0 {
		lastID = seen[len(seen)-1]
	}
	sent = append(sent, featSendAll(a, "still here")...)
	c := featDial(t, carol, featSlowRoom, "since="+strconv.FormatInt(lastID, 10))
	replayed, end := c.catchUp()
	if end.Type() != "catchup" {
		t.Fatalf("reconnect got %v, want catchup", end)
	}
	featSameIDs(t, "carol's view before the close and after the catch-up", append(seen, featIDs(replayed)...), sent)
}

// 4c. A client that never reads again is also a slow consumer: once its queue overflows it is
// closed with 1013 and counted, not left until a write times out.
func TestFeatStalledClientCountsAsSlow(t *testing.T) {
	cfg := featConfig(t)
	cfg.SendQueueBytes = 32 << 10
	cfg.ChannelCapacity = 32
	cfg.WriteTimeout = 500 * time.Millisecond
	env := apptest.Start(t, cfg)
	alice, carol := env.NewUser("alice"), env.NewUser("carol")
	a := featDial(t, alice, "stall", "")
	_ = featDialStalled(t, carol, "stall")
	a.expectWhere("presence", featPresenceIs("alice", "carol"))
	big := strings.Repeat("é", 3000)
	for n := 0; n < 3000 && env.Server.Layer.Stats().Skipped == 0; n += 5 {
		featSendAll(a, featTexts(big, 5)...)
	}
	if env.Server.Layer.Stats().Skipped == 0 {
		t.Fatal("the stalled client's queue never overflowed")
	}
	// Wait (well past the write timeout) until the server has dropped the stalled connection.
	deadline := time.Now().Add(5 * time.Second)
	for env.Server.Sockets.Stats().Open > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if open := env.Server.Sockets.Stats().Open; open != 1 {
		t.Fatalf("%d sockets open, want only alice's", open)
	}
	if n := env.Server.Sockets.Stats().SlowCloses; n < 1 {
		t.Fatalf("the stalled client was dropped but SlowCloses = %d", n)
	}
}

// 5. History pages walk back from the newest message to the very first, oldest first within
// a page, with has_more false only on the last page and no overlap or gap.
func TestFeatHistoryPaging(t *testing.T) {
	tests := []struct {
		name     string
		n        int // messages in the room; 0: the room does not exist yet
		pageSize int
	}{
		{"new room", 0, 50},
		{"one message", 1, 50},
		{"exactly one page", 50, 50},
		{"one over a page", 51, 50},
		{"130 messages", 130, 50},
		{"page size 1", 3, 1},
		{"page size 1000", 2001, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := featConfig(t)
			cfg.HistoryPageSize = tt.pageSize
			env := apptest.Start(t, cfg)
			alice := env.NewUser("alice")
			const room = "paging"
			var ids []int64
			if tt.n > 200 { // quicker through the store
				ids = featSeed(t, env, "alice", room, tt.n)
			}
			a := featDial(t, alice, room, "")
			if tt.n > 0 && ids == nil {
				ids = featSendAll(a, featTexts("h", tt.n)...)
			}

			var walked []int64 // newest page first
			before, pages := int64(0), 0
			for {
				a.send(map[string]any{"type": "history", "before": before})
				f := a.expect("history")
				pages++
				raw, ok := f["messages"].([]any)
				if !ok {
					t.Fatalf("history frame without a messages list: %v", f)
				}
				page := make([]int64, len(raw))
				for i, m := range raw {
					msg, _ := m.(map[string]any)
					fr := apptest.Frame(msg)
					if fr.Type() != "chat.message" || fr.Str("user") != "alice" || fr.Str("room") != room {
						t.Fatalf("history entry %v", msg)
					}
					page[i] = fr.ID()
				}
				featCheckIncreasing(t, fmt.Sprintf("page %d", pages), page)
				hasMore, ok := f["has_more"].(bool)
				if !ok {
					t.Fatalf("history frame without has_more: %v", f)
				}
				want := min(tt.pageSize, tt.n-len(walked))
				if len(page) != want {
					t.Fatalf("page %d has %d messages, want %d", pages, len(page), want)
				}
				walked = append(page, walked...)
				if hasMore != (len(walked) < tt.n) {
					t.Fatalf("page %d: has_more %v with %d of %d messages walked", pages, hasMore, len(walked), tt.n)
				}
				if !hasMore {
					break
				}
				before = page[0]
			}
			featSameIDs(t, "all pages", walked, ids)
			if wantPages := max(1, (tt.n+tt.pageSize-1)/tt.pageSize); pages != wantPages {
				t.Fatalf("walked %d pages, want %d", pages, wantPages)
			}
			// A page before an id in the middle is the messages just older than it.
			if tt.n > 2 {
				mid := tt.n / 2
				a.send(map[string]any{"type": "history", "before": ids[mid]})
				f := a.expect("history")
				raw, _ := f["messages"].([]any)
				got := make([]int64, len(raw))
				for i, m := range raw {
					got[i] = apptest.Frame(m.(map[string]any)).ID()
				}
				from := max(0, mid-tt.pageSize)
				featSameIDs(t, "page before the middle", got, ids[from:mid])
				if f["has_more"] != (from > 0) {
					t.Fatalf("page before the middle: has_more %v, want %v", f["has_more"], from > 0)
				}
			}
		})
	}
}

// 6. Presence lists people, not tabs: three tabs of alice count once, she stays while any is
// open and leaves with the last; the lobby shows how many are online in the room. (Joins and
// leaves close together may be announced in one frame, so the test waits for the list it
// expects rather than counting frames.)
func TestFeatPresence(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	const room = "presence-room"
	hasAlice := func(f apptest.Frame) bool { return slices.Contains(featUsers(f), "alice") }

	a1 := featDial(t, alice, room, "")
	if f := a1.expectWhere("presence", featPresenceIs("alice")); f.Str("room") != room {
		t.Fatalf("presence frame names room %q, want %q", f.Str("room"), room)
	}
	featSendAll(a1, "the room exists now") // so the lobby lists it
	a2, a3 := featDial(t, alice, room, ""), featDial(t, alice, room, "")
	for _, p := range []*featConn{a2, a3} {
		// The first list a new tab gets already has alice, once.
		if f := p.expect("presence"); strings.Join(featUsers(f), ",") != "alice" {
			t.Fatalf("alice's new tab: presence %v, want [alice]", featUsers(f))
		}
	}
	featWaitOpen(t, env, 3)
	if row := featLobby(t, bob, room); row.Online != 1 {
		t.Fatalf("lobby shows %d online with alice in three tabs, want 1", row.Online)
	}

	b := featDial(t, bob, room, "")
	b.expectWhere("presence", featPresenceIs("alice", "bob"))
	a1.expectWhere("presence", featPresenceIs("alice", "bob"))
	if row := featLobby(t, bob, room); row.Online != 2 {
		t.Fatalf("lobby shows %d online, want 2", row.Online)
	}

	// Two of alice's tabs close: alice is still there, in the lobby and in every list bob gets.
	a2.shut()
	a3.shut()
	featWaitOpen(t, env, 2)
	if row := featLobby(t, bob, room); row.Online != 2 {
		t.Fatalf("lobby shows %d online after alice closed two of three tabs, want 2", row.Online)
	}
	b.expectNoneWhere("presence", func(f apptest.Frame) bool { return !hasAlice(f) }, 400*time.Millisecond)

	// The last tab closes: alice is gone.
	a1.shut()
	b.expectWhere("presence", featPresenceIs("bob"))
	if row := featLobby(t, alice, room); row.Online != 1 {
		t.Fatalf("lobby shows %d online with only bob, want 1", row.Online)
	}

	// Everyone gone: no online badge.
	b.shut()
	featWaitOpen(t, env, 0)
	if row := featLobby(t, alice, room); row.Online != 0 {
		t.Fatalf("lobby shows %d online in an empty room", row.Online)
	}
}

// 7. Typing is broadcast to the room, at most once per 2 s per connection, and not to others.
func TestFeatTyping(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob, carol := env.NewUser("alice"), env.NewUser("bob"), env.NewUser("carol")
	a, b := featDial(t, alice, "typing", ""), featDial(t, bob, "typing", "")
	c := featDial(t, carol, "typing-elsewhere", "")
	b.expectWhere("presence", featPresenceIs("alice", "bob"))

	a.send(map[string]any{"type": "typing"})
	f := b.expect("typing")
	shown := time.Now() // the server took alice's typing before this
	if len(f) != 2 || f.Str("user") != "alice" {
		t.Fatalf("typing frame %v, want exactly {type: typing, user: alice}", f)
	}

	a.send(map[string]any{"type": "typing"})
	b.expectNone("typing", 500*time.Millisecond)
	c.expectNone("typing", 100*time.Millisecond)

	// Once 2 s have passed, typing is shown again.
	time.Sleep(time.Until(shown.Add(2100 * time.Millisecond)))
	a.send(map[string]any{"type": "typing"})
	if f := b.expect("typing"); f.Str("user") != "alice" {
		t.Fatalf("typing after 2 s: %v", f)
	}
	c.expectNone("typing", 100*time.Millisecond)
}

// 8. Authors edit and delete their own messages; everyone sees it live, on the room page and in
// catch-up; others cannot, and bad ids are answered with the right error.
func TestFeatEditAndDelete(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob, carol := env.NewUser("alice"), env.NewUser("bob"), env.NewUser("carol")
	const room = "edits"
	a := featDial(t, alice, room, "")
	c := featDial(t, carol, "edits-elsewhere", "")
	id := a.ack("original text", "edit-1").ID()
	// bob joins once the room exists (see TestFeatJoinedBeforeTheRoomExisted).
	b := featDial(t, bob, room, "since="+strconv.FormatInt(id-1, 10))
	created := b.expect("chat.message")
	if created.ID() != id {
		t.Fatalf("bob got %v, want %d", created, id)
	}
	other := c.ack("carol was here", "edit-2").ID()

	refused := []struct {
		name string
		who  *featConn
		msg  map[string]any
		code string
	}{
		{"bob edits alice's", b, map[string]any{"type": "chat.edit", "id": id, "message": "bob was here"}, "forbidden"},
		{"bob deletes alice's", b, map[string]any{"type": "chat.delete", "id": id}, "forbidden"},
		{"edit unknown id", a, map[string]any{"type": "chat.edit", "id": 987654, "message": "x"}, "not_found"},
		{"delete unknown id", a, map[string]any{"type": "chat.delete", "id": 987654}, "not_found"},
		{"edit from another room", a, map[string]any{"type": "chat.edit", "id": other, "message": "x"}, "not_found"},
		{"delete from another room", a, map[string]any{"type": "chat.delete", "id": other}, "not_found"},
		{"edit id 0", a, map[string]any{"type": "chat.edit", "id": 0, "message": "x"}, "invalid_id"},
		{"edit without id", a, map[string]any{"type": "chat.edit", "message": "x"}, "invalid_id"},
		{"delete negative id", a, map[string]any{"type": "chat.delete", "id": -3}, "invalid_id"},
	}
	for _, r := range refused {
		r.who.send(r.msg)
		if f := r.who.expect("error"); f.Str("code") != r.code {
			t.Fatalf("%s: got %v, want error %s", r.name, f, r.code)
		}
	}

	// alice edits: everyone in the room gets chat.edit (the first one: bob's attempt sent none).
	a.send(map[string]any{"type": "chat.edit", "id": id, "message": "  changed text  "})
	for who, p := range map[string]*featConn{"alice": a, "bob": b} {
		f := p.expect("chat.edit")
		if f.ID() != id || f.Str("message") != "changed text" {
			t.Fatalf("%s got %v, want the edit of %d to %q", who, f, id, "changed text")
		}
		at, err := time.Parse(time.RFC3339Nano, f.Str("edited_at"))
		if err != nil {
			t.Fatalf("%s: edited_at %q: %v", who, f.Str("edited_at"), err)
		}
		if made, _ := time.Parse(time.RFC3339Nano, created.Str("created_at")); at.Before(made) {
			t.Fatalf("%s: edited_at %v before created_at %v", who, at, made)
		}
	}
	page := featRoomPage(t, bob, room)
	if !strings.Contains(page, featBody("changed text")+` <span class="edited">(edited)</span>`) || strings.Contains(page, "original text") {
		t.Fatalf("room page after the edit lacks the new text marked (edited), or still has the old:\n%s", page)
	}
	// Catch-up sends the edited text.
	p := featDial(t, bob, room, "since="+strconv.FormatInt(id-1, 10))
	if replayed, _ := p.catchUp(); len(replayed) == 0 || replayed[0].ID() != id || replayed[0].Str("message") != "changed text" || replayed[0].Str("edited_at") == "" {
		t.Fatalf("catch-up after the edit: %v", replayed)
	}
	p.shut()

	// alice deletes: everyone gets chat.delete; the page and catch-up no longer have it.
	later := a.ack("a later message", "edit-3").ID()
	a.send(map[string]any{"type": "chat.delete", "id": id})
	for who, p := range map[string]*featConn{"alice": a, "bob": b} {
		if f := p.expect("chat.delete"); f.ID() != id {
			t.Fatalf("%s got %v, want the delete of %d", who, f, id)
		}
	}
	page = featRoomPage(t, bob, room)
	if strings.Contains(page, "changed text") || strings.Contains(page, fmt.Sprintf(`data-id="%d"`, id)) || !strings.Contains(page, featBody("a later message")) {
		t.Fatalf("room page after the delete:\n%s", page)
	}
	p = featDial(t, bob, room, "since="+strconv.FormatInt(id-1, 10))
	replayed, end := p.catchUp()
	featSameIDs(t, "catch-up after the delete", featIDs(replayed), []int64{later})
	if int(featNum(end, "count")) != 1 {
		t.Fatalf("catchup frame %v, want count 1", end)
	}

	// The deleted message is gone for edits and deletes too, and carol's is untouched.
	for _, msg := range []map[string]any{
		{"type": "chat.edit", "id": id, "message": "x"},
		{"type": "chat.delete", "id": id},
	} {
		a.send(msg)
		a.expectError("not_found")
	}
	if !strings.Contains(featRoomPage(t, carol, "edits-elsewhere"), featBody("carol was here")) {
		t.Fatal("carol's message changed after refused edits and deletes from another room")
	}
}

// 8b. Edits are refused once the edit window has passed; deleting is still allowed.
func TestFeatEditWindowCloses(t *testing.T) {
	cfg := featConfig(t)
	cfg.EditWindow = time.Millisecond
	env := apptest.Start(t, cfg)
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a, b := featDial(t, alice, "window", ""), featDial(t, bob, "window", "")
	id := a.ack("too late to change", "w-1").ID()
	time.Sleep(20 * time.Millisecond)

	a.send(map[string]any{"type": "chat.edit", "id": id, "message": "changed"})
	a.expectError("edit_window_closed")
	page := featRoomPage(t, alice, "window")
	if !strings.Contains(page, featBody("too late to change")) || strings.Contains(page, "(edited)") {
		t.Fatalf("room page after a refused edit:\n%s", page)
	}
	a.send(map[string]any{"type": "chat.delete", "id": id})
	if f := b.expect("chat.delete"); f.ID() != id {
		t.Fatalf("bob got %v, want the delete of %d", f, id)
	}
}

// 8c. Staff may delete anyone's message (but not edit it); the flag is read from the database
// when the socket opens.
func TestFeatStaffDeletesAnyMessage(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, mod := env.NewUser("alice"), env.NewUser("mod")
	u, err := env.Server.Store.UserByName(context.Background(), "mod")
	if err != nil {
		t.Fatal(err)
	}
	const room = "moderated"
	a := featDial(t, alice, room, "")
	id := a.ack("needs moderation", "s-1").ID()

	// Not staff yet: refused.
	m := featDial(t, mod, room, "since="+strconv.FormatInt(id-1, 10))
	m.send(map[string]any{"type": "chat.delete", "id": id})
	m.expectError("forbidden")
	m.shut()

	if err := env.Server.Store.SetUserStaff(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	m = featDial(t, mod, room, "since="+strconv.FormatInt(id-1, 10))
	if got, _ := m.catchUp(); len(got) != 1 {
		t.Fatalf("staff catch-up has %d messages, want 1", len(got))
	}
	m.send(map[string]any{"type": "chat.edit", "id": id, "message": "staff text"})
	m.expectError("forbidden")
	m.send(map[string]any{"type": "chat.delete", "id": id})
	for who, p := range map[string]*featConn{"alice": a, "mod": m} {
		if f := p.expect("chat.delete"); f.ID() != id {
			t.Fatalf("%s got %v, want the delete of %d", who, f, id)
		}
	}
	if strings.Contains(featRoomPage(t, alice, room), "needs moderation") {
		t.Fatal("the room page still shows the message staff deleted")
	}
}

// 9. The lobby counts the messages of a room that arrived after the last one the user read;
// reading them, over the socket or by opening the room, clears the badge.
func TestFeatUnreadCounts(t *testing.T) {
	tests := []struct {
		name string
		read func(t *testing.T, bob *apptest.Client, b *featConn, ids []int64)
	}{
		{"read frame", func(t *testing.T, bob *apptest.Client, b *featConn, ids []int64) {
			b.send(map[string]any{"type": "read", "id": ids[1]})
			b.sync()
			if row := featLobby(t, bob, "r"); row.Unread != 1 {
				t.Fatalf("after reading 2 of 3: lobby shows %d unread, want 1", row.Unread)
			}
			b.send(map[string]any{"type": "read", "id": ids[2]})
			b.sync()
			// Reading never moves backwards.
			b.send(map[string]any{"type": "read", "id": ids[0]})
			b.sync()
		}},
		{"room page", func(t *testing.T, bob *apptest.Client, b *featConn, ids []int64) {
			featRoomPage(t, bob, "r")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := apptest.Start(t, featConfig(t))
			alice, bob := env.NewUser("alice"), env.NewUser("bob")
			a := featDial(t, alice, "r", "")
			featSendAll(a, "before bob came")
			featRoomPage(t, bob, "r") // bob reads the room
			if row := featLobby(t, bob, "r"); row.Unread != 0 {
				t.Fatalf("lobby shows %d unread right after bob read the room", row.Unread)
			}
			ids := featSendAll(a, "one", "two", "three")
			if row := featLobby(t, bob, "r"); row.Unread != 3 {
				t.Fatalf("lobby shows %d unread, want 3", row.Unread)
			}
			b := featDial(t, bob, "r", "")
			tt.read(t, bob, b, ids)
			page := bob.Get("/")
			if row := featLobby(t, bob, "r"); row.Unread != 0 || strings.Contains(page.Body, "unread-badge") {
				t.Fatalf("lobby still shows %d unread after bob read everything", row.Unread)
			}
			// The next message counts again.
			featSendAll(a, "four")
			if row := featLobby(t, bob, "r"); row.Unread != 1 {
				t.Fatalf("lobby shows %d unread after one new message, want 1", row.Unread)
			}
		})
	}
}

// 10. Each user may send MessageBurst messages at once, then MessageRate per second, across
// all their sockets; a refused message is answered with rate_limited and retry_after_ms, is
// not stored or broadcast, and the socket stays usable. Other users are not affected.
func TestFeatRateLimit(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.MessageRate, cfg.MessageBurst = 1, 3
	env := apptest.Start(t, cfg)
	alice, bob, carol := env.NewUser("alice"), env.NewUser("bob"), env.NewUser("carol")
	const room = "limited"
	a1, a2, b := featDial(t, alice, room, ""), featDial(t, alice, room, ""), featDial(t, bob, room, "")
	watcher := featDial(t, carol, room, "")

	for i := 1; i <= 3; i++ {
		a1.ack(fmt.Sprintf("burst %d", i), fmt.Sprintf("rl-%d", i))
	}
	var wait time.Duration
	for _, try := range []struct {
		sock     *featConn
		clientID string
	}{{a1, "rl-4"}, {a2, "rl-4-other-tab"}} {
		try.sock.send(map[string]any{"type": "chat.message", "message": "one too many", "client_id": try.clientID})
		f := try.sock.expectError("rate_limited")
		ms := featNum(f, "retry_after_ms")
		if ms <= 0 || f.Str("client_id") != try.clientID {
			t.Fatalf("rate_limited frame %v, want retry_after_ms > 0 and client_id %q", f, try.clientID)
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	b.ack("bob is not limited", "rl-bob")

	time.Sleep(wait + 50*time.Millisecond)
	a1.ack("after waiting", "rl-5")

	want := []string{"burst 1", "burst 2", "burst 3", "bob is not limited", "after waiting"}
	for i, f := range watcher.messages(len(want)) {
		if f.Str("message") != want[i] {
			t.Fatalf("carol's message %d: %q, want %q (a refused message was broadcast?)", i, f.Str("message"), want[i])
		}
	}
	if n := len(featStoredIDs(t, env, room)); n != len(want) {
		t.Fatalf("%d messages stored, want %d", n, len(want))
	}
	if strings.Contains(featRoomPage(t, bob, room), "one too many") {
		t.Fatal("a refused message is on the room page")
	}
}

// featLogin submits the login form as c and returns the answer.
func featLogin(t testing.TB, c *apptest.Client, username, password string) apptest.Response {
	t.Helper()
	return c.SubmitForm("/login", "/login", url.Values{"username": {username}, "password": {password}})
}

// 11. Failed logins are throttled per username and per address: after the burst even the right
// password is refused with 429 for that name, other names still work until the address's own
// burst, and the buckets refill with time.
func TestFeatLoginThrottle(t *testing.T) {
	t.Run("per username", func(t *testing.T) {
		cfg := apptest.Config(t)
		cfg.LoginBurstUser = 3
		env := apptest.Start(t, cfg)
		env.NewUser("alice")
		env.NewUser("bob")
		c := env.NewClient()
		for i := range 3 {
			if r := featLogin(t, c, "alice", "wrong password"); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: status %d, want 401", i+1, r.Status)
			}
		}
		r := featLogin(t, c, "alice", "password-alice")
		if r.Status != http.StatusTooManyRequests || !strings.Contains(r.Body, "Too many failed logins") {
			t.Fatalf("right password after 3 failures: status %d, want 429 with a message", r.Status)
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
			t.Fatalf("Retry-After %q, want seconds", r.Header.Get("Retry-After"))
		}
		if r := c.Get("/"); r.Status == http.StatusOK {
			t.Fatal("a refused login started a session")
		}
		if r := featLogin(t, c, "bob", "password-bob"); r.Status != http.StatusSeeOther {
			t.Fatalf("bob from the same client: status %d, want 303", r.Status)
		}
	})

	t.Run("per username, any case", func(t *testing.T) {
		cfg := apptest.Config(t)
		cfg.LoginBurstUser = 3
		env := apptest.Start(t, cfg)
		env.NewUser("alice")
		c := env.NewClient()
		for range 3 {
			featLogin(t, c, "alice", "wrong password")
		}
		for _, name := range []string{"ALICE", "Alice", "alice"} {
			if r := featLogin(t, c, name, "password-alice"); r.Status != http.StatusTooManyRequests {
				t.Fatalf("%s right after 3 failures for alice: status %d, want 429", name, r.Status)
			}
		}
	})

	t.Run("per address", func(t *testing.T) {
		cfg := apptest.Config(t)
		cfg.LoginBurstIP = 4
		env := apptest.Start(t, cfg)
		env.NewUser("alice")
		c := env.NewClient()
		for i := range 4 {
			if r := featLogin(t, c, fmt.Sprintf("nobody%d", i), "whatever"); r.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: status %d, want 401", i+1, r.Status)
			}
		}
		if r := featLogin(t, c, "alice", "password-alice"); r.Status != http.StatusTooManyRequests {
			t.Fatalf("alice after 4 failures from her address: status %d, want 429", r.Status)
		}
	})

	t.Run("bucket refills", func(t *testing.T) {
		cfg := apptest.Config(t)
		cfg.LoginBurstUser = 3
		cfg.LoginRateUser = 60 // one a second
		env := apptest.Start(t, cfg)
		env.NewUser("alice")
		c := env.NewClient()
		for range 3 {
			featLogin(t, c, "alice", "wrong password")
		}
		if r := featLogin(t, c, "alice", "password-alice"); r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password right after 3 failures: status %d, want 429", r.Status)
		}
		// A refused attempt takes no token, so trying again costs nothing until one is back.
		deadline := time.Now().Add(featWait)
		for {
			time.Sleep(100 * time.Millisecond)
			r := featLogin(t, c, "alice", "password-alice")
			if r.Status == http.StatusSeeOther {
				break
			}
			if r.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
				t.Fatalf("waiting for the bucket to refill: status %d", r.Status)
			}
		}
	})
}

// 12. A member who opened a room before its first message was sent (the usual way a new room
// starts) must be able to use it like everyone else once it exists.
func TestFeatJoinedBeforeTheRoomExisted(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	b := featDial(t, bob, "brand-new", "")
	a := featDial(t, alice, "brand-new", "")
	ids := featSendAll(a, "first", "second")
	b.messages(2)

	b.send(map[string]any{"type": "history", "before": 0})
	if got, _ := b.expect("history")["messages"].([]any); len(got) != 2 {
		t.Fatalf("bob's history has %d messages, want 2", len(got))
	}
	b.send(map[string]any{"type": "chat.delete", "id": ids[0]})
	b.expectError("forbidden")

	// bob has read the room (the page marks it), alice writes, bob reads it over the socket.
	featRoomPage(t, bob, "brand-new")
	more := featSendAll(a, "third")
	b.send(map[string]any{"type": "read", "id": more[0]})
	b.sync()
	if row := featLobby(t, bob, "brand-new"); row.Unread != 0 {
		t.Fatalf("lobby shows %d unread after bob's read frame", row.Unread)
	}
}

// featRecorder is a slog handler that keeps every record's level and message.
type featRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *featRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *featRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *featRecorder) WithGroup(string) slog.Handler            { return r }
func (r *featRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}

func (r *featRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *featRecorder) from(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[n:])
}

// 13. Once Shutdown has returned, nothing of the server runs any more: no late presence
// announcement (scheduled by the disconnects Shutdown itself causes) touches the closed layer
// or logs. Under `go test -v` such a late log line goes to a finished test and panics the
// whole package.
func TestFeatNothingRunsAfterShutdown(t *testing.T) {
	rec := &featRecorder{}
	env := apptest.StartLogged(t, featConfig(t), slog.New(rec))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a, b := featDial(t, alice, "bye", ""), featDial(t, bob, "bye", "")
	a.expectWhere("presence", featPresenceIs("alice", "bob"))
	b.expectWhere("presence", featPresenceIs("alice", "bob"))

	if err := env.Shutdown(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	n := rec.count()
	time.Sleep(300 * time.Millisecond)
	if late := rec.from(n); len(late) > 0 {
		t.Fatalf("logged after Shutdown returned: %q", late)
	}
}
