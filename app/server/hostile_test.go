package server_test

// Hostile input that badinput_test.go does not already cover: JSON built to hurt the parser,
// bytes that are not UTF-8, floods of tiny frames, websocket framing that no library would
// send (written by hand on the TCP connection), odd handshakes, markup and SQL in names and
// messages, and path tricks on /static/. Open redirects are TestNextOffSiteGoesHome, CSRF is
// TestCSRFRefusals (auth_test.go); expired sessions are in session_expiry_test.go.

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
	"chat/app/store"
)

// ---------------------------------------------------------------------------------------
// A websocket client written by hand.

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	wsCont  = 0x0
	wsText  = 0x1
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
)

// rawConn is a websocket client written by hand on a TCP connection, so that a test can send
// what no websocket library would: unmasked frames, reserved opcodes, fragments of its choice.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// cookieHeader is the Cookie header c's browser would send to the server.
func cookieHeader(c *apptest.Client) string {
	base, _ := url.Parse(c.Env.BaseURL)
	var parts []string
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// rawHandshake opens a TCP connection and sends a websocket handshake for path with c's
// cookies and this site's Origin; header replaces headers ("" leaves one out). It returns the
// response and, when it is 101 with the right Sec-WebSocket-Accept, the open connection.
func rawHandshake(t testing.TB, c *apptest.Client, path string, header map[string]string) (*http.Response, *rawConn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.Env.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	h := map[string]string{
		"Host": c.Env.Addr, "Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
		"Origin": c.Env.BaseURL, "Cookie": cookieHeader(c),
	}
	for k, v := range header {
		h[k] = v
	}
	names := make([]string, 0, len(h))
	for k, v := range h {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var req strings.Builder
	req.WriteString("GET " + path + " HTTP/1.1\r\n")
	for _, k := range names {
		req.WriteString(k + ": " + h[k] + "\r\n")
	}
	req.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatalf("writing the handshake: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("reading the handshake answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conn.Close()
		return resp, nil
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("Sec-WebSocket-Accept %q is wrong", got)
	}
	_ = conn.SetDeadline(time.Time{})
	return resp, &rawConn{t: t, conn: conn, br: br}
}

// rawDial opens a room's websocket by hand or fails the test.
func rawDial(t testing.TB, c *apptest.Client, room string) *rawConn {
	t.Helper()
	resp, r := rawHandshake(t, c, "/ws/chat/"+url.PathEscape(room)+"/", nil)
	if r == nil {
		t.Fatalf("raw handshake: status %d", resp.StatusCode)
	}
	return r
}

// rawFrame encodes one frame; a client must mask, so mask=false makes a bad frame.
func rawFrame(fin bool, op byte, payload []byte, mask bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var m byte
	if mask {
		m = 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, m|byte(n))
	case n <= 0xFFFF:
		b = append(b, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// send writes frames (already encoded) in one write.
func (r *rawConn) send(frames ...[]byte) error {
	_ = r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.conn.Write(slices.Concat(frames...))
	return err
}

// mustSend writes frames or fails the test.
func (r *rawConn) mustSend(frames ...[]byte) {
	r.t.Helper()
	if err := r.send(frames...); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// readFrame reads one server frame (servers never mask, and this one never fragments).
func (r *rawConn) readFrame(d time.Duration) (op byte, payload []byte, err error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	var h [2]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("the server masked a frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r.br, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 4<<20 {
		return 0, nil, fmt.Errorf("server frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r.br, payload); err != nil {
		return 0, nil, err
	}
	return h[0] & 0x0f, payload, nil
}

// next is the next protocol frame (skipping presence, typing, pings), or fails the test.
func (r *rawConn) next() apptest.Frame {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		op, p, err := r.readFrame(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("raw read: %v", err)
		}
		switch op {
		case wsText:
			var f apptest.Frame
			if err := json.Unmarshal(p, &f); err != nil {
				r.t.Fatalf("server frame is not JSON: %q", p)
			}
			if protocolFrames[f.Type()] {
				return f
			}
		case wsClose:
			r.t.Fatalf("the server closed the connection: %d %q", closeCodeOf(p), p[min(2, len(p)):])
		}
	}
}

// closeCode reads until the server's close frame and returns its code; err when the
// connection ended without one (or nothing came in time).
func (r *rawConn) closeCode(d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		op, p, err := r.readFrame(time.Until(deadline))
		if err != nil {
			return 0, err
		}
		if op == wsClose {
			return closeCodeOf(p), nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func closeCodeOf(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

// ---------------------------------------------------------------------------------------
// Reading a socket on its own goroutine, for floods.

// frameTap reads every frame of a socket on its own goroutine, so a test can write thousands
// of frames while the answers are read; a socket nobody reads would fill up and be closed.
type frameTap struct {
	t  testing.TB
	in chan apptest.Frame
}

func tapSocket(t testing.TB, s *apptest.Socket) *frameTap {
	tp := &frameTap{t: t, in: make(chan apptest.Frame, 32768)}
	go func() {
		defer close(tp.in)
		for {
			_, data, err := s.Conn.ReadMessage()
			if err != nil {
				return // the socket is closed when the test ends
			}
			var f apptest.Frame
			if json.Unmarshal(data, &f) != nil {
				f = apptest.Frame{"type": "not json", "raw": string(data)}
			}
			tp.in <- f
		}
	}()
	return tp
}

// until passes frames to each until it returns true, and fails the test if that takes
// longer than d or the socket closes.
func (tp *frameTap) until(d time.Duration, each func(apptest.Frame) bool) {
	tp.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case f, ok := <-tp.in:
			if !ok {
				tp.t.Fatal("the socket closed")
			}
			if each(f) {
				return
			}
		case <-timeout:
			tp.t.Fatalf("no end in %v", d)
		}
	}
}

// message waits for the chat.message with text, failing on any error frame before it.
func (tp *frameTap) message(text string) apptest.Frame {
	tp.t.Helper()
	var got apptest.Frame
	tp.until(10*time.Second, func(f apptest.Frame) bool {
		if f.Type() == "error" {
			tp.t.Fatalf("error frame while waiting for %q: %v", text, f)
		}
		if f.Type() == "chat.message" && f.Str("message") == text {
			got = f
			return true
		}
		return false
	})
	return got
}

// ---------------------------------------------------------------------------------------
// Frames.

// checkStillUsable sends a valid message on a fresh socket of c and checks that it and the
// watcher see it as the next protocol frame: the server is up and the room undisturbed.
func checkStillUsable(t *testing.T, c *apptest.Client, room string, watcher *apptest.Socket, text string) {
	t.Helper()
	s := c.MustDial(room, "")
	s.T, watcher.T = t, t
	s.Send(map[string]any{"message": text})
	expectMessage(t, s, text)
	expectMessage(t, watcher, text)
	s.Conn.Close()
}

// JSON nested far deeper than the decoder allows (10,000 levels) is answered with
// invalid_json, within the frame limit; nesting the decoder allows is just ignored; and
// 100,000 '[' are more than 64 KiB, so the frame limit closes the socket with 1009 first.
func TestHostileDeepNesting(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	a := alice.MustDial("deep", "")
	b := env.NewUser("bob").MustDial("deep", "")

	n := func(s string, k int) string { return strings.Repeat(s, k) }
	tests := []struct {
		name, frame string
		code        string // "" : a message "deep but fine" is stored
	}{
		{"60,000 unclosed [", n("[", 60000), "invalid_json"},
		{"30,000 [ then 30,000 ]", n("[", 30000) + n("]", 30000), "invalid_json"},
		{"message nested 20,000 deep", `{"message":` + n("[", 20000) + n("]", 20000) + `}`, "invalid_json"},
		{"objects nested 10,001 deep", n(`{"a":`, 10001) + "1" + n("}", 10001), "invalid_json"},
		{"unknown field nested 20,000 deep beside a message", `{"message":"x","x":` + n("[", 20000) + n("]", 20000) + `}`, "invalid_json"},
		{"unknown field nested 5,000 deep", `{"x":` + n("[", 5000) + n("]", 5000) + `,"message":"deep but fine"}`, ""},
		{"array nested 5,000 deep", n("[", 5000) + n("]", 5000), "invalid_frame"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.frame) > int(env.Config.MaxFrameBytes) {
				t.Fatalf("frame of %d bytes is over the frame limit", len(tt.frame))
			}
			a.T, b.T = t, t
			a.SendText(tt.frame)
			if tt.code == "" {
				expectMessage(t, a, "deep but fine")
				expectMessage(t, b, "deep but fine")
			} else if f := nextFrame(t, a); f.Type() != "error" || f.Str("code") != tt.code {
				t.Fatalf("answer %v, want error %q", f, tt.code)
			}
			ok := fmt.Sprintf("ok after nesting %d", i)
			a.Send(map[string]any{"message": ok})
			expectMessage(t, a, ok)
			expectMessage(t, b, ok)
		})
	}

	t.Run("100,000 [ passes the frame limit", func(t *testing.T) {
		s := alice.MustDial("deep", "")
		s.T, b.T = t, t
		written := make(chan error, 1)
		go func() { written <- s.Conn.WriteMessage(websocket.TextMessage, []byte(n("[", 100000))) }()
		if code := s.CloseCode(5 * time.Second); code != 1009 {
			t.Fatalf("close code %d, want 1009", code)
		}
		<-written
		checkStillUsable(t, alice, "deep", b, "ok after 100,000 [")
	})
}

// Numbers no int64 holds, fractions and exponents where an id goes are invalid_frame; the
// largest int64 is a valid (if useless) id.
func TestHostileHugeNumbers(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	a := env.NewUser("alice").MustDial("numbers", "")
	b := env.NewUser("bob").MustDial("numbers", "")
	a.Send(map[string]any{"message": "one message so the room has history"})
	expectMessage(t, a, "one message so the room has history")
	expectMessage(t, b, "one message so the room has history")

	tests := []struct {
		name, frame, want string // want: an error code, or a frame type
	}{
		{"history before 1e400", `{"type":"history","before":1e400}`, "invalid_frame"},
		{"history before -1e400", `{"type":"history","before":-1e400}`, "invalid_frame"},
		{"history before 2^63", `{"type":"history","before":9223372036854775808}`, "invalid_frame"},
		{"history before 1.5", `{"type":"history","before":1.5}`, "invalid_frame"},
		{"history before 1e2", `{"type":"history","before":1e2}`, "invalid_frame"},
		{"history before a 10,000-digit number", `{"type":"history","before":1` + strings.Repeat("0", 10000) + `}`, "invalid_frame"},
		{"history before -1", `{"type":"history","before":-1}`, "invalid_id"},
		{"history before the largest int64", `{"type":"history","before":9223372036854775807}`, "history"},
		{"id 99999999999999999999 on a message", `{"id":99999999999999999999}`, "invalid_frame"},
		{"delete id 99999999999999999999", `{"type":"chat.delete","id":99999999999999999999}`, "invalid_frame"},
		{"edit id -99999999999999999999", `{"type":"chat.edit","id":-99999999999999999999,"message":"x"}`, "invalid_frame"},
		{"read id 1e400", `{"type":"read","id":1e400}`, "invalid_frame"},
		{"delete the largest int64", `{"type":"chat.delete","id":9223372036854775807}`, "not_found"},
		{"client_id 1e400", `{"message":"x","client_id":1e400}`, "invalid_frame"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.T, b.T = t, t
			a.SendText(tt.frame)
			var f apptest.Frame
			for f == nil || f.Type() != "error" && f.Type() != "history" {
				fr, err := a.Next(5 * time.Second)
				if err != nil {
					t.Fatalf("waiting for the answer: %v", err)
				}
				f = fr
			}
			got := f.Type()
			if got == "error" {
				got = f.Str("code")
			}
			if got != tt.want {
				t.Fatalf("answer %v, want %q", f, tt.want)
			}
			ok := fmt.Sprintf("ok after number %d", i)
			a.Send(map[string]any{"message": ok})
			expectMessage(t, a, ok)
			expectMessage(t, b, ok)
		})
	}
}

// Bytes that are not UTF-8, inside a message's JSON string, are stored as U+FFFD: every frame
// the server sends, the stored text and the room page stay valid UTF-8. Elsewhere in the
// frame they are answered like any other bad input.
func TestHostileInvalidUTF8(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	a := alice.MustDial("utf8", "")
	b := env.NewUser("bob").MustDial("utf8", "")

	// nextRaw is the next protocol frame's raw bytes.
	nextRaw := func(t *testing.T, s *apptest.Socket) (apptest.Frame, []byte) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_ = s.Conn.SetReadDeadline(deadline)
			_, data, err := s.Conn.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var f apptest.Frame
			if err := json.Unmarshal(data, &f); err != nil {
				t.Fatalf("frame is not JSON: %q", data)
			}
			if protocolFrames[f.Type()] {
				return f, data
			}
		}
	}

	stored := map[string]bool{} // cleaned texts, for the room page check
	messages := []struct {
		name string
		text string // raw bytes inside the JSON string
		rest string // what remains after removing U+FFFD
	}{
		{"lone continuation byte", "a\x80b", "ab"},
		{"0xFF 0xFE", "\xff\xfehi", "hi"},
		{"truncated three-byte character", "\xe5\x92x", "x"},
		{"overlong slash", "\xc0\xafetc", "etc"},
		{"UTF-16 surrogate in UTF-8", "\xed\xa0\x80x", "x"},
		{"escaped lone surrogate", `\ud800x`, "x"},
		{"only invalid bytes", "\xff\xff\xff", ""},
		{"valid text around a bad byte", "café\xff咖啡", "café咖啡"},
	}
	for _, tt := range messages {
		t.Run(tt.name, func(t *testing.T) {
			a.T, b.T = t, t
			if err := a.Conn.WriteMessage(websocket.TextMessage, []byte(`{"message":"`+tt.text+`"}`)); err != nil {
				t.Fatal(err)
			}
			fa, raw := nextRaw(t, a)
			if !utf8.Valid(raw) {
				t.Fatalf("the server sent invalid UTF-8: %q", raw)
			}
			if fa.Type() != "chat.message" {
				t.Fatalf("answer %v, want the message stored with U+FFFD", fa)
			}
			msg := fa.Str("message")
			if !utf8.ValidString(msg) || !strings.ContainsRune(msg, utf8.RuneError) {
				t.Fatalf("stored %q: want valid UTF-8 with U+FFFD", msg)
			}
			if rest := strings.ReplaceAll(msg, "\uFFFD", ""); rest != tt.rest {
				t.Fatalf("stored %q: without U+FFFD %q, want %q", msg, rest, tt.rest)
			}
			if fb, rawB := nextRaw(t, b); fb.ID() != fa.ID() || !utf8.Valid(rawB) || fb.Str("message") != msg {
				t.Fatalf("bob got %q, alice %q", rawB, raw)
			}
			stored[msg] = true
		})
	}

	elsewhere := []struct{ name, frame, code string }{
		{"after the object", "{\"message\":\"x\"}\xff", "invalid_json"},
		{"raw byte instead of a value", "{\"message\":\xff}", "invalid_json"},
		{"in client_id", "{\"message\":\"x\",\"client_id\":\"a\xffb\"}", "invalid_client_id"},
		{"in the type", "{\"type\":\"chat.message\xff\",\"message\":\"x\"}", "unknown_type"},
	}
	for _, tt := range elsewhere {
		t.Run(tt.name, func(t *testing.T) {
			a.T, b.T = t, t
			if err := a.Conn.WriteMessage(websocket.TextMessage, []byte(tt.frame)); err != nil {
				t.Fatal(err)
			}
			f, raw := nextRaw(t, a)
			if !utf8.Valid(raw) {
				t.Fatalf("the server sent invalid UTF-8: %q", raw)
			}
			if f.Type() != "error" || f.Str("code") != tt.code {
				t.Fatalf("answer %v, want error %q", f, tt.code)
			}
		})
	}

	// The database holds valid UTF-8, and the page rendered from it shows the texts.
	ctx := context.Background()
	room, err := env.Server.Store.RoomByName(ctx, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := env.Server.Store.MessagesAfter(ctx, room.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(messages) {
		t.Fatalf("%d messages stored, want %d", len(msgs), len(messages))
	}
	for _, m := range msgs {
		if !utf8.ValidString(m.Body) || !stored[m.Body] {
			t.Errorf("stored body %q", m.Body)
		}
	}
	page := alice.Get("/chat/utf8/")
	if page.Status != http.StatusOK || !utf8.ValidString(page.Body) {
		t.Fatalf("room page: %d, valid UTF-8 %v", page.Status, utf8.ValidString(page.Body))
	}
	for text := range stored {
		if !strings.Contains(page.Body, `<span class="body">`+htmlText(text)+`</span>`) {
			t.Errorf("room page lacks %q", text)
		}
	}
	checkStillUsable(t, alice, "utf8", b, "ok after invalid UTF-8")
}

// Every C0 and C1 control character (but tab and line breaks), DEL, every bidirectional
// control and the byte order mark are removed from messages and from edits; JSON itself
// refuses raw C0 bytes inside a string.
func TestHostileControlCharacters(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	a := alice.MustDial("controls", "")
	b := env.NewUser("bob").MustDial("controls", "")

	var invisible []rune
	for r := rune(0); r < 0x20; r++ {
		if r != '\t' && r != '\n' && r != '\r' {
			invisible = append(invisible, r)
		}
	}
	for r := rune(0x7f); r <= 0x9f; r++ {
		invisible = append(invisible, r)
	}
	invisible = append(invisible, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C, 0xFEFF)
	var sent, want strings.Builder
	for i, r := range invisible {
		c := string(rune('a' + i%26))
		sent.WriteString(c + string(r))
		want.WriteString(c)
	}
	a.Send(map[string]any{"message": sent.String()}) // encoding/json writes them as \u escapes
	f := expectMessage(t, a, want.String())
	expectMessage(t, b, want.String())

	// Raw C0 bytes inside a JSON string are not JSON.
	for _, c := range []byte{0x00, 0x07, 0x1b, 0x1f} {
		a.SendText(`{"message":"a` + string(c) + `b"}`)
		if e := nextFrame(t, a); e.Type() != "error" || e.Str("code") != "invalid_json" {
			t.Fatalf("raw byte %#x: answer %v, want invalid_json", c, e)
		}
	}
	// Raw DEL and C1 characters are valid JSON, and removed.
	a.SendText("{\"message\":\"x\x7fy\u0085z\u009bw\"}")
	expectMessage(t, a, "xyzw")
	expectMessage(t, b, "xyzw")

	// Edits are cleaned the same way.
	a.Send(map[string]any{"type": "chat.edit", "id": f.ID(), "message": "edited\u0000\u202e text\u2066\u0007"})
	for _, s := range []*apptest.Socket{a, b} {
		e := s.Expect("chat.edit")
		if e.ID() != f.ID() || e.Str("message") != "edited text" {
			t.Fatalf("chat.edit %v, want message %q", e, "edited text")
		}
	}
	page := alice.Get("/chat/controls/")
	for _, r := range invisible {
		if strings.ContainsRune(page.Body, r) {
			t.Errorf("room page contains %U", r)
		}
	}
	if !strings.Contains(page.Body, `<span class="body">edited text</span>`) {
		t.Error("room page does not show the cleaned edit")
	}
}

// A flood of tiny frames is answered frame by frame (nothing dropped, nothing doubled), does
// not reach the other members, and leaves the flooder's socket usable; typing frames are
// broadcast at most every 2 s; 5,000 messages meet the per-user rate limit, and exactly the
// ones acknowledged are stored and broadcast. The limits are the defaults.
func TestHostileFloods(t *testing.T) {
	cfg := apptest.Config(t) // rate limits on: 5 messages a second, bursts of 20
	env := apptest.Start(t, cfg)
	alice, bob, carol := env.NewUser("alice"), env.NewUser("bob"), env.NewUser("carol")
	const room, flood = "flood", 5000
	a := alice.MustDial(room, "")
	at := tapSocket(t, a)
	b := bob.MustDial(room, "")
	elsewhere := carol.MustDial("elsewhere", "")

	t.Run("5,000 empty objects", func(t *testing.T) {
		for range flood {
			a.SendText(`{}`)
		}
		n := 0
		at.until(30*time.Second, func(f apptest.Frame) bool {
			if f.Type() == "error" {
				if f.Str("code") != "missing_message" {
					t.Fatalf("answer %v, want missing_message", f)
				}
				n++
			}
			return n == flood
		})
		a.Send(map[string]any{"message": "after the empty flood"})
		at.message("after the empty flood")
		b.T = t
		expectMessage(t, b, "after the empty flood") // and no error frame before it
	})

	t.Run("5,000 typing frames", func(t *testing.T) {
		start := time.Now()
		for range flood {
			a.SendText(`{"type":"typing"}`)
		}
		a.SendText(`{}`) // answered after every typing frame before it was read
		at.until(30*time.Second, func(f apptest.Frame) bool { return f.Type() == "error" })
		elapsed := time.Since(start)
		a.Send(map[string]any{"message": "after the typing flood"})
		at.message("after the typing flood")
		typing := 0
		for {
			f, err := b.Next(5 * time.Second)
			if err != nil {
				t.Fatalf("bob: %v", err)
			}
			if f.Type() == "typing" && f.Str("user") == "alice" {
				typing++
			}
			if f.Type() == "error" || f.Type() == "chat.message" && f.Str("message") != "after the typing flood" {
				t.Fatalf("bob got %v", f)
			}
			if f.Type() == "chat.message" {
				break
			}
		}
		if most := 2 + int(elapsed/(2*time.Second)); typing < 1 || typing > most {
			t.Fatalf("bob got %d typing frames from a flood of %d in %v, want 1 to %d", typing, flood, elapsed, most)
		}
	})

	t.Run("5,000 messages against the rate limit", func(t *testing.T) {
		c := carol.MustDial(room, "")
		for i := range flood {
			a.SendText(fmt.Sprintf(`{"message":"flood %d","client_id":"f-%d"}`, i, i))
			if i == flood/2 {
				c.Send(map[string]any{"message": "carol during the flood", "client_id": "carol-1"})
			}
		}
		acked := map[string]bool{}
		limited := 0
		var retry time.Duration
		at.until(30*time.Second, func(f apptest.Frame) bool {
			switch f.Type() {
			case "ack":
				if acked[f.Str("client_id")] || f["duplicate"] == true {
					t.Fatalf("ack twice or as a duplicate: %v", f)
				}
				acked[f.Str("client_id")] = true
			case "error":
				ms, _ := f["retry_after_ms"].(float64)
				if f.Str("code") != "rate_limited" || ms <= 0 || !strings.HasPrefix(f.Str("client_id"), "f-") {
					t.Fatalf("answer %v, want rate_limited with retry_after_ms and the client_id", f)
				}
				limited++
				retry = time.Duration(ms) * time.Millisecond
			}
			return len(acked)+limited == flood
		})
		if len(acked) < cfg.MessageBurst-2 || limited == 0 {
			t.Fatalf("%d acknowledged and %d refused of %d (burst %d)", len(acked), limited, flood, cfg.MessageBurst)
		}
		if f := c.Expect("ack"); f.Str("client_id") != "carol-1" {
			t.Fatalf("carol's ack: %v", f)
		}
		// Bob sees exactly the acknowledged messages and carol's, in id order.
		seen, carolSeen := 0, false
		var last int64
		for seen < len(acked) || !carolSeen {
			f := nextFrame(t, b)
			if f.Type() != "chat.message" || f.ID() <= last {
				t.Fatalf("bob got %v after id %d", f, last)
			}
			last = f.ID()
			switch {
			case f.Str("message") == "carol during the flood":
				carolSeen = true
			case acked[f.Str("client_id")]:
				seen++
			default:
				t.Fatalf("bob got a message that was not acknowledged: %v", f)
			}
		}
		ctx := context.Background()
		r, err := env.Server.Store.RoomByName(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		n, err := env.Server.Store.AdminCountMessages(ctx, store.MessageFilter{RoomID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(2 + len(acked) + 1); n != want {
			t.Fatalf("%d messages stored in the room, want %d (2 before, %d acknowledged, carol's)", n, want, len(acked))
		}
		// Carol, in another room, was not slowed down or disturbed.
		elsewhere.T = t
		elsewhere.Send(map[string]any{"message": "carol elsewhere"})
		expectMessage(t, elsewhere, "carol elsewhere")
		// After the wait it was told, the flooder can send again.
		time.Sleep(retry + 50*time.Millisecond)
		a.Send(map[string]any{"message": "after the message flood", "client_id": "after"})
		at.message("after the message flood")
		b.T = t
		expectMessage(t, b, "after the message flood")
	})
}

// A text message split into continuation frames, as small as one byte and cut inside a
// character, with a ping between fragments, is reassembled; fragments that add up to more
// than 64 KiB close the socket with 1009.
func TestHostileFragmentedFrames(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	b := env.NewUser("bob").MustDial("frag", "")

	// fragments splits payload into masked frames of size bytes (the last may be shorter).
	fragments := func(payload []byte, size int) [][]byte {
		var out [][]byte
		for i := 0; i < len(payload); i += size {
			end := min(i+size, len(payload))
			op := byte(wsCont)
			if i == 0 {
				op = wsText
			}
			out = append(out, rawFrame(end == len(payload), op, payload[i:end], true))
		}
		return out
	}

	for _, size := range []int{1, 5, 100} {
		t.Run(fmt.Sprintf("%d-byte fragments", size), func(t *testing.T) {
			b.T = t
			text := fmt.Sprintf("fragments of %d: 咖啡 café 🙂", size)
			payload, _ := json.Marshal(map[string]string{"message": text})
			r := rawDial(t, alice, "frag")
			// One write per fragment, so the server reads them as they come.
			for _, f := range fragments(payload, size) {
				r.mustSend(f)
			}
			if f := r.next(); f.Type() != "chat.message" || f.Str("message") != text {
				t.Fatalf("answer %v, want the message", f)
			}
			expectMessage(t, b, text)
		})
	}

	t.Run("empty fragments", func(t *testing.T) {
		b.T = t
		r := rawDial(t, alice, "frag")
		r.mustSend(rawFrame(false, wsText, nil, true), rawFrame(false, wsCont, []byte(`{"message":"empty `), true),
			rawFrame(false, wsCont, nil, true), rawFrame(false, wsCont, []byte(`fragments"}`), true), rawFrame(true, wsCont, nil, true))
		if f := r.next(); f.Str("message") != "empty fragments" {
			t.Fatalf("answer %v", f)
		}
		expectMessage(t, b, "empty fragments")
	})

	t.Run("a ping between fragments", func(t *testing.T) {
		b.T = t
		r := rawDial(t, alice, "frag")
		r.mustSend(rawFrame(false, wsText, []byte(`{"message":"pinged `), true))
		r.mustSend(rawFrame(true, wsPing, []byte("are you there"), true))
		r.mustSend(rawFrame(false, wsCont, []byte(`in the `), true))
		r.mustSend(rawFrame(true, wsCont, []byte(`middle"}`), true))
		gotPong, gotMessage := false, false
		deadline := time.Now().Add(5 * time.Second)
		for !gotPong || !gotMessage {
			op, p, err := r.readFrame(time.Until(deadline))
			if err != nil {
				t.Fatalf("pong %v, message %v: %v", gotPong, gotMessage, err)
			}
			switch {
			case op == wsPong:
				if string(p) != "are you there" {
					t.Fatalf("pong payload %q", p)
				}
				gotPong = true
			case op == wsText && strings.Contains(string(p), `"type":"chat.message"`):
				if !strings.Contains(string(p), `"message":"pinged in the middle"`) {
					t.Fatalf("message %s", p)
				}
				gotMessage = true
			case op == wsClose:
				t.Fatalf("closed: %d", closeCodeOf(p))
			}
		}
		expectMessage(t, b, "pinged in the middle")
	})

	t.Run("the library's NextWriter with a 16-byte buffer", func(t *testing.T) {
		b.T = t
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 16}
		conn, _, err := d.Dial("ws://"+env.Addr+"/ws/chat/frag/", http.Header{"Origin": {env.BaseURL}, "Cookie": {cookieHeader(alice)}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		w, err := conn.NextWriter(websocket.TextMessage)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{`{"mess`, `age":"wri`, `tten in `, `small pieces `, strings.Repeat("z", 100), `"}`} {
			if _, err := w.Write([]byte(part)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, b, "written in small pieces "+strings.Repeat("z", 100))
	})

	t.Run("fragments adding up to exactly 64 KiB", func(t *testing.T) {
		b.T = t
		limit := int(env.Config.MaxFrameBytes)
		payload := []byte(`{"message":"` + strings.Repeat("x", limit-len(`{"message":""}`)) + `"}`)
		r := rawDial(t, alice, "frag")
		r.mustSend(fragments(payload, limit/4)...)
		if f := r.next(); f.Type() != "error" || f.Str("code") != "message_too_long" {
			t.Fatalf("answer %v, want message_too_long", f)
		}
	})

	t.Run("fragments adding up past 64 KiB", func(t *testing.T) {
		b.T = t
		limit := int(env.Config.MaxFrameBytes)
		payload := []byte(`{"message":"` + strings.Repeat("x", limit) + `"}`)
		r := rawDial(t, alice, "frag")
		// Each fragment is far below the limit; the server stops reading once the sum
		// passes it, so later writes may meet a closed connection.
		go func() {
			for _, f := range fragments(payload, 16<<10) {
				if r.send(f) != nil {
					return
				}
			}
		}()
		code, err := r.closeCode(5 * time.Second)
		if err != nil || code != 1009 {
			t.Fatalf("close code %d (%v), want 1009", code, err)
		}
		checkStillUsable(t, alice, "frag", b, "ok after too many fragments")
	})
}

// Framing errors no websocket library would make (RFC 6455 section 5) close the connection with
// 1002 (protocol error; 1007 for a close reason that is not UTF-8, 1009 for a length over the
// limit), or drop it, and the server stays up for everyone else.
func TestHostileFramingErrors(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	b := env.NewUser("bob").MustDial("framing", "")
	open := env.Server.Sockets.Stats().Open

	// header is a masked text frame's header with a declared length, and no payload.
	header := func(length uint64) []byte {
		h := binary.BigEndian.AppendUint64([]byte{0x80 | wsText, 0x80 | 127}, length)
		return append(h, 0x37, 0xfa, 0x21, 0x3d)
	}
	tests := []struct {
		name   string
		frames [][]byte
		code   int // 0: the connection may end with or without a close frame
	}{
		{"reserved data opcode 3", [][]byte{rawFrame(true, 0x3, []byte(`{"message":"x"}`), true)}, 1002},
		{"reserved control opcode 0xB", [][]byte{rawFrame(true, 0xB, nil, true)}, 1002},
		{"unmasked text frame", [][]byte{rawFrame(true, wsText, []byte(`{"message":"unmasked"}`), false)}, 1002},
		{"unmasked ping", [][]byte{rawFrame(true, wsPing, []byte("p"), false)}, 1002},
		{"RSV1 set without compression", [][]byte{func() []byte {
			f := rawFrame(true, wsText, []byte(`{"message":"rsv"}`), true)
			f[0] |= 0x40
			return f
		}()}, 1002},
		{"RSV2 and RSV3 set", [][]byte{func() []byte {
			f := rawFrame(true, wsText, []byte(`{"message":"rsv"}`), true)
			f[0] |= 0x30
			return f
		}()}, 1002},
		{"continuation with nothing to continue", [][]byte{rawFrame(true, wsCont, []byte(`{"message":"x"}`), true)}, 1002},
		{"a new text frame inside a fragmented one", [][]byte{rawFrame(false, wsText, []byte(`{"mess`), true), rawFrame(true, wsText, []byte(`{"message":"x"}`), true)}, 1002},
		{"fragmented ping", [][]byte{rawFrame(false, wsPing, []byte("p"), true)}, 1002},
		{"ping of 126 bytes", [][]byte{rawFrame(true, wsPing, make([]byte, 126), true)}, 1002},
		{"close with code 999", [][]byte{rawFrame(true, wsClose, []byte{0x03, 0xe7}, true)}, 1002},
		{"close with an invalid UTF-8 reason", [][]byte{rawFrame(true, wsClose, []byte{0x03, 0xe8, 0xff, 0xfe}, true)}, 1007},
		{"declared length of 2^62 bytes", [][]byte{header(1 << 62)}, 1009},
		{"declared length with the top bit set", [][]byte{header(1 << 63)}, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.T = t
			r := rawDial(t, alice, "framing")
			r.mustSend(tt.frames...)
			code, err := r.closeCode(5 * time.Second)
			switch {
			case tt.code != 0 && (err != nil || code != tt.code):
				t.Fatalf("close code %d (%v), want %d", code, err, tt.code)
			case tt.code == 0 && err == nil && code != 1002 && code != 1009:
				t.Fatalf("close code %d, want 1002, 1009 or none", code)
			case tt.code == 0 && isTimeout(err):
				t.Fatalf("the connection stayed open: %v", err)
			}
			// Nothing of the bad frame reached the room, and it is still usable.
			checkStillUsable(t, alice, "framing", b, fmt.Sprintf("ok after framing error %d", i))
		})
	}
	// Every one of those connections ended on the server too.
	deadline := time.Now().Add(5 * time.Second)
	for env.Server.Sockets.Stats().Open != open {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets open, want %d", env.Server.Sockets.Stats().Open, open)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------
// Handshakes.

// Handshakes that are not proper websocket upgrades, and ones that carry the session
// anywhere but in the cookie, or an Origin that only looks like this site, are refused before
// any socket exists, and a refused one gives back its place under the per-account limit.
func TestHostileHandshakes(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxConnsPerUser = 1
	env := apptest.Start(t, cfg)
	alice := env.NewUser("alice")
	token := jarValue(alice, "sessionid")
	anonymous := env.NewClient()
	open := env.Server.Sockets.Stats().Open

	tests := []struct {
		name   string
		client *apptest.Client
		path   string
		header map[string]string
		want   int
	}{
		{"Sec-WebSocket-Version 12", alice, "/ws/chat/hs/", map[string]string{"Sec-WebSocket-Version": "12"}, http.StatusUpgradeRequired},
		{"no Sec-WebSocket-Version", alice, "/ws/chat/hs/", map[string]string{"Sec-WebSocket-Version": ""}, http.StatusUpgradeRequired},
		{"no Sec-WebSocket-Key", alice, "/ws/chat/hs/", map[string]string{"Sec-WebSocket-Key": ""}, http.StatusUpgradeRequired},
		{"Upgrade: h2c", alice, "/ws/chat/hs/", map[string]string{"Upgrade": "h2c"}, http.StatusUpgradeRequired},
		{"Connection: keep-alive", alice, "/ws/chat/hs/", map[string]string{"Connection": "keep-alive"}, http.StatusUpgradeRequired},
		{"origin with this site as user info", alice, "/ws/chat/hs/", map[string]string{"Origin": "http://" + env.Addr + "@evil.example"}, http.StatusForbidden},
		{"origin with this site as a subdomain", alice, "/ws/chat/hs/", map[string]string{"Origin": "http://" + env.Addr + ".evil.example"}, http.StatusForbidden},
		{"origin with this site in the query", alice, "/ws/chat/hs/", map[string]string{"Origin": "http://evil.example/?" + env.BaseURL}, http.StatusForbidden},
		{"origin with another scheme", alice, "/ws/chat/hs/", map[string]string{"Origin": "file://" + env.Addr}, http.StatusForbidden},
		{"session token in the query", anonymous, "/ws/chat/hs/?sessionid=" + url.QueryEscape(token), nil, http.StatusForbidden},
		{"session token as a bearer token", anonymous, "/ws/chat/hs/", map[string]string{"Authorization": "Bearer " + token}, http.StatusForbidden},
		{"session token in another cookie", anonymous, "/ws/chat/hs/", map[string]string{"Cookie": "session=" + token + "; sessionid_=" + token}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // more than the limit of one socket
				resp, r := rawHandshake(t, tt.client, tt.path, tt.header)
				if r != nil || resp.StatusCode != tt.want {
					t.Fatalf("handshake status %d, want %d", resp.StatusCode, tt.want)
				}
			}
		})
	}
	// None of them holds a socket or alice's one place.
	if n := env.Server.Sockets.Stats().Open; n != open {
		t.Fatalf("%d sockets open after refused handshakes, want %d", n, open)
	}
	s := alice.MustDial("hs", "")
	s.Send(map[string]any{"message": "the place was free"})
	expectMessage(t, s, "the place was free")
}

// ---------------------------------------------------------------------------------------
// Pages.

// rawMarkup are pieces of the attacks below that must never reach a page unescaped.
var rawMarkup = []string{"<script>alert", "<img src=x", "<svg", `"onmouseover=`, "onerror=alert(1)>", `href="javascript:`}

func checkNoRawMarkup(t *testing.T, what, body string) {
	t.Helper()
	for _, bad := range rawMarkup {
		if strings.Contains(body, bad) {
			i := strings.Index(body, bad)
			t.Errorf("%s contains raw %q: …%s…", what, bad, body[max(0, i-80):min(len(body), i+80)])
		}
	}
}

// Markup and template syntax in room names are text everywhere a room name appears: the room
// page (title and data attributes), the frames, the lobby and its links, the open-room
// redirect and the staff admin. Names with '/' (any closing tag) are refused with a 400 page
// that does not echo them.
func TestHostileMarkupInRoomNames(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	env.MakeStaff("alice")
	names := []string{
		`<script>alert(1)`,
		`<img src=x onerror=alert(1)>`,
		`"><svg onload=alert(1)>`,
		`' onmouseover='alert(1)`,
		`javascript:alert(1)`,
		`{{.User.Username}}`,
		`&lt;b&gt; already escaped`,
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			page := alice.Get("/chat/" + url.PathEscape(name) + "/")
			if page.Status != http.StatusOK {
				t.Fatalf("room page: %d", page.Status)
			}
			checkNoRawMarkup(t, "room page", page.Body)
			if !strings.Contains(page.Body, `#</span>`+htmlText(name)+`</h1>`) || !strings.Contains(page.Body, `data-room="`+htmlText(name)+`"`) {
				t.Errorf("room page does not show the name as text")
			}
			s := alice.MustDial(name, "")
			s.Send(map[string]any{"message": "visited"})
			_, raw, err := s.Conn.ReadMessage()
			for err == nil && !strings.Contains(string(raw), `"type":"chat.message"`) {
				_, raw, err = s.Conn.ReadMessage()
			}
			var f struct{ Room string }
			if err != nil || json.Unmarshal(raw, &f) != nil || f.Room != name || strings.ContainsAny(string(raw), "<>&") {
				t.Fatalf("message frame %s (%v), want the room %q with <, > and & escaped", raw, err, name)
			}
			r := alice.Get("/chat/?room=" + url.QueryEscape(name))
			if r.Status != http.StatusSeeOther || r.Location != "/chat/"+url.PathEscape(name)+"/" || strings.ContainsAny(r.Location, `<>"' `) {
				t.Fatalf("open-room form: %d %q", r.Status, r.Location)
			}
			// Sockets stay open for the admin's live page below.
		})
	}

	lobby := alice.Get("/")
	checkNoRawMarkup(t, "lobby", lobby.Body)
	for _, name := range names {
		if !strings.Contains(lobby.Body, `<span class="room-name">`+htmlText(name)+`</span>`) {
			t.Errorf("lobby does not list %q as text", name)
		}
	}
	hrefs := regexp.MustCompile(`class="room-link" href="([^"]*)"`).FindAllStringSubmatch(lobby.Body, -1)
	if len(hrefs) != len(names) {
		t.Fatalf("lobby has %d room links, want %d", len(hrefs), len(names))
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h[1], "/chat/") || strings.ContainsAny(h[1], `<>"' `) {
			t.Errorf("lobby link %q", h[1])
		}
	}
	for _, path := range []string{"/admin/", "/admin/live", "/admin/messages?room=" + url.QueryEscape(names[1]) + "&q=" + url.QueryEscape(names[2])} {
		r := alice.Get(path)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
		checkNoRawMarkup(t, path, r.Body)
	}

	// A closing tag needs '/', which room names cannot hold.
	for _, path := range []string{
		"/chat/?room=" + url.QueryEscape("<script>alert(1)</script>"),
		"/chat/" + url.PathEscape("<script>alert(1)</script>") + "/",
	} {
		r := alice.Get(path)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("GET %s: %d, want 400", path, r.Status)
		}
		checkNoRawMarkup(t, path, r.Body)
	}
}

// Markup in a username is refused by the username rules, and the forms that show the
// submitted name again show it as text; so do forms given a next with markup in it. Markup in
// messages is TestScriptInMessageStaysText (badinput_test.go).
func TestHostileMarkupInUsernames(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	env.NewUser("alice")
	usernameValue := regexp.MustCompile(`name="username" type="text" value="([^"]*)"`)
	names := []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`alice"onmouseover="alert(1)`,
		`<svg/onload=alert(1)>`,
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := env.NewClient()
			r := register(t, c, "/register", name, "correct horse", "correct horse", nil)
			if r.Status != http.StatusBadRequest || formError(r.Body) != msgUsernameRules {
				t.Fatalf("register: %d %q, want 400 %q", r.Status, formError(r.Body), msgUsernameRules)
			}
			checkNoRawMarkup(t, "register form", r.Body)
			if m := usernameValue.FindStringSubmatch(r.Body); m != nil && html.UnescapeString(m[1]) != name && m[1] != "" {
				t.Errorf("register form shows username %q", m[1])
			}
			r = login(t, c, "/login", name, "correct horse", nil)
			if r.Status != http.StatusUnauthorized || formError(r.Body) != msgWrongLogin {
				t.Fatalf("login: %d %q, want 401 %q", r.Status, formError(r.Body), msgWrongLogin)
			}
			checkNoRawMarkup(t, "login form", r.Body)
			if m := usernameValue.FindStringSubmatch(r.Body); m != nil && html.UnescapeString(m[1]) != name && m[1] != "" {
				t.Errorf("login form shows username %q", m[1])
			}
		})
	}
	if n, err := env.Server.Store.CountUsers(context.Background()); err != nil || n != 1 {
		t.Fatalf("%d users (%v), want only alice", n, err)
	}
	// A next on this site that carries markup is a path, and shown as one.
	c := env.NewClient()
	for _, form := range []string{"/login", "/register"} {
		next := `/chat/x/"><script>alert(1)</script>`
		r := c.Get(form + "?next=" + url.QueryEscape(next))
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", form, r.Status)
		}
		checkNoRawMarkup(t, form+" with next", r.Body)
	}
}

// Input that looks like SQL is data: as a username it breaks the username rules and logs no
// one in, as a password, a room name and a message it is stored and given back literally,
// and every table is intact afterwards.
func TestHostileSQLLookingInput(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	ctx := context.Background()
	bob := env.NewUser("bob")
	inputs := []string{
		`' OR 1=1 --`,
		`"; DROP TABLE messages; --`,
		`' OR '1'='1`,
		`admin'--`,
		`1; DELETE FROM users WHERE 1=1`,
		`' UNION SELECT key_hash, user_id FROM sessions --`,
		`100%_off' --`,
	}

	t.Run("as usernames", func(t *testing.T) {
		for _, in := range inputs {
			c := env.NewClient()
			if r := register(t, c, "/register", in, "correct horse", "correct horse", nil); r.Status != http.StatusBadRequest || formError(r.Body) != msgUsernameRules {
				t.Fatalf("register %q: %d %q", in, r.Status, formError(r.Body))
			}
			for _, pw := range []string{in, "password-bob", "' OR '1'='1"} {
				if r := login(t, c, "/login", in, pw, nil); r.Status != http.StatusUnauthorized {
					t.Fatalf("login as %q: %d, want 401", in, r.Status)
				}
				if r := c.Get("/"); r.Status != http.StatusSeeOther {
					t.Fatalf("login as %q logged in", in)
				}
			}
		}
		if r := login(t, env.NewClient(), "/login", "bob", "' OR '1'='1", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("bob with an SQL password: %d, want 401", r.Status)
		}
	})

	t.Run("as passwords", func(t *testing.T) {
		for i, in := range inputs {
			pw := in + " padding" // at least 8 characters
			name := fmt.Sprintf("sql%d", i)
			env.NewClient().Register(name, pw)
			c := env.NewClient()
			c.Login(name, pw)
			if r := login(t, env.NewClient(), "/login", name, in, nil); r.Status != http.StatusUnauthorized {
				t.Fatalf("%s with a prefix of the password: %d, want 401", name, r.Status)
			}
		}
	})

	var stored []int64
	t.Run("as room names and messages", func(t *testing.T) {
		b := bob.MustDial("sql", "")
		for _, in := range inputs {
			s := bob.MustDial(in, "")
			s.T = t
			s.Send(map[string]any{"message": in})
			if f := expectMessage(t, s, in); f.Str("room") != in {
				t.Fatalf("room %q, want %q", f.Str("room"), in)
			}
			page := bob.Get("/chat/" + url.PathEscape(in) + "/")
			if page.Status != http.StatusOK || !strings.Contains(page.Body, `<span class="body">`+htmlText(in)+`</span>`) {
				t.Fatalf("room page of %q: %d, message shown: %v", in, page.Status, strings.Contains(page.Body, htmlText(in)))
			}
			b.T = t
			b.Send(map[string]any{"message": in})
			stored = append(stored, expectMessage(t, b, in).ID())
		}
	})

	t.Run("the tables are intact", func(t *testing.T) {
		if n, err := env.Server.Store.CountUsers(ctx); err != nil || n != int64(1+len(inputs)) {
			t.Fatalf("%d users (%v), want %d", n, err, 1+len(inputs))
		}
		if n, err := env.Server.Store.AdminCountMessages(ctx, store.MessageFilter{}); err != nil || n != int64(2*len(inputs)) {
			t.Fatalf("%d messages (%v), want %d", n, err, 2*len(inputs))
		}
		rooms, err := env.Server.Store.ListRooms(ctx, 100)
		if err != nil || len(rooms) != len(inputs)+1 {
			t.Fatalf("%d rooms (%v), want %d", len(rooms), err, len(inputs)+1)
		}
		for _, in := range inputs {
			if _, err := env.Server.Store.RoomByName(ctx, in); err != nil {
				t.Errorf("room %q: %v", in, err)
			}
		}
		// The text filter of the admin matches them literally ('%' and '_' included).
		for _, in := range inputs {
			n, err := env.Server.Store.AdminCountMessages(ctx, store.MessageFilter{Text: in})
			if err != nil || n != 2 {
				t.Errorf("messages containing %q: %d (%v), want 2", in, n, err)
			}
		}
		// Sessions still work, and a replay of the room gives back every message literally.
		s := bob.MustDial("sql", "since=0")
		for i, in := range inputs {
			if f := expectMessage(t, s, in); f.ID() != stored[i] {
				t.Fatalf("replayed id %d, want %d", f.ID(), stored[i])
			}
		}
		if f := s.Expect("catchup"); f["count"] != float64(len(inputs)) {
			t.Fatalf("catchup %v, want a count of %d", f, len(inputs))
		}
	})
}

// Paths on /static/ that try to leave the embedded files, or end in a NUL, are 404 (or 400)
// and never give a file's contents; only the files at the top of static/ are served.
func TestHostileStaticPaths(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	// get sends the path exactly as written: no client cleans or re-escapes it.
	get := func(t *testing.T, path string) (int, string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", env.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, env.Addr)
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := get(t, "/static/app.js"); status != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET /static/app.js: %d, %d bytes", status, len(body))
	}
	secrets := []string{"module chat", "root:x:0:0", "package static", "go:embed", "[core]"}
	for _, path := range []string{
		"/static/../go.mod",
		"/static/../../go.mod",
		"/static/..%2fgo.mod",
		"/static/..%2Fgo.mod",
		"/static/%2e%2e/go.mod",
		"/static/%2e%2e/%2e%2e/etc/passwd",
		"/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/static/..%5cgo.mod",
		"/static/%252e%252e%252fgo.mod",
		"/static/....//go.mod",
		"/static/../../../../../../etc/passwd",
		"/static//etc/passwd",
		"/static/app.js%00.css",
		"/static/app.js%00",
		"/static/.",
		"/static/..",
		"/static/",
		"/static/static.go",
		"/static/../.git/config",
		"/static/%2e%2e/static/static.go",
	} {
		t.Run(path, func(t *testing.T) {
			status, body := get(t, path)
			if status != http.StatusNotFound && status != http.StatusBadRequest {
				t.Fatalf("status %d, want 404 or 400", status)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Fatalf("the answer contains %q", s)
				}
			}
		})
	}
}

// Requests over the server's limits are refused cheaply and the server stays up: a form body
// declared over 1 MiB, and request headers larger than the read buffer.
func TestHostileOversizedRequests(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	send := func(t *testing.T, req string) int {
		t.Helper()
		conn, err := net.DialTimeout("tcp", env.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(conn, req) // the server may answer before reading it all
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	huge := strings.Repeat("a", 16<<10)
	tests := []struct {
		name, req string
		want      int
	}{
		// Only the headers: the server must refuse on the declared length, without reading
		// (or waiting for) 2 MiB.
		{"form body of 2 MiB", "POST /login HTTP/1.1\r\nHost: " + env.Addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
			fmt.Sprint(2<<20) + "\r\n\r\n", http.StatusRequestEntityTooLarge},
		{"header of 16 KiB", "GET / HTTP/1.1\r\nHost: " + env.Addr + "\r\nX-Junk: " + huge + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"cookie of 16 KiB on the socket", "GET /ws/chat/x/ HTTP/1.1\r\nHost: " + env.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: " + env.BaseURL + "\r\nCookie: sessionid=" + huge + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"URL of 16 KiB", "GET /chat/" + huge + "/ HTTP/1.1\r\nHost: " + env.Addr + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := send(t, tt.req); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if r := alice.Get("/"); r.Status != http.StatusOK {
				t.Fatalf("GET / afterwards: %d", r.Status)
			}
		})
	}
}
