package server_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// sendAll sends each text as a message and waits until s has seen them all; it returns the
// ids in order.
func sendAll(t *testing.T, s *apptest.Socket, texts ...string) []int64 {
	t.Helper()
	for _, text := range texts {
		s.Send(map[string]any{"message": text})
	}
	ids := make([]int64, len(texts))
	for i, text := range texts {
		ids[i] = expectMessage(t, s, text).ID()
		if i > 0 && ids[i] <= ids[i-1] {
			t.Fatalf("ids out of order: %v", ids[:i+1])
		}
	}
	return ids
}

// Messages are stored: after a restart on the same file the room page shows them, escaped
// and in order, and a socket asking for ?since= gets the later ones followed by catchup.
func TestHistoryAfterRestart(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	texts := []string{"first <b>bold</b>", "second & \"third\"", "third 'quoted' 咖啡"}
	before := alice.MustDial("hist", "")
	ids := sendAll(t, before, texts...)

	// Sockets open at shutdown are told the server is going away (read while it happens, so
	// the client answers the close handshake and the shutdown need not wait for it).
	closed := make(chan int, 1)
	go func() {
		_ = before.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := before.Conn.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					closed <- ce.Code
				} else {
					closed <- -1
				}
				return
			}
		}
	}()
	env.Restart()
	if code := <-closed; code != 1001 {
		t.Errorf("socket open at shutdown closed with %d, want 1001", code)
	}

	page := alice.Get("/chat/hist/")
	if page.Status != http.StatusOK {
		t.Fatalf("room page after restart: %d", page.Status)
	}
	last := -1
	for _, text := range texts {
		i := strings.Index(page.Body, `<span class="body">`+htmlText(text)+`</span>`)
		if i < 0 {
			t.Fatalf("room page lacks %q (escaped)", text)
		}
		if i < last {
			t.Fatalf("room page shows %q out of order", text)
		}
		last = i
	}
	if strings.Contains(page.Body, "<b>bold</b>") {
		t.Fatal("room page shows markup unescaped")
	}
	if want := fmt.Sprintf(`data-last-id="%d"`, ids[2]); !strings.Contains(page.Body, want) {
		t.Errorf("room page lacks %s", want)
	}

	tests := []struct {
		name  string
		since int64
		want  []int // indexes into texts
	}{
		{"since 0", 0, []int{0, 1, 2}},
		{"since the first", ids[0], []int{1, 2}},
		{"since the last", ids[2], nil},
		{"since a future id", ids[2] + 1000, nil},
		{"since a future id, again", ids[2] + 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := alice.MustDial("hist", "since="+strconv.FormatInt(tt.since, 10))
			s.T = t
			lastID := tt.since
			for _, i := range tt.want {
				f := expectMessage(t, s, texts[i])
				if f.ID() != ids[i] || f.Str("user") != "alice" || f.Str("room") != "hist" || f.Str("created_at") == "" {
					t.Fatalf("replayed frame %v, want id %d by alice in hist", f, ids[i])
				}
				lastID = f.ID()
			}
			f := nextFrame(t, s)
			if tt.since > ids[2] {
				// A position the room never reached: the page's state is not this database's.
				if f.Type() != "reload" || f.Str("reason") != "unknown_position" {
					t.Fatalf("since beyond the newest message got %v, want reload unknown_position", f)
				}
				return
			}
			if f.Type() != "catchup" {
				t.Fatalf("after the replay got %v, want catchup", f)
			}
			if n, _ := f["count"].(float64); int(n) != len(tt.want) {
				t.Errorf("catchup count %v, want %d", f["count"], len(tt.want))
			}
			if id, _ := f["last_id"].(float64); int64(id) != lastID {
				t.Errorf("catchup last_id %v, want %d", f["last_id"], lastID)
			}
		})
	}

	// After the catch-up, live messages follow, each once.
	s := alice.MustDial("hist", "since="+strconv.FormatInt(ids[0], 10))
	expectMessage(t, s, texts[1])
	expectMessage(t, s, texts[2])
	if f := nextFrame(t, s); f.Type() != "catchup" {
		t.Fatalf("got %v, want catchup", f)
	}
	live := sendAll(t, s, "live one", "live two")
	if live[0] <= ids[2] {
		t.Fatalf("live id %d not after %d", live[0], ids[2])
	}
	expectNoFrame(t, s, 200*time.Millisecond)
}

// A client whose since is beyond the newest message (a tab left open while the database was
// restored, or a wrong id) is told to reload, and still gets live messages meanwhile.
func TestSinceBeyondNewestStillGetsLive(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	ids := sendAll(t, alice.MustDial("hist", ""), "one")
	s := alice.MustDial("hist", "since="+strconv.FormatInt(ids[0]+1000, 10))
	if f := nextFrame(t, s); f.Type() != "reload" || f.Str("reason") != "unknown_position" {
		t.Fatalf("got %v, want reload unknown_position", f)
	}
	s.Send(map[string]any{"message": "live"})
	expectMessage(t, s, "live")
}

// A since that is not a message id refuses the handshake with 400.
func TestBadSinceIs400(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	sendAll(t, alice.MustDial("hist", ""), "one")
	tests := []struct {
		query string
		want  int
	}{
		{"since=abc", http.StatusBadRequest},
		{"since=-1", http.StatusBadRequest},
		{"since=1.5", http.StatusBadRequest},
		{"since=0x10", http.StatusBadRequest},
		{"since=99999999999999999999", http.StatusBadRequest},
		{"since=%20", http.StatusBadRequest},
		{"since=0", http.StatusSwitchingProtocols},
		{"since=", http.StatusSwitchingProtocols}, // empty: no catch-up asked
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			s, resp, err := alice.DialRoom("hist", tt.query)
			if got := handshakeStatus(t, s, resp, err); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
	// The same in a room that has no messages yet.
	s, resp, err := alice.DialRoom("empty", "since=abc")
	if got := handshakeStatus(t, s, resp, err); got != http.StatusBadRequest {
		t.Fatalf("since=abc in an empty room: status %d, want 400", got)
	}
}

var messageItemRE = regexp.MustCompile(`<li class="msg[^"]*" data-id="(\d+)"`)

// The room page renders only the newest HistoryPageSize messages, oldest first.
func TestRoomPageShowsLastPage(t *testing.T) {
	cfg := testConfig(t)
	env := apptest.Start(t, cfg)
	alice := env.NewUser("alice")
	pageSize := cfg.HistoryPageSize
	if pageSize != 50 {
		t.Fatalf("HistoryPageSize = %d, this test expects the default 50", pageSize)
	}
	total := pageSize + 5
	texts := make([]string, total)
	for i := range texts {
		texts[i] = fmt.Sprintf("m-%03d-end", i)
	}
	ids := sendAll(t, alice.MustDial("long", ""), texts...)

	page := alice.Get("/chat/long/")
	items := messageItemRE.FindAllStringSubmatch(page.Body, -1)
	if len(items) != pageSize {
		t.Fatalf("room page renders %d messages, want %d", len(items), pageSize)
	}
	for i, m := range items {
		want := ids[total-pageSize+i]
		if m[1] != strconv.FormatInt(want, 10) {
			t.Fatalf("item %d has id %s, want %d", i, m[1], want)
		}
	}
	for i, text := range texts {
		shown := strings.Contains(page.Body, text)
		if shown != (i >= total-pageSize) {
			t.Errorf("message %q shown = %v", text, shown)
		}
	}
	if want := fmt.Sprintf(`data-first-id="%d"`, ids[total-pageSize]); !strings.Contains(page.Body, want) {
		t.Errorf("room page lacks %s", want)
	}
}

var lobbyItemRE = regexp.MustCompile(`(?s)<a class="room-link" href="([^"]*)">.*?<span class="room-name">([^<]*)</span>.*?<span class="room-count">([^<]*)</span>`)

// The lobby lists rooms that have messages, most recently active first, with their counts,
// links and escaped names.
func TestLobbyListsRoomsWithCounts(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	var sockets []*apptest.Socket
	for _, room := range []struct {
		name  string
		texts []string
	}{{"alpha", []string{"a1", "a2", "a3"}}, {"<i>x", []string{"i1"}}, {"咖啡", []string{"k1", "k2"}}, {"quiet", nil}} {
		s := alice.MustDial(room.name, "")
		sendAll(t, s, room.texts...)
		sockets = append(sockets, s)
	}
	// Opening a room's page or socket without writing ("quiet") does not list it.
	alice.Get("/chat/quiet/")

	lobby := alice.Get("/")
	if lobby.Status != http.StatusOK {
		t.Fatalf("lobby: %d", lobby.Status)
	}
	type item struct{ href, name, count string }
	var got []item
	for _, m := range lobbyItemRE.FindAllStringSubmatch(lobby.Body, -1) {
		got = append(got, item{m[1], m[2], m[3]})
	}
	want := []item{
		{"/chat/%E5%92%96%E5%95%A1/", "咖啡", "2 messages"},
		{"/chat/%3Ci%3Ex/", "&lt;i&gt;x", "1 message"},
		{"/chat/alpha/", "alpha", "3 messages"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lobby lists\n%v\nwant\n%v", got, want)
	}
	if strings.Contains(lobby.Body, "<i>x") {
		t.Error("lobby shows a room name unescaped")
	}
	// The counts survive a restart (they are stored, not counted in memory).
	for _, s := range sockets {
		s.Conn.Close()
	}
	env.Restart()
	if again := alice.Get("/"); !strings.Contains(again.Body, `<span class="room-count">3 messages</span>`) {
		t.Error("lobby counts lost after restart")
	}
}

// The lobby's open-room form (/chat/?room=name) redirects to the room's canonical URL, with
// the name normalised and escaped; names that cannot be rooms get 400.
func TestLobbyOpenRoomForm(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	tests := []struct {
		room, location, name string
	}{
		{"general", "/chat/general/", "general"},
		{"咖啡", "/chat/%E5%92%96%E5%95%A1/", "咖啡"},
		{"café", "/chat/caf%C3%A9/", "café"},
		{"cafe\u0301", "/chat/caf%C3%A9/", "café"},
		{"  spaced  ", "/chat/spaced/", "spaced"},
		{"a b", "/chat/a%20b/", "a b"},
		{"a?b#c", "/chat/a%3Fb%23c/", "a?b#c"},
		{"100%", "/chat/100%25/", "100%"},
		{"a&b", "/chat/a&b/", "a&amp;b"},
	}
	for _, tt := range tests {
		t.Run(tt.room, func(t *testing.T) {
			r := alice.Get("/chat/?room=" + url.QueryEscape(tt.room))
			if r.Status != http.StatusSeeOther || r.Location != tt.location {
				t.Fatalf("open %q: %d %q, want 303 %q", tt.room, r.Status, r.Location, tt.location)
			}
			page := alice.Get(r.Location)
			if page.Status != http.StatusOK || !strings.Contains(page.Body, `data-room="`+tt.name+`"`) {
				t.Fatalf("GET %s: %d, want the page of room %q", r.Location, page.Status, tt.name)
			}
		})
	}
	for _, bad := range []string{"a/b", strings.Repeat("x", 101), "a\u202Eb"} {
		if r := alice.Get("/chat/?room=" + url.QueryEscape(bad)); r.Status != http.StatusBadRequest {
			t.Errorf("open %q: %d, want 400", bad, r.Status)
		}
	}
}

// A client that missed more than CatchupLimit messages is asked to reload the page instead
// of being sent them all.
func TestCatchupTooManyAsksReload(t *testing.T) {
	cfg := testConfig(t)
	cfg.CatchupLimit = 3
	env := apptest.Start(t, cfg)
	alice := env.NewUser("alice")
	ids := sendAll(t, alice.MustDial("hist", ""), "1", "2", "3", "4", "5")

	s := alice.MustDial("hist", "since=0")
	if f := nextFrame(t, s); f.Type() != "reload" || f.Str("reason") != "too_many_missed" {
		t.Fatalf("got %v, want reload too_many_missed", f)
	}
	// Exactly the limit is still replayed.
	s = alice.MustDial("hist", "since="+strconv.FormatInt(ids[1], 10))
	for _, text := range []string{"3", "4", "5"} {
		expectMessage(t, s, text)
	}
	if f := nextFrame(t, s); f.Type() != "catchup" {
		t.Fatalf("got %v, want catchup", f)
	}
}
