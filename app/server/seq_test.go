package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
)

// featSeqs are the seq fields of frames, in order.
func featSeqs(fs []apptest.Frame) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = int64(featNum(f, "seq"))
	}
	return out
}

// featReplay reads a replay: the chat.message frames up to the catchup or reload frame that
// ends it.
func featReplay(t testing.TB, p *featConn) (msgs []apptest.Frame, end apptest.Frame) {
	t.Helper()
	deadline := time.Now().Add(featWait)
	for {
		f, err := p.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for the end of a replay: %v", err)
		}
		switch f.Type() {
		case "chat.message":
			msgs = append(msgs, f)
		case "catchup", "reload":
			return msgs, f
		}
	}
}

// Messages carry their room's seq; a page that reconnects with ?since_seq= gets what follows,
// past a deleted number, then a catchup frame saying how far it is complete, then live ones.
func TestSeqCatchUpOnConnect(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a, w := featDial(t, alice, "seq", ""), featDial(t, bob, "seq", "")
	for i, text := range []string{"one", "two", "three", "four", "five"} {
		ack := a.ack(text, "c"+text)
		if int(featNum(ack, "seq")) != i+1 {
			t.Fatalf("ack %v: want seq %d", ack, i+1)
		}
	}
	seqs := featSeqs(w.messages(5))
	if want := "[1 2 3 4 5]"; fmt.Sprint(seqs) != want {
		t.Fatalf("broadcast seqs %v, want %s", seqs, want)
	}
	// Delete seq 3 and the last one, 5.
	stored := featStoredIDs(t, env, "seq")
	for _, id := range []int64{stored[2], stored[4]} {
		a.send(map[string]any{"type": "chat.delete", "id": id})
		a.expectWhere("chat.delete", func(f apptest.Frame) bool { return f.ID() == id })
	}

	b := featDial(t, bob, "seq", "since_seq=2")
	replayed, end := featReplay(t, b)
	if fmt.Sprint(featSeqs(replayed)) != "[4]" || end.Type() != "catchup" ||
		featNum(end, "last_seq") != 5 || featNum(end, "count") != 1 || int64(featNum(end, "last_id")) != stored[3] {
		t.Fatalf("since_seq=2: replayed seqs %v then %v; want [4] then catchup count 1, last_seq 5, last_id %d",
			featSeqs(replayed), end, stored[3])
	}
	live := a.ack("six", "csix")
	if f := b.expect("chat.message"); f.ID() != live.ID() || featNum(f, "seq") != 6 {
		t.Fatalf("live after the replay: %v, want id %d seq 6", f, live.ID())
	}

	// Up to date: nothing replayed, still told how far.
	c := featDial(t, bob, "seq", "since_seq=6")
	if replayed, end := featReplay(t, c); len(replayed) != 0 || end.Type() != "catchup" || featNum(end, "last_seq") != 6 {
		t.Fatalf("since_seq=6: %d replayed then %v, want catchup last_seq 6", len(replayed), end)
	}
	// Ahead of the room (a restored database, say): reload, in a room with messages or none.
	for _, tt := range []struct{ room, query string }{{"seq", "since_seq=7"}, {"never-used", "since_seq=1"}} {
		p := featDial(t, bob, tt.room, tt.query)
		if _, end := featReplay(t, p); end.Type() != "reload" || end.Str("reason") != "unknown_position" {
			t.Fatalf("%s %s: %v, want reload unknown_position", tt.room, tt.query, end)
		}
	}
}

// A page that sees a gap asks {"type":"catchup","since_seq":n} on the open socket and gets
// the same answer as on reconnect; bad requests get an error frame and the socket stays.
func TestSeqCatchupRequest(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice := env.NewUser("alice")
	a := featDial(t, alice, "gap", "")
	for _, text := range []string{"one", "two", "three"} {
		a.ack(text, "c"+text)
	}
	// A quiet socket for the requests, so no live copy mixes in.
	a = featDial(t, alice, "gap", "since_seq=3")
	if replayed, end := featReplay(t, a); len(replayed) != 0 || featNum(end, "last_seq") != 3 {
		t.Fatalf("since_seq=3: %d replayed then %v", len(replayed), end)
	}

	a.send(map[string]any{"type": "catchup", "since_seq": 1})
	replayed, end := featReplay(t, a)
	if fmt.Sprint(featSeqs(replayed)) != "[2 3]" || end.Type() != "catchup" || featNum(end, "last_seq") != 3 {
		t.Fatalf("catchup since 1: seqs %v then %v, want [2 3] then last_seq 3", featSeqs(replayed), end)
	}
	// At most one every 250 ms.
	a.send(map[string]any{"type": "catchup", "since_seq": 0})
	if e := a.expectError("rate_limited"); featNum(e, "retry_after_ms") <= 0 || e.Str("in_reply_to") != "catchup" {
		t.Fatalf("rate limit without retry_after_ms or in_reply_to: %v", e)
	}

	for _, tt := range []struct {
		name  string
		frame string
		code  string
	}{
		{"no since_seq", `{"type":"catchup"}`, "invalid_seq"},
		{"negative", `{"type":"catchup","since_seq":-1}`, "invalid_seq"},
		{"a string", `{"type":"catchup","since_seq":"1"}`, "invalid_frame"},
		{"a fraction", `{"type":"catchup","since_seq":1.5}`, "invalid_frame"},
	} {
		if err := a.sock.Conn.WriteMessage(1, []byte(tt.frame)); err != nil {
			t.Fatal(err)
		}
		e := a.expectError(tt.code)
		if e.Str("detail") == "" {
			t.Errorf("%s: error without detail: %v", tt.name, e)
		}
		// Errors of a well-formed catchup request say so, so a page can handle them quietly.
		if want := map[bool]string{true: "catchup", false: ""}[tt.code != "invalid_frame"]; e.Str("in_reply_to") != want {
			t.Errorf("%s: in_reply_to %q, want %q", tt.name, e.Str("in_reply_to"), want)
		}
	}
	// Ahead of the room.
	time.Sleep(300 * time.Millisecond)
	a.send(map[string]any{"type": "catchup", "since_seq": 99})
	if _, end := featReplay(t, a); end.Type() != "reload" {
		t.Fatalf("catchup beyond the room: %v, want reload", end)
	}
	a.sync() // still open and answering
}

// Bad since_seq values are refused before the upgrade with a 400 (the dialer reads only the
// start of the error page, so the message itself is checked in the chat package's terms).
func TestSeqHandshakeBadInput(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice := env.NewUser("alice")
	for _, query := range []string{
		"since_seq=abc",
		"since_seq=-1",
		"since_seq=99999999999999999999",
		"since_seq=1&since=1",
	} {
		s, resp, err := alice.DialRoom("lobby", query)
		if got := handshakeStatus(t, s, resp, err); got != http.StatusBadRequest {
			t.Fatalf("%s: handshake status %d, want 400", query, got)
		}
	}
	// The socket still opens with a good one.
	featDial(t, alice, "lobby", "since_seq=0").sync()
}

// The room page tells its script how far it is complete.
func TestSeqRoomPage(t *testing.T) {
	env := apptest.Start(t, featConfig(t))
	alice := env.NewUser("alice")
	a := featDial(t, alice, "page", "")
	a.ack("one", "c1")
	a.ack("two", "c2")
	if page := featRoomPage(t, alice, "page"); !strings.Contains(page, `data-last-seq="2"`) {
		t.Fatalf("room page lacks data-last-seq=\"2\"")
	}
	if page := featRoomPage(t, alice, "empty"); !strings.Contains(page, `data-last-seq="0"`) {
		t.Fatalf("empty room page lacks data-last-seq=\"0\"")
	}
}
