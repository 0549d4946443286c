package channels

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
)

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
