package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"unicode/utf8"

	"chat/app/channels"
	"chat/app/layer"
	"chat/app/store"
	"chat/models"
)

// Store is what the consumer needs from the database.
type Store interface {
	RoomByName(ctx context.Context, name string) (*models.Room, error)
	GetOrCreateRoom(ctx context.Context, name string) (*models.Room, error)
	MessagesAfter(ctx context.Context, roomID, afterID int64, limit int) ([]models.Message, error)
}

// Limits are the consumer's tunable bounds (see config.Config).
type Limits struct {
	MaxMessageChars int
	CatchupLimit    int
}

// App holds what every chat connection shares.
type App struct {
	Store     Store
	Publisher *Publisher
	Limits    Limits
	Log       *slog.Logger
}

// NewConsumer is the channels.Factory for /ws/chat/:room/.
func (a *App) NewConsumer(scope *channels.Scope) channels.Consumer {
	return &Consumer{app: a}
}

// Consumer runs one member's websocket in one room, like the tutorial's ChatConsumer.
type Consumer struct {
	app   *App
	user  *models.User
	room  string
	group string

	roomID   int64 // 0 until the room exists in the database
	lastSent int64 // highest message id written to this client (writer goroutine only after Connect)
}

// Connect checks the user and the room, joins the room's group, and replays what the client
// missed since the id in ?since=, before any live message.
func (c *Consumer) Connect(conn *channels.Conn) error {
	scope := conn.Scope()
	user, _ := scope.User.(*models.User)
	if user == nil {
		return channels.Deny(http.StatusForbidden, "log in first")
	}
	room, err := NormalizeRoomName(scope.Params["room"])
	if err != nil {
		return channels.Deny(http.StatusBadRequest, err.Error())
	}
	c.user, c.room, c.group = user, room, GroupName(room)
	conn.Handle(TypeMessage, c.chatMessage)

	ctx := conn.Context()
	r, err := c.app.Store.RoomByName(ctx, room)
	switch {
	case err == nil:
		c.roomID = r.ID
	case !errors.Is(err, store.ErrNotFound):
		return channels.Deny(http.StatusServiceUnavailable, "database unavailable")
	}
	// Join before reading the database, so that nothing stored in between is missed; what
	// arrives twice is dropped by id in chatMessage.
	if err := conn.GroupAdd(c.group); err != nil {
		return channels.Deny(http.StatusServiceUnavailable, "channel layer unavailable")
	}
	if raw := scope.Query.Get("since"); raw != "" {
		since, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || since < 0 {
			return channels.Deny(http.StatusBadRequest, "since must be a message id")
		}
		return c.catchUp(conn, since)
	}
	return nil
}

// catchUp sends the messages after since, or asks the page to reload when too many were missed.
func (c *Consumer) catchUp(conn *channels.Conn, since int64) error {
	c.lastSent = since
	if c.roomID == 0 {
		return conn.SendJSON(map[string]any{"type": TypeCatchup, "count": 0, "last_id": since})
	}
	limit := c.app.Limits.CatchupLimit
	missed, err := c.app.Store.MessagesAfter(conn.Context(), c.roomID, since, limit+1)
	if err != nil {
		return channels.Deny(http.StatusServiceUnavailable, "database unavailable")
	}
	if len(missed) > limit {
		return conn.SendJSON(map[string]any{"type": TypeReload, "reason": "too_many_missed"})
	}
	var buf []byte
	for i := range missed {
		buf = appendMessageFrame(buf[:0], &missed[i])
		if err := conn.Send(append([]byte(nil), buf...)); err != nil {
			return err
		}
		c.lastSent = missed[i].ID
	}
	return conn.SendJSON(map[string]any{"type": TypeCatchup, "count": len(missed), "last_id": c.lastSent})
}

// chatMessage forwards a broadcast to the client: the same bytes every member gets.
func (c *Consumer) chatMessage(conn *channels.Conn, ev *layer.Event) error {
	if ev.Seq != 0 {
		if ev.Seq <= c.lastSent {
			return nil // already sent by catch-up
		}
		c.lastSent = ev.Seq
	}
	if err := conn.Send(ev.Data); err != nil && !errors.Is(err, channels.ErrClosed) && !errors.Is(err, channels.ErrQueueFull) {
		return err
	}
	return nil
}

// Receive handles one frame from the client.
func (c *Consumer) Receive(conn *channels.Conn, text []byte) error {
	var in inbound
	if err := json.Unmarshal(text, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return c.fail(conn, newError(CodeInvalidFrame, fmt.Sprintf("a frame is a JSON object; field %q has the wrong type", typeErr.Field), ""))
		}
		return c.fail(conn, newError(CodeInvalidJSON, "the frame is not valid JSON", ""))
	}
	switch in.Type {
	case "", TypeMessage:
		return c.receiveMessage(conn, &in)
	default:
		return c.fail(conn, newError(CodeUnknownType, fmt.Sprintf("unknown frame type %q", truncate(in.Type, 40)), in.ClientID))
	}
}

// receiveMessage validates a chat message, stores it, and lets the publisher broadcast it.
func (c *Consumer) receiveMessage(conn *channels.Conn, in *inbound) error {
	if !validClientID(in.ClientID) {
		return c.fail(conn, newError(CodeInvalidClientID, "client_id must be printable ASCII, at most 64 characters", ""))
	}
	if in.Message == nil {
		return c.fail(conn, newError(CodeMissingMessage, `the frame needs a "message" string`, in.ClientID))
	}
	body := CleanText(*in.Message)
	if body == "" {
		return c.fail(conn, newError(CodeEmptyMessage, "the message is empty", in.ClientID))
	}
	if n := utf8.RuneCountInString(body); n > c.app.Limits.MaxMessageChars {
		return c.fail(conn, newError(CodeMessageTooLong, fmt.Sprintf("messages are at most %d characters (this one has %d)", c.app.Limits.MaxMessageChars, n), in.ClientID))
	}
	ctx := conn.Context()
	if c.roomID == 0 {
		r, err := c.app.Store.GetOrCreateRoom(ctx, c.room)
		if err != nil {
			c.app.Log.Error("creating room failed", "room", c.room, "err", err)
			return c.fail(conn, newError(CodeStoreFailed, "the message could not be saved; try again", in.ClientID))
		}
		c.roomID = r.ID
	}
	msg := &models.Message{RoomID: c.roomID, UserID: c.user.ID, Body: body, ClientID: in.ClientID,
		Username: c.user.Username, RoomName: c.room}
	dup, err := c.app.Publisher.Publish(ctx, msg, c.group)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.app.Log.Error("storing a message failed", "room", c.room, "user", c.user.Username, "err", err)
		}
		return c.fail(conn, newError(CodeStoreFailed, "the message could not be saved; try again", in.ClientID))
	}
	if in.ClientID != "" {
		return c.send(conn, map[string]any{"type": TypeAck, "client_id": in.ClientID, "id": msg.ID, "duplicate": dup})
	}
	return nil
}

// fail answers bad input with an error frame; the connection stays open.
func (c *Consumer) fail(conn *channels.Conn, frame errorFrame) error {
	return c.send(conn, frame)
}

// send queues a frame; a closing or overflowing connection is not an error of the consumer.
func (c *Consumer) send(conn *channels.Conn, v any) error {
	if err := conn.SendJSON(v); err != nil && !errors.Is(err, channels.ErrClosed) && !errors.Is(err, channels.ErrQueueFull) {
		return err
	}
	return nil
}

// Disconnect needs no work: the runtime leaves the groups and drops the channel.
func (c *Consumer) Disconnect(conn *channels.Conn, code int) {}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
