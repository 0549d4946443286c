package channels

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"chat/app/layer"
)

// probeConsumer answers every frame with what the upgrade request's fasthttp context still
// holds. It takes that context from the scope's Session in Connect, where the test's
// middleware put it before the upgrade, and reads it on the reader goroutine, as the
// runtime's own code does.
type probeConsumer struct{ rc *fasthttp.RequestCtx }

func (p *probeConsumer) Connect(c *Conn) error {
	p.rc = c.Scope().Session.(*fasthttp.RequestCtx)
	return nil
}

func (p *probeConsumer) Receive(c *Conn, _ []byte) error {
	rc := p.rc
	locals := 0
	rc.VisitUserValuesAll(func(any, any) { locals++ })
	return c.SendJSON(map[string]any{
		"headers": rc.Request.Header.Len(),
		"cookie":  string(rc.Request.Header.Cookie("big")),
		"query":   rc.QueryArgs().Len(),
		// Reset would empty the request too, but keep its buffers: check they are gone.
		"buffer": cap(rc.Request.Header.RawHeaders()),
		"locals": locals,
	})
}

func (*probeConsumer) Disconnect(*Conn, int) {}

// A socket does not keep the parsed headers, cookies and query of its upgrade request for its
// whole life (fasthttp would, about 4 KiB each), and the pooled request context it empties
// still serves later plain requests correctly.
func TestUpgradeRequestIsReleased(t *testing.T) {
	srv, host := serveRoute(t, fiber.Config{}, func(app *fiber.App, srv *Server) {
		app.Get("/echo", func(c *fiber.Ctx) error {
			return c.SendString(c.Get("X-Probe") + "|" + c.Cookies("big") + "|" + c.Query("q"))
		})
		app.Get("/ws/:room", func(c *fiber.Ctx) error {
			c.Locals(LocalSession, c.Context())
			return c.Next()
		}, srv.Route(func(*Scope) Consumer { return &probeConsumer{} }))
	})
	big := strings.Repeat("c", 2000)

	for round := range 3 {
		header := http.Header{"Origin": {"http://" + host}, "Cookie": {"big=" + big}, "X-Probe": {"yes"}}
		ws, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://%s/ws/lobby?q=%d", host, round), header)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got struct {
			Headers, Query, Buffer, Locals int
			Cookie                         string
		}
		if err := ws.ReadJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.Headers != 0 || got.Cookie != "" || got.Query != 0 || got.Buffer != 0 || got.Locals != 0 {
			t.Fatalf("round %d: the open socket's upgrade request still holds %d headers, %d query args, a %d-byte cookie, a %d-byte header buffer and %d locals", round, got.Headers, got.Query, len(got.Cookie), got.Buffer, got.Locals)
		}
		_ = ws.Close()
		for deadline := time.Now().Add(5 * time.Second); srv.Stats().Open > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the socket did not end")
			}
		}
		time.Sleep(20 * time.Millisecond) // fasthttp returns the context to its pool after run

		// Plain requests after it, each on a new connection, so each takes a context from the
		// pool, where the emptied one now is (sync.Pool may drop it, more often under -race).
		for i := range 5 {
			want := fmt.Sprintf("p%d|%s|%d", i, big, round)
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/echo?q=%d", host, round), nil)
			req.Header.Set("X-Probe", fmt.Sprintf("p%d", i))
			req.Header.Set("Cookie", "big="+big)
			req.Close = true
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != want {
				t.Fatalf("round %d, request %d: echoed %q, want %q", round, i, body, want)
			}
		}
	}
}

// copiesConsumer answers every frame with what contrib/websocket copied from the upgrade
// request, what the scope held in Connect and what it still holds. It reads the copies on the
// reader goroutine.
type copiesConsumer struct{ scopeCookie, scopeAgent, scopeSession, scopeQuery string }

func (p *copiesConsumer) Connect(c *Conn) error {
	p.scopeCookie, p.scopeAgent = c.Scope().Cookies["big"], c.Scope().Headers[fiber.HeaderUserAgent]
	p.scopeSession, _ = c.Scope().Session.(string)
	p.scopeQuery = c.Scope().Query.Get("q")
	return nil
}

func (p *copiesConsumer) Receive(c *Conn, _ []byte) error {
	session, _ := c.ws.Locals(LocalSession).(string)
	csrf, _ := c.ws.Locals("csrf").(string)
	return c.SendJSON(map[string]any{
		"cookie":        c.ws.Cookies("big"),
		"probe":         c.ws.Headers("X-Probe"),
		"agent":         c.ws.Headers(fiber.HeaderUserAgent),
		"key":           c.ws.Headers("Sec-Websocket-Key"), // as fasthttp spells it
		"ip":            c.ws.IP(),
		"localSession":  session,
		"localCSRF":     csrf,
		"scopeCookie":   p.scopeCookie,
		"scopeAgent":    p.scopeAgent,
		"scopeSession":  p.scopeSession,
		"scopeQuery":    p.scopeQuery,
		"sessionKept":   c.Scope().Session != nil,
		"queryKept":     c.Scope().Query != nil,
		"headersKept":   c.Scope().Headers != nil,
		"cookiesKept":   c.Scope().Cookies != nil,
		"room":          c.Scope().Params.Get("room"),
		"userKeptAfter": c.Scope().User,
	})
}

func (*copiesConsumer) Disconnect(*Conn, int) {}

// contrib/websocket keeps its copies of the upgrade request's cookies, headers and locals for
// the socket's life; the route leaves it only the handshake's headers (and the proxy header
// the client's address comes from) and its own local to copy, after the scope has taken what
// Connect reads. The scope then lets go of what only Connect reads.
func TestUpgradeCopiesOnlyHandshakeHeaders(t *testing.T) {
	_, host := serveRoute(t, fiber.Config{ProxyHeader: fiber.HeaderXForwardedFor}, func(app *fiber.App, srv *Server) {
		app.Get("/ws/:room", func(c *fiber.Ctx) error {
			c.Locals(LocalSession, "the session")
			c.Locals(LocalUser, "the user")
			c.Locals("csrf", "a token")
			return c.Next()
		}, srv.Route(func(*Scope) Consumer { return &copiesConsumer{} }))
	})
	big := strings.Repeat("c", 500)

	header := http.Header{"Origin": {"http://" + host}, "Cookie": {"big=" + big},
		"X-Probe": {"yes"}, "User-Agent": {"probe/1.0"}, "X-Forwarded-For": {"203.0.113.7"}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/ws/lobby?q=7", header)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("probe")); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got map[string]any
	if err := ws.ReadJSON(&got); err != nil {
		t.Fatal(err)
	}
	if got["cookie"] != "" || got["probe"] != "" || got["agent"] != "" {
		t.Errorf("the socket keeps copies of the request's cookie (%d bytes), X-Probe %q and User-Agent %q",
			len(got["cookie"].(string)), got["probe"], got["agent"])
	}
	if got["localSession"] != "" || got["localCSRF"] != "" {
		t.Errorf("the socket keeps copies of the request's locals: session %q, csrf %q", got["localSession"], got["localCSRF"])
	}
	if got["scopeSession"] != "the session" || got["scopeQuery"] != "7" {
		t.Errorf("Connect's scope had session %q and query q=%q, want %q and %q", got["scopeSession"], got["scopeQuery"], "the session", "7")
	}
	for _, kept := range []string{"sessionKept", "queryKept", "headersKept", "cookiesKept"} {
		if got[kept] != false {
			t.Errorf("after Connect the scope still holds what only Connect reads: %s", kept)
		}
	}
	if got["room"] != "lobby" || got["userKeptAfter"] != "the user" {
		t.Errorf("after Connect the scope has room %q and user %q, want %q and %q", got["room"], got["userKeptAfter"], "lobby", "the user")
	}
	if got["key"] == "" {
		t.Error("the handshake's Sec-WebSocket-Key was dropped before the upgrade")
	}
	if got["ip"] != "203.0.113.7" {
		t.Errorf("client address %q, want the proxy header's 203.0.113.7", got["ip"])
	}
	if got["scopeCookie"] != big || got["scopeAgent"] != "probe/1.0" {
		t.Errorf("Connect's scope had cookie of %d bytes and User-Agent %q, want %d bytes and %q",
			len(got["scopeCookie"].(string)), got["scopeAgent"], len(big), "probe/1.0")
	}
}

// serveRoute starts a Fiber app configured as app/server configures it (plus cfg) on a free
// port, with the routes routes adds for a fresh runtime, and returns the runtime and address.
func serveRoute(t *testing.T, cfg fiber.Config, routes func(app *fiber.App, srv *Server)) (*Server, string) {
	t.Helper()
	return serveRouteWith(t, Options{MaxFrameBytes: 4096, PingInterval: time.Minute}, cfg, routes)
}

// serveRouteWith is serveRoute with the runtime's options: the layer, the queue, the write
// timeout and the logger are filled in.
func serveRouteWith(t *testing.T, opts Options, cfg fiber.Config, routes func(app *fiber.App, srv *Server)) (*Server, string) {
	t.Helper()
	opts.Layer = layer.NewMemory(layer.MemoryOptions{})
	opts.SendQueueBytes, opts.WriteTimeout = 1<<20, 5*time.Second
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(opts)
	cfg.DisableStartupMessage, cfg.Immutable, cfg.ReduceMemoryUsage = true, true, true
	app := fiber.New(cfg)
	srv.OwnSockets(app)
	routes(app, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return srv, ln.Addr().String()
}

// heldConsumer's Connect says it began on entered and waits for hold to close; Disconnect
// reports its code on codes.
type heldConsumer struct {
	entered, hold chan struct{}
	codes         chan int
}

func (h heldConsumer) Connect(*Conn) error {
	close(h.entered)
	<-h.hold
	return nil
}

func (heldConsumer) Receive(*Conn, []byte) error    { return nil }
func (h heldConsumer) Disconnect(_ *Conn, code int) { h.codes <- code }

// A handshake accepted by Connect whose 101 reply cannot be written, because the client reset
// the connection meanwhile, never reaches the upgraded handler: the sweep ends it (with 1006)
// after the upgrade timeout, so it does not stay in its groups for good.
func TestAcceptedHandshakeWithoutSocketIsEnded(t *testing.T) {
	held := heldConsumer{entered: make(chan struct{}), hold: make(chan struct{}), codes: make(chan int, 1)}
	srv, host := serveRoute(t, fiber.Config{}, func(app *fiber.App, srv *Server) {
		srv.upgradeWait = 200 * time.Millisecond
		app.Get("/ws/:room", srv.Route(func(*Scope) Consumer { return held }))
	})
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(conn, "GET /ws/lobby HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\nConnection: Upgrade\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", host, host)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.entered:
	case <-time.After(10 * time.Second):
		close(held.hold)
		t.Fatal("Connect did not start")
	}
	_ = conn.(*net.TCPConn).SetLinger(0) // close sends a reset: the 101 reply will fail
	_ = conn.Close()
	released := time.Now()
	close(held.hold)

	select {
	case code := <-held.codes:
		if code != CloseAbnormal {
			t.Errorf("Disconnect got %d, want %d", code, CloseAbnormal)
		}
		// The timeout counts from when Connect returned; anything earlier was not the sweep.
		if waited := time.Since(released); waited < srv.upgradeWait {
			t.Errorf("ended %v after Connect returned, before the upgrade timeout of %v", waited, srv.upgradeWait)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the accepted connection whose socket never came was not ended")
	}
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Open > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", srv.Stats().Open)
		}
	}
}
