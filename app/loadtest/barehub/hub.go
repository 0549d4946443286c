package main

import (
	"bytes"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// sendQueue is how many frames a client may have waiting before the hub drops it, and
// writeWait how long one write may take, as in gorilla/websocket's chat example.
const (
	sendQueue = 256
	writeWait = 10 * time.Second
)

// client is one connection's queue: the reader is the handler's goroutine, the writer its own.
type client struct {
	send chan []byte
}

// hub relays every text frame a client sends to every client of its room.
type hub struct {
	mu    sync.Mutex
	rooms map[string]map[*client]struct{}
}

// messagePrefix turns a sent `{"message":...}` into the `{"type":"chat.message",...}` the load
// generator counts, without decoding it: the reference does no per-message work but the relay.
var messagePrefix = []byte(`{"type":"chat.message",`)

// newApp is the hub's whole HTTP surface: a stand-in for chat's registration form (the load
// generator registers before it connects; here nothing is checked or stored) and the socket.
func newApp() *fiber.App {
	h := &hub{rooms: map[string]map[*client]struct{}{}}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/register", func(c *fiber.Ctx) error {
		c.Type("html")
		return c.SendString(`<form method="post"><input type="hidden" name="csrf_token" value="none"></form>`)
	})
	app.Post("/register", func(c *fiber.Ctx) error {
		c.Cookie(&fiber.Cookie{Name: "session", Value: c.FormValue("username")})
		return c.Redirect("/", fiber.StatusSeeOther)
	})
	app.Use("/ws", func(c *fiber.Ctx) error {
		if websocket.IsWebSocketUpgrade(c) {
			return c.Next()
		}
		return fiber.ErrUpgradeRequired
	})
	app.Get("/ws/chat/:room/", websocket.New(h.serve))
	return app
}

// serve runs one connection: join the room, start the writer, relay what the client sends.
func (h *hub) serve(conn *websocket.Conn) {
	room := conn.Params("room")
	cl := &client{send: make(chan []byte, sendQueue)}
	h.join(room, cl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range cl.send {
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				break
			}
		}
		// Dropped, failed or left: end the reader as well (Close cannot, since fasthttp closes
		// a hijacked socket only after its handler returns), then wait for the queue to close.
		_ = conn.SetReadDeadline(time.Now())
		for range cl.send {
		}
	}()
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		if kind != websocket.TextMessage || !bytes.HasPrefix(data, []byte("{")) {
			continue
		}
		h.broadcast(room, append(append([]byte(nil), messagePrefix...), data[1:]...))
	}
	h.leave(room, cl)
	<-done
}

func (h *hub) join(room string, cl *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	members := h.rooms[room]
	if members == nil {
		members = map[*client]struct{}{}
		h.rooms[room] = members
	}
	members[cl] = struct{}{}
}

// leave removes the client and closes its queue, which ends its writer.
func (h *hub) leave(room string, cl *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[room][cl]; !ok {
		return
	}
	delete(h.rooms[room], cl)
	if len(h.rooms[room]) == 0 {
		delete(h.rooms, room)
	}
	close(cl.send)
}

// broadcast hands the same bytes to every member's queue; a member whose queue is full is
// dropped rather than waited on: its closed queue ends its writer, which ends its reader.
func (h *hub) broadcast(room string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cl := range h.rooms[room] {
		select {
		case cl.send <- msg:
		default:
			delete(h.rooms[room], cl)
			close(cl.send)
		}
	}
}
