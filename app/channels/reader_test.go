package channels

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
)

// echoConsumer sends every text frame back as it came.
type echoConsumer struct{}

func (echoConsumer) Connect(*Conn) error                { return nil }
func (echoConsumer) Receive(c *Conn, text []byte) error { return c.Send(append([]byte(nil), text...)) }
func (echoConsumer) Disconnect(*Conn, int)              {}

// The reader reads each message into a buffer it reuses: a message is delivered whole and
// alone whatever came before it, long or short, and one over the frame limit still ends the
// connection with 1009.
func TestReaderBuffersHoldOneMessageEach(t *testing.T) {
	_, host := serveRoute(t, fiber.Config{}, func(app *fiber.App, srv *Server) {
		app.Get("/ws/:room", srv.Route(func(*Scope) Consumer { return echoConsumer{} }))
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+host+"/ws/lobby", http.Header{"Origin": {"http://" + host}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	// MaxFrameBytes is 4096 here; 3000 bytes outgrow the pooled 2 KiB read buffer.
	for _, msg := range []string{strings.Repeat("long ", 600), "hi", "", strings.Repeat("é", 1500), "x"} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("sent %d bytes, got back %d: %.40q", len(msg), len(got), got)
		}
	}
	if err := ws.WriteMessage(websocket.TextMessage, make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseTooBig {
		t.Fatalf("a 5000-byte message over the 4096-byte limit ended with %v, want close %d", err, CloseTooBig)
	}
}
