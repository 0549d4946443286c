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
// holds. It reaches that context through the scope's Session, where the test's middleware put
// it before the upgrade, and reads it on the reader goroutine, as the runtime's own code does.
type probeConsumer struct{}

func (probeConsumer) Connect(*Conn) error { return nil }

func (probeConsumer) Receive(c *Conn, _ []byte) error {
	rc := c.Scope().Session.(*fasthttp.RequestCtx)
	return c.SendJSON(map[string]any{
		"headers": rc.Request.Header.Len(),
		"cookie":  string(rc.Request.Header.Cookie("big")),
		"query":   rc.QueryArgs().Len(),
		// Reset would empty the request too, but keep its buffers: check they are gone.
		"buffer": cap(rc.Request.Header.RawHeaders()),
	})
}

func (probeConsumer) Disconnect(*Conn, int) {}

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
		}, srv.Route(func(*Scope) Consumer { return probeConsumer{} }))
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
			Headers, Query, Buffer int
			Cookie                 string
		}
		if err := ws.ReadJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.Headers != 0 || got.Cookie != "" || got.Query != 0 || got.Buffer != 0 {
			t.Fatalf("round %d: the open socket's upgrade request still holds %d headers, %d query args, a %d-byte cookie and a %d-byte header buffer", round, got.Headers, got.Query, len(got.Cookie), got.Buffer)
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
// request, and what the scope held in Connect. It reads the copies on the reader goroutine.
type copiesConsumer struct{ scopeCookie, scopeAgent string }

func (p *copiesConsumer) Connect(c *Conn) error {
	p.scopeCookie, p.scopeAgent = c.Scope().Cookies["big"], c.Scope().Headers[fiber.HeaderUserAgent]
	return nil
}

func (p *copiesConsumer) Receive(c *Conn, _ []byte) error {
	return c.SendJSON(map[string]string{
		"cookie":      c.ws.Cookies("big"),
		"probe":       c.ws.Headers("X-Probe"),
		"agent":       c.ws.Headers(fiber.HeaderUserAgent),
		"key":         c.ws.Headers("Sec-Websocket-Key"), // as fasthttp spells it
		"ip":          c.ws.IP(),
		"scopeCookie": p.scopeCookie,
		"scopeAgent":  p.scopeAgent,
	})
}

func (*copiesConsumer) Disconnect(*Conn, int) {}

// contrib/websocket keeps its copies of the upgrade request's cookies and headers for the
// socket's life; the route leaves it only the handshake's headers (and the proxy header the
// client's address comes from) to copy, after the scope has taken what Connect reads.
func TestUpgradeCopiesOnlyHandshakeHeaders(t *testing.T) {
	_, host := serveRoute(t, fiber.Config{ProxyHeader: fiber.HeaderXForwardedFor}, func(app *fiber.App, srv *Server) {
		app.Get("/ws/:room", srv.Route(func(*Scope) Consumer { return &copiesConsumer{} }))
	})
	big := strings.Repeat("c", 500)

	header := http.Header{"Origin": {"http://" + host}, "Cookie": {"big=" + big},
		"X-Probe": {"yes"}, "User-Agent": {"probe/1.0"}, "X-Forwarded-For": {"203.0.113.7"}}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/ws/lobby", header)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("probe")); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got map[string]string
	if err := ws.ReadJSON(&got); err != nil {
		t.Fatal(err)
	}
	if got["cookie"] != "" || got["probe"] != "" || got["agent"] != "" {
		t.Errorf("the socket keeps copies of the request's cookie (%d bytes), X-Probe %q and User-Agent %q",
			len(got["cookie"]), got["probe"], got["agent"])
	}
	if got["key"] == "" {
		t.Error("the handshake's Sec-WebSocket-Key was dropped before the upgrade")
	}
	if got["ip"] != "203.0.113.7" {
		t.Errorf("client address %q, want the proxy header's 203.0.113.7", got["ip"])
	}
	if got["scopeCookie"] != big || got["scopeAgent"] != "probe/1.0" {
		t.Errorf("Connect's scope had cookie of %d bytes and User-Agent %q, want %d bytes and %q",
			len(got["scopeCookie"]), got["scopeAgent"], len(big), "probe/1.0")
	}
}

// serveRoute starts a Fiber app configured as app/server configures it (plus cfg) on a free
// port, with the routes routes adds for a fresh runtime, and returns the runtime and address.
func serveRoute(t *testing.T, cfg fiber.Config, routes func(app *fiber.App, srv *Server)) (*Server, string) {
	t.Helper()
	srv := NewServer(Options{Layer: layer.NewMemory(layer.MemoryOptions{}), MaxFrameBytes: 4096,
		SendQueueBytes: 1 << 20, PingInterval: time.Minute, WriteTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cfg.DisableStartupMessage, cfg.Immutable, cfg.ReduceMemoryUsage = true, true, true
	app := fiber.New(cfg)
	routes(app, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return srv, ln.Addr().String()
}
