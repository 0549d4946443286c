//go:build unix

// The stalled-client dialer sets socket options through package syscall, which differs on
// Windows; these tests run on Unix systems.

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
	"chat/models"
)

// featWait bounds every wait for a frame that must come.
const featWait = 5 * time.Second

// featErrTimeout is what featConn.next returns when no frame came in time; unlike a read
// deadline on the socket itself, it leaves the connection usable.
var featErrTimeout = errors.New("no frame in time")

// featItem is one thing read from a socket: a frame or the error that ended the reading.
type featItem struct {
	raw []byte
	err error
}

// featConn reads a socket on its own goroutine into a channel, so a test can wait for a frame
// with a timeout (or prove that none arrives) and keep using the socket afterwards; the
// websocket library makes a connection unusable after a read deadline expires.
type featConn struct {
	t    testing.TB
	sock *apptest.Socket
	in   chan featItem
	stop chan struct{}
	done chan struct{}
	dead error // the error that ended reading, once seen
}

// featWatch starts reading s in the background until the test ends or the socket fails.
func featWatch(t testing.TB, s *apptest.Socket) *featConn {
	p := &featConn{t: t, sock: s, in: make(chan featItem, 8192), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			_, data, err := s.Conn.ReadMessage()
			it := featItem{raw: data, err: err}
			select {
			case p.in <- it:
			case <-p.stop:
				return
			}
			if it.err != nil {
				return
			}
		}
	}()
	t.Cleanup(p.shut)
	return p
}

// shut closes the socket and waits for the reading goroutine to end.
func (p *featConn) shut() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	_ = p.sock.Conn.Close()
	<-p.done
}

// featDial opens c's socket in room (query may be "") and starts watching it.
func featDial(t testing.TB, c *apptest.Client, room, query string) *featConn {
	t.Helper()
	return featWatch(t, c.MustDial(room, query))
}

// send writes v as a JSON text frame from the test goroutine.
func (p *featConn) send(v any) {
	p.t.Helper()
	if err := p.sock.Conn.WriteJSON(v); err != nil {
		p.t.Fatalf("send %v: %v", v, err)
	}
}

// nextRaw is the next frame's bytes within d, featErrTimeout, or the error that ended the
// socket.
func (p *featConn) nextRaw(d time.Duration) ([]byte, error) {
	if p.dead != nil {
		return nil, p.dead
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case it := <-p.in:
		if it.err != nil {
			p.dead = it.err
			return nil, it.err
		}
		return it.raw, nil
	case <-timer.C:
		return nil, featErrTimeout
	}
}

// next is the next frame within d, featErrTimeout, or the error that ended the socket.
func (p *featConn) next(d time.Duration) (apptest.Frame, error) {
	raw, err := p.nextRaw(d)
	if err != nil {
		return nil, err
	}
	var f apptest.Frame
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("frame is not JSON: %q", raw)
	}
	return f, nil
}

// featMessagePrefix starts every chat.message frame: the server writes its fields in a fixed
// order, id first.
var featMessagePrefix = []byte(`{"type":"chat.message","id":`)

// messageIDs collects the ids of the next n chat.message frames without decoding them (large
// frames are slow to decode under the race detector), skipping other frames; prefix, if not
// empty, is where the i-th message's text must start.
func (p *featConn) messageIDs(n int, prefix func(i int) string) []int64 {
	p.t.Helper()
	out := make([]int64, 0, n)
	deadline := time.Now().Add(featWait)
	for len(out) < n {
		raw, err := p.nextRaw(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("waiting for message %d of %d: %v", len(out)+1, n, err)
		}
		if !bytes.HasPrefix(raw, featMessagePrefix) {
			continue
		}
		rest := raw[len(featMessagePrefix):]
		end := bytes.IndexByte(rest, ',')
		id, err := strconv.ParseInt(string(rest[:max(end, 0)]), 10, 64)
		if err != nil {
			p.t.Fatalf("chat.message frame without an id: %.80q", raw)
		}
		if prefix != nil && !bytes.Contains(raw, []byte(`"message":"`+prefix(len(out)))) {
			p.t.Fatalf("message %d: %.120q does not start with %q", len(out), raw, prefix(len(out)))
		}
		out = append(out, id)
	}
	return out
}

// expectWhere skips frames until one of type typ for which ok is true (nil: any) arrives.
func (p *featConn) expectWhere(typ string, ok func(apptest.Frame) bool) apptest.Frame {
	p.t.Helper()
	deadline := time.Now().Add(featWait)
	for {
		f, err := p.next(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("waiting for a %q frame: %v", typ, err)
		}
		if f.Type() == typ && (ok == nil || ok(f)) {
			return f
		}
	}
}

// expect skips frames until one of type typ arrives.
func (p *featConn) expect(typ string) apptest.Frame {
	p.t.Helper()
	return p.expectWhere(typ, nil)
}

// expectNone fails the test if a frame of type typ arrives within d; the socket stays usable.
func (p *featConn) expectNone(typ string, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := p.next(time.Until(deadline))
		if errors.Is(err, featErrTimeout) {
			return
		}
		if err != nil {
			p.t.Fatalf("read while expecting no %q: %v", typ, err)
		}
		if f.Type() == typ {
			p.t.Fatalf("unexpected %q frame: %v", typ, f)
		}
	}
}

// expectError skips frames until an error frame and checks its code.
func (p *featConn) expectError(code string) apptest.Frame {
	p.t.Helper()
	f := p.expect("error")
	if f.Str("code") != code {
		p.t.Fatalf("want error %q, got %v", code, f)
	}
	return f
}

// messages collects the next n chat.message frames, skipping other types.
func (p *featConn) messages(n int) []apptest.Frame {
	p.t.Helper()
	out := make([]apptest.Frame, 0, n)
	for len(out) < n {
		out = append(out, p.expect("chat.message"))
	}
	return out
}

// ack sends a message with a client id and returns the ack the sender gets.
func (p *featConn) ack(text, clientID string) apptest.Frame {
	p.t.Helper()
	p.send(map[string]any{"type": "chat.message", "message": text, "client_id": clientID})
	f := p.expectWhere("ack", func(f apptest.Frame) bool { return f.Str("client_id") == clientID })
	if f.ID() <= 0 {
		p.t.Fatalf("ack without an id: %v", f)
	}
	return f
}

// sync makes sure the server has handled every frame sent before it on this socket: frames
// are read and handled in order, and history always answers.
func (p *featConn) sync() {
	p.t.Helper()
	p.send(map[string]any{"type": "history", "before": 0})
	p.expect("history")
}

// featCloseCode reads until the connection ends; it returns the close code if a close frame
// came (else 0 and the error: a reset or an EOF), and the ids of the chat.message frames read
// on the way, in order.
func featCloseCode(conn *websocket.Conn, d time.Duration) (code int, ids []int64, err error) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ids, nil
			}
			return 0, ids, err
		}
		var f apptest.Frame
		if json.Unmarshal(data, &f) == nil && f.Type() == "chat.message" {
			ids = append(ids, f.ID())
		}
	}
}

// featDialStalled opens c's socket in room for a client that stops reading; the test owns
// reading it (or not). Its kernel buffers are kept small, so that the server's writes to it
// block after about 100 KB instead of several MB: a 4 KiB receive buffer, and a 536-byte
// maximum segment size announced in the handshake (on loopback the MSS is about 64 KiB, and
// the server's kernel sizes its send buffer at ten segments).
func featDialStalled(t testing.TB, c *apptest.Client, room string) *websocket.Conn {
	t.Helper()
	nd := net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
			}
		})
		return errors.Join(err, serr)
	}}
	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   1024,
		NetDial:          nd.Dial,
	}
	base, _ := url.Parse(c.Env.BaseURL)
	var parts []string
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	h := http.Header{}
	h.Set("Origin", c.Env.BaseURL)
	h.Set("Cookie", strings.Join(parts, "; "))
	conn, _, err := d.Dial("ws://"+c.Env.Addr+"/ws/chat/"+url.PathEscape(room)+"/", h)
	if err != nil {
		t.Fatalf("dial stalled client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// featIDs are the ids of frames, in order.
func featIDs(fs []apptest.Frame) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.ID()
	}
	return out
}

// featCheckIncreasing fails the test unless ids strictly increase.
func featCheckIncreasing(t testing.TB, what string, ids []int64) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("%s: id %d at %d follows %d (duplicate or out of order)", what, ids[i], i, ids[i-1])
		}
	}
}

// featSameIDs fails the test unless got and want are the same list, reporting the first
// difference.
func featSameIDs(t testing.TB, what string, got, want []int64) {
	t.Helper()
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			t.Fatalf("%s: at %d got id %d, want %d (got %d ids, want %d)", what, i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d ids, want %d", what, len(got), len(want))
	}
}

// featStoredIDs reads a room's message ids straight from the database.
func featStoredIDs(t testing.TB, env *apptest.Env, room string) []int64 {
	t.Helper()
	ctx := context.Background()
	r, err := env.Server.Store.RoomByName(ctx, room)
	if err != nil {
		t.Fatalf("room %q: %v", room, err)
	}
	var ids []int64
	var after int64
	for {
		msgs, err := env.Server.Store.MessagesAfter(ctx, r.ID, after, 500)
		if err != nil {
			t.Fatalf("messages of %q: %v", room, err)
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		if len(msgs) < 500 {
			return ids
		}
		after = msgs[len(msgs)-1].ID
	}
}

// featSeed stores n messages by username in room through the store in one transaction (for
// tests that need more messages than are quick to send over a socket) and returns their ids.
func featSeed(t testing.TB, env *apptest.Env, username, room string, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	u, err := env.Server.Store.UserByName(ctx, username)
	if err != nil {
		t.Fatalf("user %q: %v", username, err)
	}
	r, err := env.Server.Store.GetOrCreateRoom(ctx, room)
	if err != nil {
		t.Fatalf("room %q: %v", room, err)
	}
	batch := make([]*models.Message, n)
	for i := range batch {
		batch[i] = &models.Message{RoomID: r.ID, UserID: u.ID, Body: fmt.Sprintf("seeded %d", i)}
	}
	if _, err := env.Server.Store.SaveMessages(ctx, batch); err != nil {
		t.Fatalf("seeding %d messages: %v", n, err)
	}
	ids := make([]int64, n)
	for i, m := range batch {
		ids[i] = m.ID
	}
	return ids
}

var (
	featRoomItemRE = regexp.MustCompile(`(?s)<li class="room-item[^"]*">(.*?)</li>`)
	featRoomNameRE = regexp.MustCompile(`<span class="room-name">([^<]*)</span>`)
	featOnlineRE   = regexp.MustCompile(`<span class="badge online-badge">(\d+) online</span>`)
	featUnreadRE   = regexp.MustCompile(`<span class="badge unread-badge">(\d+) unread</span>`)
)

// featLobbyRow is what the lobby shows for one room.
type featLobbyRow struct {
	Online, Unread int // 0 when the badge is absent
}

// featLobby fetches the lobby as c and returns the badges of room (which must be listed).
func featLobby(t testing.TB, c *apptest.Client, room string) featLobbyRow {
	t.Helper()
	page := c.Get("/")
	if page.Status != http.StatusOK {
		t.Fatalf("lobby: status %d", page.Status)
	}
	for _, item := range featRoomItemRE.FindAllStringSubmatch(page.Body, -1) {
		name := featRoomNameRE.FindStringSubmatch(item[1])
		if name == nil || name[1] != room {
			continue
		}
		var row featLobbyRow
		if m := featOnlineRE.FindStringSubmatch(item[1]); m != nil {
			row.Online, _ = strconv.Atoi(m[1])
		}
		if m := featUnreadRE.FindStringSubmatch(item[1]); m != nil {
			row.Unread, _ = strconv.Atoi(m[1])
		}
		return row
	}
	t.Fatalf("lobby does not list room %q:\n%s", room, page.Body)
	return featLobbyRow{}
}

// featUsers is a presence frame's user list.
func featUsers(f apptest.Frame) []string {
	raw, _ := f["users"].([]any)
	out := make([]string, 0, len(raw))
	for _, u := range raw {
		s, _ := u.(string)
		out = append(out, s)
	}
	return out
}

// featPresenceIs matches a presence frame listing exactly users, in order (the list is sorted).
func featPresenceIs(users ...string) func(apptest.Frame) bool {
	want := strings.Join(users, ",")
	return func(f apptest.Frame) bool { return strings.Join(featUsers(f), ",") == want }
}

// catchUp reads what a socket opened with ?since= gets first: the replayed messages and the
// frame that ends them (catchup or reload), skipping presence and typing.
func (p *featConn) catchUp() (replayed []apptest.Frame, end apptest.Frame) {
	p.t.Helper()
	for {
		f, err := p.next(featWait)
		if err != nil {
			p.t.Fatalf("waiting for the catch-up: %v", err)
		}
		switch f.Type() {
		case "chat.message":
			replayed = append(replayed, f)
		case "catchup", "reload":
			return replayed, f
		case "presence", "typing":
		default:
			p.t.Fatalf("unexpected frame during the catch-up: %v", f)
		}
	}
}

// expectNoneWhere fails the test if a frame of type typ for which bad is true arrives within d.
func (p *featConn) expectNoneWhere(typ string, bad func(apptest.Frame) bool, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := p.next(time.Until(deadline))
		if errors.Is(err, featErrTimeout) {
			return
		}
		if err != nil {
			p.t.Fatalf("read while watching %q frames: %v", typ, err)
		}
		if f.Type() == typ && bad(f) {
			p.t.Fatalf("unexpected %q frame: %v", typ, f)
		}
	}
}

// featWaitOpen waits until the server has exactly n sockets open (closes are handled on the
// server's own time).
func featWaitOpen(t testing.TB, env *apptest.Env, n int64) {
	t.Helper()
	deadline := time.Now().Add(featWait)
	for env.Server.Sockets.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets open, want %d", env.Server.Sockets.Stats().Open, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
