package channels

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
)

// codesConsumer echoes text frames and reports each Disconnect's code.
type codesConsumer struct{ codes chan int }

func (codesConsumer) Connect(*Conn) error                { return nil }
func (codesConsumer) Receive(c *Conn, text []byte) error { return c.Send(append([]byte(nil), text...)) }
func (p codesConsumer) Disconnect(_ *Conn, code int)     { p.codes <- code }

// serveParking serves an echo route whose silent readers park after 30 ms, and reports each
// Disconnect's code.
func serveParking(t *testing.T, ping time.Duration) (*Server, string, chan int) {
	t.Helper()
	codes := make(chan int, 16)
	srv, host := serveParkingWith(t, Options{PingInterval: ping}, codesConsumer{codes})
	return srv, host, codes
}

// wantCode waits for the next code a consumer's Disconnect got, and fails unless it is want;
// what names the disconnect that must come.
func wantCode(t *testing.T, codes <-chan int, want int, what string) {
	t.Helper()
	select {
	case code := <-codes:
		if code != want {
			t.Fatalf("%s: Disconnect got %d, want %d", what, code, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: never disconnected", what)
	}
}

// serveParkingWith serves consumer on /ws/:room with opts, whose readers park after 30 ms
// unless opts says otherwise; it skips the test where readers cannot park.
func serveParkingWith(t *testing.T, opts Options, consumer Consumer) (*Server, string) {
	t.Helper()
	if !pollerSupported {
		t.Skip("readers park only where there is epoll (Linux)")
	}
	opts.MaxFrameBytes = 4096
	if opts.ParkAfter == 0 {
		opts.ParkAfter = 30 * time.Millisecond
	}
	return serveRouteWith(t, opts, fiber.Config{}, func(app *fiber.App, srv *Server) {
		app.Get("/ws/:room", srv.Route(func(*Scope) Consumer { return consumer }))
	})
}

func dialRoom(t *testing.T, host string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/ws/lobby", http.Header{"Origin": {"http://" + host}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}

func parkedIs(srv *Server, n int64) func() bool {
	return func() bool { return srv.Stats().Parked == n }
}

func echo(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := ws.ReadMessage()
	if err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// A silent socket's reader parks, and wakes for the next message, ping or close: each time it
// is woken it reads everything that came, then parks again.
func TestParkedReaderWakesForEachFrame(t *testing.T) {
	srv, host, codes := serveParking(t, time.Minute)
	ws := dialRoom(t, host)
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	echo(t, ws, "after parking")
	waitFor(t, "the reader to park again", parkedIs(srv, 1))

	// Several messages in one write wake it once and are all handled, in order.
	for _, m := range []string{"one", "two", "three"} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"one", "two", "three"} {
		if _, got, err := ws.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("got %q, %v; want %q", got, err, m)
		}
	}

	waitFor(t, "the reader to park again", parkedIs(srv, 1))
	pongs := make(chan string, 1)
	ws.SetPongHandler(func(data string) error { pongs <- data; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _, _ = ws.ReadMessage() }() // the client library runs pong handlers while reading
	select {
	case p := <-pongs:
		if p != "are you there" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a parked reader's ping was not answered")
	}

	waitFor(t, "the reader to park again", parkedIs(srv, 1))
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, codes, 4001, "the peer's close")
	waitFor(t, "no parked reader", parkedIs(srv, 0))
}

// A peer that drops its socket while the reader is parked is found at once: the poller
// reports the socket readable, the woken reader reads its end.
func TestParkedPeerThatGoesIsDisconnected(t *testing.T) {
	srv, host, codes := serveParking(t, time.Minute)
	ws := dialRoom(t, host)
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	ws.NetConn().Close()
	wantCode(t, codes, CloseAbnormal, "a dropped parked socket")
	waitFor(t, "no open connection", func() bool { return srv.Stats().Open == 0 && srv.Stats().Parked == 0 })
	assertPollerForgot(t, srv)
}

// A parked peer that stops answering pings is dropped after 2.5 ping periods, and one that
// never answers our close frame after closeGrace: the sweep wakes its reader, which has no
// deadline of its own while parked.
func TestParkedSilentPeerIsDropped(t *testing.T) {
	_, host, codes := serveParking(t, 80*time.Millisecond)
	dialRoom(t, host) // never reads: pings go unanswered
	wantCode(t, codes, CloseAbnormal, "a parked peer that answers no ping")

	srv2, host2, codes2 := serveParking(t, time.Minute)
	dialRoom(t, host2) // reads nothing, so it never answers the close frame
	waitFor(t, "the reader to park", parkedIs(srv2, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv2.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a parked peer that never answers: %v", err)
	}
	wantCode(t, codes2, CloseGoingAway, "a parked peer that never answers the close")
}

// Shutdown reaches parked connections: each gets its 1001 and ends when the peer answers.
func TestShutdownClosesParkedConnections(t *testing.T) {
	srv, host, codes := serveParking(t, time.Minute)
	var clients []*websocket.Conn
	for range 3 {
		clients = append(clients, dialRoom(t, host))
	}
	waitFor(t, "three parked readers", parkedIs(srv, 3))
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	for _, ws := range clients {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := ws.ReadMessage() // the client library answers the close frame
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != CloseGoingAway {
			t.Fatalf("client read %v, want close %d", err, CloseGoingAway)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		wantCode(t, codes, CloseGoingAway, "a parked connection at shutdown")
	}
}

// A peer that stops within a frame, or within a fragmented message, keeps its reader (and
// the bytes it sent) until it goes on; the message then arrives whole.
func TestReaderDoesNotParkWithinAMessage(t *testing.T) {
	srv, host, _ := serveParking(t, time.Minute)
	ws := dialRoom(t, host)
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	key := [4]byte{5, 6, 7, 8}
	raw := ws.NetConn()
	send := func(b []byte) {
		t.Helper()
		if _, err := raw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	stillReading := func(what string) {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // over three times ParkAfter
		if n := srv.Stats().Parked; n != 0 {
			t.Fatalf("parked with %s", what)
		}
	}
	half := clientFrame(true, opText, []byte("half and half"), key)
	send(half[:9])
	stillReading("half a frame read")
	send(half[9:])
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != "half and half" {
		t.Fatalf("got %q, %v", got, err)
	}
	waitFor(t, "the reader to park again", parkedIs(srv, 1))
	send(clientFrame(false, opText, []byte("first "), key))
	stillReading("a fragmented message open")
	send(clientFrame(true, opContinuation, []byte("last"), key))
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != "first last" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// Bytes a client sends right behind its handshake, before the 101 (which RFC 6455 forbids but
// a hurried client may do), wait in fasthttp's buffer: the first reader reads them from there.
func TestFramesBehindTheHandshakeAreRead(t *testing.T) {
	_, host, _ := serveParking(t, time.Minute)
	conn, got := handshakeWith(t, host, clientFrame(true, opText, []byte("early"), [4]byte{1, 2, 3, 4}))
	if !strings.Contains(got, "early") { // the echo may come with the 101, or after it
		readUntil(t, conn, "early")
	}
}

// handshakeWith dials host, sends a websocket handshake with behind right after it, in one
// write, and reads the 101; got is what it read.
func handshakeWith(t *testing.T, host string, behind []byte) (conn net.Conn, got string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET /ws/lobby HTTP/1.1\r\nHost: " + host + "\r\nOrigin: http://" + host + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), behind...)); err != nil {
		t.Fatal(err)
	}
	return conn, readUntil(t, conn, "HTTP/1.1 101")
}

// readUntil reads conn until want has come, within five seconds, and returns what it read.
func readUntil(t *testing.T, conn net.Conn, want string) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), want) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read %.200q, then %v; want %q", got, err, want)
		}
	}
	return string(got)
}

// Once a wave of readers has parked (here 3) and no more are parking, the process returns
// its free memory to the system, once: the next release waits for as many parks again.
func TestMemoryReleasedAfterAWaveOfParks(t *testing.T) {
	srv, host := serveParkingWith(t, Options{PingInterval: time.Minute, ReleaseAfterParks: 3}, echoConsumer{})
	first := dialRoom(t, host)
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	time.Sleep(1500 * time.Millisecond) // a sweep or more: one park is no wave
	if n := srv.Stats().Releases; n != 0 {
		t.Fatalf("%d releases after one park", n)
	}
	dialRoom(t, host)
	dialRoom(t, host)
	waitFor(t, "three parked readers", parkedIs(srv, 3))
	waitFor(t, "a release", func() bool { return srv.Stats().Releases == 1 })
	echo(t, first, "wakes and parks again") // one park more, far from the next wave
	waitFor(t, "the reader to park again", parkedIs(srv, 3))
	time.Sleep(1500 * time.Millisecond)
	if n := srv.Stats().Releases; n != 1 {
		t.Fatalf("%d releases, want still 1", n)
	}
}

// A reader woken only to read a pong (each ping period) parks again at once, not after
// ParkAfter, and such parks do not count towards a memory release: a ping round does not
// bring every idle socket's goroutine back.
func TestPongWakesParkAtOnce(t *testing.T) {
	srv, host := serveParkingWith(t, Options{PingInterval: 100 * time.Millisecond,
		ParkAfter: 50 * time.Millisecond, ReleaseAfterParks: 2}, echoConsumer{})
	ws := dialRoom(t, host)
	pongsAnswered := make(chan struct{}, 100)
	ws.SetPingHandler(func(data string) error {
		pongsAnswered <- struct{}{}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() { _, _, _ = ws.ReadMessage() }() // runs the ping handler; nothing else comes
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	for range 8 {
		select {
		case <-pongsAnswered:
		case <-time.After(5 * time.Second):
			t.Fatal("no ping came")
		}
	}
	if n := srv.parks.Load(); n != 1 {
		t.Fatalf("%d parks after ParkAfter counted, want the first only", n)
	}
	if n := srv.Stats().Releases; n != 0 {
		t.Fatalf("%d memory releases from ping rounds", n)
	}
	if n := srv.Stats().Open; n != 1 {
		t.Fatalf("%d open: the pongs kept the socket alive", n)
	}
}

// panicky panics in Receive when the message says so, and in Disconnect always.
type panicky struct{ ended chan int }

func (panicky) Connect(*Conn) error { return nil }
func (panicky) Receive(c *Conn, text []byte) error {
	if string(text) == "panic" {
		panic("receive bug")
	}
	return c.Send(append([]byte(nil), text...))
}
func (p panicky) Disconnect(_ *Conn, code int) {
	p.ended <- code
	panic("disconnect bug")
}

// A consumer that panics on a woken reader's goroutine, in Receive or in Disconnect, ends its
// own connection (1011 for Receive) and nothing else: the process stays up, the socket is
// closed, the connection is forgotten by the server and the poller.
func TestPanicsOnAWokenReader(t *testing.T) {
	ended := make(chan int, 4)
	srv, host := serveParkingWith(t, Options{PingInterval: time.Minute}, panicky{ended})
	receives, disconnects := dialRoom(t, host), dialRoom(t, host)
	waitFor(t, "two parked readers", parkedIs(srv, 2))
	echo(t, receives, "woken")
	waitFor(t, "two parked readers", parkedIs(srv, 2))
	if err := receives.WriteMessage(websocket.TextMessage, []byte("panic")); err != nil {
		t.Fatal(err)
	}
	_, _, err := receives.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseInternalError {
		t.Fatalf("after a panic in Receive the client read %v, want close %d", err, CloseInternalError)
	}
	wantCode(t, ended, CloseInternalError, "a panic in Receive")
	disconnects.NetConn().Close() // its parked reader is woken, and Disconnect panics
	wantCode(t, ended, CloseAbnormal, "a dropped socket whose Disconnect panics")
	waitFor(t, "no open connection", func() bool { return srv.Stats().Open == 0 && srv.Stats().Parked == 0 })
	_ = receives.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := receives.ReadMessage(); err == nil {
		t.Fatal("the socket stayed open")
	}
	assertPollerForgot(t, srv)
}

// A client that sent a frame behind its handshake is first read through fasthttp's buffer,
// which the poller does not see. Pings keep that reader from timing out past ParkAfter;
// then a burst of 2,048 bytes of pings and a message: the reader must not park right after
// the pings it read (the buffer may still hold the message), only after a read timed out.
func TestEarlyReparkNeverStrandsBufferedBytes(t *testing.T) {
	_, host, _ := serveParking(t, time.Minute)
	key := [4]byte{1, 2, 3, 4}
	ping := clientFrame(true, opPing, bytes.Repeat([]byte("p"), 122), key) // 128 bytes
	conn, _ := handshakeWith(t, host, ping)
	start := time.Now()
	for _, at := range []time.Duration{8, 16, 24} { // within ParkAfter (30 ms) of each other
		time.Sleep(time.Until(start.Add(at * time.Millisecond)))
		if _, err := conn.Write(ping); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Until(start.Add(36 * time.Millisecond)))
	burst := append(bytes.Repeat(ping, 16), clientFrame(true, opText, []byte("kept"), key)...)
	if _, err := conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	readUntil(t, conn, "kept")
}
