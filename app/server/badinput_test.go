package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// Every kind of bad frame gets its exact error frame; the sender's connection stays usable
// and another member of the room sees nothing of it.
func TestBadFramesAreAnsweredAndHarmless(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	a := env.NewUser("alice").MustDial("bad", "")
	b := env.NewUser("bob").MustDial("bad", "")

	tests := []struct {
		name     string
		frame    string
		code     string
		clientID string // echoed in the error frame
	}{
		{"invalid JSON", `{"message": "x"`, "invalid_json", ""},
		{"not JSON at all", `hello`, "invalid_json", ""},
		{"trailing garbage", `{"message":"x"} {}`, "invalid_json", ""},
		{"array", `["message","x"]`, "invalid_frame", ""},
		{"number", `42`, "invalid_frame", ""},
		{"string", `"hello"`, "invalid_frame", ""},
		{"boolean", `true`, "invalid_frame", ""},
		{"null", `null`, "missing_message", ""},
		{"message is a number", `{"message":5}`, "invalid_frame", ""},
		{"message is an object", `{"message":{"text":"x"}}`, "invalid_frame", ""},
		{"message is an array", `{"message":["x"]}`, "invalid_frame", ""},
		{"message is a boolean", `{"message":true}`, "invalid_frame", ""},
		{"type is a number", `{"type":1,"message":"x"}`, "invalid_frame", ""},
		{"client_id is a number", `{"message":"x","client_id":7}`, "invalid_frame", ""},
		{"empty object", `{}`, "missing_message", ""},
		{"missing message", `{"type":"chat.message"}`, "missing_message", ""},
		{"message null", `{"message":null}`, "missing_message", ""},
		{"empty message", `{"message":""}`, "empty_message", ""},
		{"whitespace message", `{"message":" \n\t\r\n  "}`, "empty_message", ""},
		{"only invisible characters", `{"message":"\u0000\u202e\u2066\ufeff\u0007"}`, "empty_message", ""},
		{"message of 4001 characters", `{"message":"` + strings.Repeat("a", 4001) + `"}`, "message_too_long", ""},
		{"message of 4001 CJK characters", `{"message":"` + strings.Repeat("咖", 4001) + `"}`, "message_too_long", ""},
		{"unknown type", `{"type":"no.such.type","message":"x"}`, "unknown_type", ""},
		{"unknown type echoes client_id", `{"type":"no.such.type","message":"x","client_id":"c-1"}`, "unknown_type", "c-1"},
		{"client_id with a space", `{"message":"x","client_id":"a b"}`, "invalid_client_id", ""},
		{"client_id of 65 characters", `{"message":"x","client_id":"` + strings.Repeat("c", 65) + `"}`, "invalid_client_id", ""},
		{"client_id not ASCII", `{"message":"x","client_id":"ü"}`, "invalid_client_id", ""},
		{"client_id with a control character", `{"message":"x","client_id":"a\u0001"}`, "invalid_client_id", ""},
		{"empty message echoes client_id", `{"message":"","client_id":"c-2"}`, "empty_message", "c-2"},
		{"too long echoes client_id", `{"message":"` + strings.Repeat("b", 4001) + `","client_id":"c-3"}`, "message_too_long", "c-3"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.T, b.T = t, t
			a.SendText(tt.frame)
			f := nextFrame(t, a)
			if f.Type() != "error" || f.Str("code") != tt.code {
				t.Fatalf("answer %v, want error %q", f, tt.code)
			}
			if f.Str("detail") == "" {
				t.Errorf("error frame without a detail: %v", f)
			}
			if got := f.Str("client_id"); got != tt.clientID {
				t.Errorf("client_id %q, want %q", got, tt.clientID)
			}
			// Still usable: a valid message goes through, and is the first thing the other
			// member sees (no error, no broadcast of the bad frame).
			ok := fmt.Sprintf("ok after case %d", i)
			a.Send(map[string]any{"message": ok})
			expectMessage(t, a, ok)
			expectMessage(t, b, ok)
		})
	}
}

// Messages at the edges of the rules are accepted and stored cleaned: exactly 4000
// characters, control and bidi characters stripped, line breaks normalised.
func TestEdgeMessagesAreAcceptedAndCleaned(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	a := alice.MustDial("edge", "")
	b := env.NewUser("bob").MustDial("edge", "")

	tests := []struct {
		name, sent, stored string
	}{
		{"exactly 4000 characters", strings.Repeat("a", 4000), strings.Repeat("a", 4000)},
		{"exactly 4000 CJK characters", strings.Repeat("咖", 4000), strings.Repeat("咖", 4000)},
		{"4000 characters inside spaces", "  " + strings.Repeat("b", 4000) + "\n ", strings.Repeat("b", 4000)},
		{"control characters stripped", "a\x00b\x07c\x1bd\x7fe\u0085f", "abcdef"},
		{"bidi overrides stripped", "left\u202Eright\u202Cx\u2066y\u2069\u200Ez\u200F\u061C!", "leftrightxyz!"},
		{"byte order mark stripped", "\uFEFFhello\uFEFF", "hello"},
		{"line breaks normalised", "one\r\ntwo\rthree\nfour\tend", "one\ntwo\nthree\nfour\tend"},
		{"unicode kept", "café 咖啡 🙂 עברית", "café 咖啡 🙂 עברית"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.T, b.T = t, t
			a.Send(map[string]any{"message": tt.sent})
			fa := expectMessage(t, a, tt.stored)
			fb := expectMessage(t, b, tt.stored)
			if fa.ID() != fb.ID() || fa.Str("user") != "alice" {
				t.Fatalf("members got different frames: %v / %v", fa, fb)
			}
		})
	}
	// What was stored is the cleaned text: the page rendered from the database shows it.
	page := alice.Get("/chat/edge/")
	for _, tt := range tests {
		if !strings.Contains(page.Body, `<span class="body">`+htmlText(tt.stored)+`</span>`) {
			t.Errorf("room page lacks stored %s", tt.name)
		}
	}
	for _, bad := range []string{"\x00", "\x07", "\u202E", "\u2066", "\uFEFF", "\r"} {
		if strings.Contains(page.Body, bad) {
			t.Errorf("room page contains %q", bad)
		}
	}
}

// Markup in a message is text: the frame carries it escaped and decodes to the same text,
// and the room page, rendered from the database after a reload, escapes it.
func TestScriptInMessageStaysText(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	a := alice.MustDial("xss", "")
	const evil = `<script>alert(1)</script> & <img src=x onerror=alert(2)> "q" 'a'`
	a.Send(map[string]any{"message": evil})

	var raw []byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = a.Conn.SetReadDeadline(deadline)
		_, data, err := a.Conn.ReadMessage()
		if err != nil {
			t.Fatalf("reading the message frame: %v", err)
		}
		if strings.Contains(string(data), `"type":"chat.message"`) {
			raw = data
			break
		}
	}
	for _, bad := range []string{"<", ">", "&"} {
		if strings.Contains(string(raw), bad) {
			t.Errorf("frame carries a raw %q: %s", bad, raw)
		}
	}
	if !strings.Contains(string(raw), `\u003cscript\u003ealert(1)\u003c/script\u003e`) {
		t.Errorf("frame does not escape the script tag: %s", raw)
	}
	var f struct{ Message string }
	if err := json.Unmarshal(raw, &f); err != nil || f.Message != evil {
		t.Fatalf("frame decodes to %q (%v), want %q", f.Message, err, evil)
	}

	page := alice.Get("/chat/xss/")
	if page.Status != http.StatusOK {
		t.Fatalf("room page: %d", page.Status)
	}
	if !strings.Contains(page.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("room page does not show the escaped script tag")
	}
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(page.Body, bad) {
			t.Errorf("room page contains raw %q", bad)
		}
	}
}

// A binary frame closes the connection with 1003, a frame over 64 KiB with 1009; a frame of
// exactly 64 KiB is read (and answered). Another member is undisturbed throughout.
func TestFramesThatClose(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	b := env.NewUser("bob").MustDial("close", "")
	maxFrame := int(env.Config.MaxFrameBytes)
	if maxFrame != 64<<10 {
		t.Fatalf("MaxFrameBytes = %d, this test expects the default 64 KiB", maxFrame)
	}
	// A JSON frame of exactly n bytes whose message is too long to store.
	frameOf := func(n int) []byte {
		prefix, suffix := `{"message":"`, `"}`
		return []byte(prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix)
	}

	tests := []struct {
		name string
		kind int
		data []byte
		code int // 0: stays open and answers message_too_long
	}{
		{"binary frame", websocket.BinaryMessage, []byte(`{"message":"hi"}`), 1003},
		{"empty binary frame", websocket.BinaryMessage, nil, 1003},
		{"text frame of 64 KiB + 1", websocket.TextMessage, frameOf(maxFrame + 1), 1009},
		{"text frame of 1 MiB", websocket.TextMessage, frameOf(1 << 20), 1009},
		{"text frame of exactly 64 KiB", websocket.TextMessage, frameOf(maxFrame), 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.T = t
			a := alice.MustDial("close", "")
			a.T = t
			// Write concurrently with reading: the server stops reading an oversized frame
			// and closes, so the rest of a large write may meet a reset connection.
			written := make(chan error, 1)
			go func() { written <- a.Conn.WriteMessage(tt.kind, tt.data) }()
			if tt.code != 0 {
				if got := a.CloseCode(5 * time.Second); got != tt.code {
					t.Fatalf("close code %d, want %d", got, tt.code)
				}
				<-written
			} else {
				if err := <-written; err != nil {
					t.Fatalf("write: %v", err)
				}
				if f := nextFrame(t, a); f.Type() != "error" || f.Str("code") != "message_too_long" {
					t.Fatalf("answer %v, want error message_too_long", f)
				}
			}
			// The other member saw nothing and still gets the next message.
			ok := fmt.Sprintf("after frame %d", i)
			a2 := alice.MustDial("close", "")
			a2.T = t
			a2.Send(map[string]any{"message": ok})
			expectMessage(t, a2, ok)
			expectMessage(t, b, ok)
		})
	}
}

// Handshakes without a valid session, or from another origin, are refused with HTTP 403
// before the upgrade.
func TestHandshakesRefused(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	forged := env.NewClient()
	plantCookie(forged, "sessionid", "forged-0123456789abcdefghijklmnopqrstuvwxyzABCD")
	anonymous := env.NewClient()

	tests := []struct {
		name   string
		client *apptest.Client
		opts   apptest.DialOptions
		want   int
	}{
		{"logged in, own origin", alice, apptest.DialOptions{}, http.StatusSwitchingProtocols},
		{"no session cookie", alice, apptest.DialOptions{NoCookie: true}, http.StatusForbidden},
		{"anonymous browser", anonymous, apptest.DialOptions{}, http.StatusForbidden},
		{"forged session cookie", forged, apptest.DialOptions{}, http.StatusForbidden},
		{"foreign origin", alice, apptest.DialOptions{Origin: "http://evil.example"}, http.StatusForbidden},
		{"origin on another port", alice, apptest.DialOptions{Origin: "http://127.0.0.1:1"}, http.StatusForbidden},
		{"origin null", alice, apptest.DialOptions{Origin: "null"}, http.StatusForbidden},
		{"missing origin", alice, apptest.DialOptions{Origin: "-"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, resp, err := tt.client.DialPath("/ws/chat/x/", "", tt.opts)
			if got := handshakeStatus(t, s, resp, err); got != tt.want {
				t.Fatalf("handshake status %d, want %d", got, tt.want)
			}
		})
	}
}

// Invalid room names are refused by both the page and the websocket with 400; the limit is
// 100 characters, not bytes.
func TestInvalidRoomNames(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	tests := []struct {
		name    string
		segment string // the room's path segment, already escaped
		want    int    // page status; the websocket answers 400 for 400 and upgrades for 200
	}{
		{"100 characters", strings.Repeat("a", 100), http.StatusOK},
		{"100 CJK characters", url.PathEscape(strings.Repeat("咖", 100)), http.StatusOK},
		{"101 characters", strings.Repeat("a", 101), http.StatusBadRequest},
		{"101 CJK characters", url.PathEscape(strings.Repeat("咖", 101)), http.StatusBadRequest},
		{"escaped slash", "a%2Fb", http.StatusBadRequest},
		{"escaped backslash", "a%5Cb", http.StatusBadRequest},
		{"control character", "a%07b", http.StatusBadRequest},
		{"bidi override", "a%E2%80%AEb", http.StatusBadRequest},
		{"invalid UTF-8", "a%FFb", http.StatusBadRequest},
		{"only spaces", "%20%20", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := alice.Get("/chat/" + tt.segment + "/")
			if page.Status != tt.want {
				t.Fatalf("page status %d, want %d", page.Status, tt.want)
			}
			if tt.want == http.StatusBadRequest && !strings.Contains(page.Body, "That room name") {
				t.Errorf("400 page does not explain: %s", page.Body)
			}
			wantWS := http.StatusBadRequest
			if tt.want == http.StatusOK {
				wantWS = http.StatusSwitchingProtocols
			}
			s, resp, err := alice.DialPath("/ws/chat/"+tt.segment+"/", "", apptest.DialOptions{})
			if got := handshakeStatus(t, s, resp, err); got != wantWS {
				t.Fatalf("websocket status %d, want %d", got, wantWS)
			}
		})
	}
	// An empty room name goes back to the lobby.
	for _, path := range []string{"/chat/", "/chat/?room="} {
		if r := alice.Get(path); r.Status != http.StatusSeeOther || r.Location != "/" {
			t.Errorf("GET %s: %d %q, want 303 /", path, r.Status, r.Location)
		}
	}
}

// Unicode room names work, are normalised (NFC), and "咖啡", "café" and "cafe" are three
// different rooms.
func TestUnicodeRoomsAreDistinct(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	rooms := []string{"咖啡", "café", "cafe"}
	listen := map[string]*apptest.Socket{}
	speak := map[string]*apptest.Socket{}
	for _, r := range rooms {
		listen[r] = alice.MustDial(r, "")
		speak[r] = bob.MustDial(r, "")
	}
	// The decomposed spelling of café ("e" + combining acute) joins the same room.
	decomposed := alice.MustDial("cafe\u0301", "")

	for _, r := range rooms {
		speak[r].Send(map[string]any{"message": "in " + r})
		for _, other := range rooms {
			if other != r {
				// A marker in every other room: it must be the first thing seen there, so the
				// message above did not leak.
				speak[other].Send(map[string]any{"message": "marker " + other})
			}
		}
		for _, other := range rooms {
			want := "marker " + other
			if other == r {
				want = "in " + r
			}
			f := expectMessage(t, listen[other], want)
			if f.Str("room") != other {
				t.Errorf("frame in %q names room %q", other, f.Str("room"))
			}
			if other == "café" {
				if g := expectMessage(t, decomposed, want); g.ID() != f.ID() {
					t.Errorf("decomposed café got message %d, composed %d", g.ID(), f.ID())
				}
			}
		}
	}

	for _, r := range rooms {
		page := alice.Get("/chat/" + url.PathEscape(r) + "/")
		if page.Status != http.StatusOK {
			t.Fatalf("page of %q: %d", r, page.Status)
		}
		if !strings.Contains(page.Body, `data-room="`+r+`"`) {
			t.Errorf("page of %q does not name the room", r)
		}
		for _, other := range rooms {
			has := strings.Contains(page.Body, `<span class="body">in `+other+`</span>`)
			if has != (other == r) {
				t.Errorf("page of %q shows message of %q: %v", r, other, has)
			}
		}
	}
	// The decomposed URL redirects to the composed one.
	r := alice.Get("/chat/cafe%CC%81/")
	if r.Status != http.StatusMovedPermanently || r.Location != "/chat/caf%C3%A9/" {
		t.Errorf("decomposed café page: %d %q, want 301 /chat/caf%%C3%%A9/", r.Status, r.Location)
	}
}

// A plain GET of a websocket address gets 426 Upgrade Required.
func TestPlainGetOfSocketIs426(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	r := alice.Get("/ws/chat/x/")
	if r.Status != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", r.Status)
	}
	if !strings.Contains(r.Body, "websocket") {
		t.Errorf("426 page does not explain: %s", r.Body)
	}
}

// Unknown paths get the HTML 404 page, logged in or not.
func TestUnknownPathsAre404(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	clients := map[string]*apptest.Client{"anonymous": env.NewClient(), "logged in": env.NewUser("alice")}
	for who, c := range clients {
		for _, path := range []string{"/nope", "/chat/x/extra/", "/ws/other/", "/login/extra", "/admin.php"} {
			t.Run(who+" "+path, func(t *testing.T) {
				r := c.Get(path)
				if r.Status != http.StatusNotFound {
					t.Fatalf("status %d, want 404", r.Status)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("content type %q, want HTML", ct)
				}
				if !strings.Contains(r.Body, "We couldn’t find that page") || !strings.Contains(r.Body, "</html>") {
					t.Errorf("not the 404 page:\n%s", r.Body)
				}
			})
		}
	}
}
