package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"chat/app/channels"
	"chat/app/layer"
	"chat/app/ratelimit"
	"chat/app/store"
	"chat/models"
)

// Store is what the consumer needs from the database.
type Store interface {
	RoomByName(ctx context.Context, name string) (*models.Room, error)
	GetOrCreateRoom(ctx context.Context, name string) (*models.Room, error)
	MessagesAfterSeq(ctx context.Context, roomID, afterSeq int64, limit int) ([]models.Message, int64, error)
	MessagesBefore(ctx context.Context, roomID, beforeID int64, limit int) ([]models.Message, error)
	MessageByID(ctx context.Context, id int64) (*models.Message, error)
	UpdateMessageBody(ctx context.Context, id int64, body string, editedAt time.Time) error
	DeleteMessage(ctx context.Context, id int64) (*models.Message, error)
	MarkRead(ctx context.Context, userID, roomID, lastReadID int64) error
}

// Limits are the consumer's tunable bounds (see config.Config).
type Limits struct {
	MaxMessageChars int
	CatchupLimit    int
	CatchupEvery    time.Duration // least time between two catch-up requests on one socket
	PresencePace    time.Duration // a room's next member list waits this per connection the last reached (0: none)
	HistoryPageSize int
	EditWindow      time.Duration // how long after sending an author may edit
	MaxConnsPerUser int           // open sockets one account may hold (0: no limit)
	MaxConnsPerIP   int           // open sockets one client address may hold (0: no limit)
}

// typingEvery is the least time between two typing frames a connection broadcasts; the page
// sends them about this often and shows each for a little longer, so they expire by themselves.
const typingEvery = 2 * time.Second

// App holds what every chat connection shares.
type App struct {
	Store     Store
	Layer     layer.Layer
	Publisher *Publisher
	Limits    Limits
	// MessageLimiter limits each user's messages across all their connections.
	MessageLimiter *ratelimit.Limiter
	Log            *slog.Logger

	presence presenceBoard
	conns    connCounter
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

	roomID     int64        // 0 until the room exists in the database (reader goroutine)
	lastSent   atomic.Int64 // seq up to which replays sent the room: live copies are duplicates
	lastTyping time.Time    // reader goroutine
	lastFill   time.Time    // reader goroutine: when the client last asked for a catch-up
	present    bool
	counted    bool   // counted in App.conns, released at Disconnect
	ip         string // client address, for the per-address limit
}

// Connect checks the user and the room, joins the room's group, replays what the client
// missed after ?since_seq= (or, from older pages, after the id in ?since=), and announces the
// member to the room.
func (c *Consumer) Connect(conn *channels.Conn) error {
	scope := conn.Scope()
	user, _ := scope.User.(*models.User)
	if user == nil {
		return channels.Deny(http.StatusForbidden, "log in first")
	}
	room, err := NormalizeRoomName(scope.Params.Get("room"))
	if err != nil {
		return channels.Deny(http.StatusBadRequest, err.Error())
	}
	var sinceID, sinceSeq int64 = -1, -1
	if raw := scope.Query.Get("since_seq"); raw != "" {
		sinceSeq, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || sinceSeq < 0 {
			return channels.Deny(http.StatusBadRequest, "since_seq must be a message seq (a whole number, 0 or more)")
		}
	}
	if raw := scope.Query.Get("since"); raw != "" {
		sinceID, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || sinceID < 0 {
			return channels.Deny(http.StatusBadRequest, "since must be a message id")
		}
		if sinceSeq >= 0 {
			return channels.Deny(http.StatusBadRequest, "give since_seq or since, not both")
		}
	}
	c.user, c.room, c.group, c.ip = user, room, GroupName(room), clientIP(scope.Client)
	if msg := c.app.conns.acquire(user.ID, c.ip, c.app.Limits.MaxConnsPerUser, c.app.Limits.MaxConnsPerIP); msg != "" {
		return channels.Deny(http.StatusTooManyRequests, msg)
	}
	c.counted = true
	// Disconnect runs only for connections that were accepted; give the count back otherwise.
	accepted := false
	defer func() {
		if !accepted {
			c.app.conns.release(user.ID, c.ip)
			c.counted = false
		}
	}()
	conn.Handle(TypeMessage, c.chatMessage)
	for _, t := range []string{TypeEdit, TypeDelete, TypePresence, TypeTyping} {
		conn.Handle(t, forward)
	}
	conn.Handle(TypeConnClose, closeConn)

	// Nothing cancels the connection's context before Connect returns. A cancelable one would
	// make database/sql derive a child per query, and the children map it leaves on the
	// connection's context would stay for the socket's whole life (about 0.4 KiB). The same
	// goes for the catch-up below, which every page's reconnect asks for.
	ctx := context.WithoutCancel(conn.Context())
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
	// A per-user group lets the admin end all of a user's sockets, on every node.
	if err := conn.GroupAdd(UserGroup(user.ID)); err != nil {
		return channels.Deny(http.StatusServiceUnavailable, "channel layer unavailable")
	}
	// And a per-session group, so logging out closes the sockets that session opened.
	if sess, ok := scope.Session.(*models.Session); ok {
		if err := conn.GroupAdd(SessionGroup(sess.KeyHash)); err != nil {
			return channels.Deny(http.StatusServiceUnavailable, "channel layer unavailable")
		}
	}
	if sinceSeq >= 0 || sinceID >= 0 {
		if err := c.catchUp(ctx, conn, sinceID, sinceSeq); err != nil {
			if errors.Is(err, errUnavailable) {
				return channels.Deny(http.StatusServiceUnavailable, "database unavailable")
			}
			return err
		}
	}
	accepted = true
	if err := c.app.Layer.PresenceAdd(ctx, c.group, conn.ChannelName(), user.Username); err != nil {
		c.app.Log.Warn("presence add failed", "room", room, "err", err)
	} else {
		c.present = true
		c.app.announcePresence(room, c.group)
	}
	return nil
}

// errUnavailable is what a replay returns when the database failed it.
var errUnavailable = errors.New("chat: database unavailable")

// catchUp replays what a connecting client missed: after sinceSeq, or after the message id
// sinceID (older pages), which is the same place, since a room's ids and seqs rise together.
func (c *Consumer) catchUp(ctx context.Context, conn *channels.Conn, sinceID, sinceSeq int64) error {
	if sinceID < 0 {
		return c.replay(ctx, conn, sinceSeq, 0)
	}
	seq, known, err := c.seqAtID(ctx, sinceID)
	if err != nil {
		return errUnavailable
	}
	if !known {
		return sendReload(conn, "unknown_position")
	}
	return c.replay(ctx, conn, seq, sinceID)
}

// seqAtID returns the seq of the newest message with an id up to id (0 when there is none);
// known is false when id is beyond the room's newest message (a restored database, say).
func (c *Consumer) seqAtID(ctx context.Context, id int64) (seq int64, known bool, err error) {
	if id == 0 {
		return 0, true, nil
	}
	if c.roomID == 0 {
		return 0, false, nil
	}
	newest, err := c.app.Store.MessagesBefore(ctx, c.roomID, 1<<63-1, 1)
	if err != nil || len(newest) == 0 || id > newest[0].ID {
		return 0, false, err
	}
	at, err := c.app.Store.MessagesBefore(ctx, c.roomID, id+1, 1)
	if err != nil || len(at) == 0 {
		return 0, err == nil, err
	}
	return at[0].Seq, true, nil
}

// sendReload tells the client to reload the page: it missed too much, or its position is
// not one the room has.
func sendReload(conn *channels.Conn, reason string) error {
	return conn.SendJSON(map[string]any{"type": TypeReload, "reason": reason})
}

// replay sends the room's messages after sinceSeq, then a catchup frame saying up to which seq
// the client is now complete; or a reload frame when the client is ahead of the room (the
// database was restored) or missed more than CatchupLimit. lastID is the catchup frame's
// last_id when nothing is replayed. It returns errUnavailable when the database failed.
func (c *Consumer) replay(ctx context.Context, conn *channels.Conn, sinceSeq, lastID int64) error {
	roomID, err := c.resolveRoom(ctx)
	if err != nil {
		return errUnavailable
	}
	if roomID == 0 {
		if sinceSeq > 0 {
			return sendReload(conn, "unknown_position")
		}
		return conn.SendJSON(catchupFrame{Type: TypeCatchup, LastID: lastID})
	}
	limit := c.app.Limits.CatchupLimit
	missed, through, err := c.app.Store.MessagesAfterSeq(ctx, roomID, sinceSeq, limit+1)
	if err != nil {
		return errUnavailable
	}
	if sinceSeq > through {
		return sendReload(conn, "unknown_position")
	}
	if len(missed) > limit {
		return sendReload(conn, "too_many_missed")
	}
	for i := range missed {
		if err := conn.Send(appendMessageFrame(nil, &missed[i])); err != nil {
			return err
		}
		lastID = missed[i].ID
	}
	// Live copies of what was just sent are dropped. Only this (reader) goroutine stores it;
	// the writer goroutine reads it.
	if through > c.lastSent.Load() {
		c.lastSent.Store(through)
	}
	return conn.SendJSON(catchupFrame{Type: TypeCatchup, Count: len(missed), LastID: lastID, LastSeq: through})
}

// chatMessage forwards a broadcast message to the client, unless a replay already sent it.
// Only the replay's overlap is dropped: across nodes, live messages of a room can arrive a
// little out of order (the page places them by seq and fills gaps), and none of them is a
// duplicate.
func (c *Consumer) chatMessage(conn *channels.Conn, ev *layer.Event) error {
	if ev.Seq != 0 && ev.Seq <= c.lastSent.Load() {
		return nil
	}
	return forward(conn, ev)
}

// closeConn ends the connection when the admin or an account change asks for it: the event's
// data is a {"type":"conn.close","code":1008,"reason":"..."} object.
func closeConn(conn *channels.Conn, ev *layer.Event) error {
	var msg struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(ev.Data, &msg); err != nil || msg.Code < 1000 || msg.Code > 4999 {
		msg.Code, msg.Reason = channels.ClosePolicyViolation, "closed by the server"
	}
	conn.Close(msg.Code, msg.Reason)
	return nil
}

// UserGroup is the group every connection of a user joins.
func UserGroup(userID int64) string { return "user." + strconv.FormatInt(userID, 10) }

// SessionGroup is the group every connection opened by one login session joins.
func SessionGroup(keyHash string) string { return "session." + keyHash[:min(40, len(keyHash))] }

// CloseEvent asks every receiving connection to close with code (1008 for account changes).
func CloseEvent(code int, reason string) *layer.Event {
	return &layer.Event{Type: TypeConnClose, Data: mustJSON(map[string]any{"type": TypeConnClose, "code": code, "reason": reason})}
}

// forward sends an event's bytes unchanged: the same frame every member gets.
func forward(conn *channels.Conn, ev *layer.Event) error {
	conn.Forward(ev)
	return nil
}

// Receive handles one frame from the client.
func (c *Consumer) Receive(conn *channels.Conn, text []byte) error {
	in, bad := decodeFrame(text)
	if bad != nil {
		return c.fail(conn, *bad)
	}
	switch in.Type {
	case "", TypeMessage:
		return c.receiveMessage(conn, in)
	case TypeHistory:
		return c.receiveHistory(conn, in)
	case TypeTyping:
		return c.receiveTyping(conn)
	case TypeEdit:
		return c.receiveEdit(conn, in)
	case TypeDelete:
		return c.receiveDelete(conn, in)
	case TypeRead:
		return c.receiveRead(conn, in)
	case TypeCatchup:
		return c.receiveCatchup(conn, in)
	default:
		return c.fail(conn, newError(CodeUnknownType, fmt.Sprintf("unknown frame type %q", truncate(in.Type, 40)), in.ClientID))
	}
}

// cleanBody validates message text for a new message or an edit; "" code means valid.
func (c *Consumer) cleanBody(raw *string) (body string, code, detail string) {
	if raw == nil {
		return "", CodeMissingMessage, `the frame needs a "message" string`
	}
	body = CleanText(*raw)
	if body == "" {
		return "", CodeEmptyMessage, "the message is empty"
	}
	if n := utf8.RuneCountInString(body); n > c.app.Limits.MaxMessageChars {
		return "", CodeMessageTooLong, fmt.Sprintf("messages are at most %d characters (this one has %d)", c.app.Limits.MaxMessageChars, n)
	}
	return body, "", ""
}

// receiveMessage validates a chat message, stores it, and lets the publisher broadcast it.
func (c *Consumer) receiveMessage(conn *channels.Conn, in *inbound) error {
	if !validClientID(in.ClientID) {
		return c.fail(conn, newError(CodeInvalidClientID, "client_id must be printable ASCII, at most 64 characters", ""))
	}
	body, code, detail := c.cleanBody(in.Message)
	if code != "" {
		return c.fail(conn, newError(code, detail, in.ClientID))
	}
	if ok, wait := c.app.MessageLimiter.Allow(strconv.FormatInt(c.user.ID, 10)); !ok {
		e := newError(CodeRateLimited, fmt.Sprintf("slow down: you can send again in %.1f s", wait.Seconds()), in.ClientID)
		e.RetryAfterMS = max(1, wait.Milliseconds())
		return c.fail(conn, e)
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
	clientID := in.ClientID
	err := c.app.Publisher.Submit(ctx, msg, c.group, func(dup bool, err error) {
		// Runs on the publisher goroutine after the commit: only queue frames here.
		if err != nil {
			c.app.Log.Error("storing a message failed", "room", c.room, "user", c.user.Username, "err", err)
			_ = c.fail(conn, newError(CodeStoreFailed, "the message could not be saved; try again", clientID))
			return
		}
		if clientID != "" {
			_ = c.sendFrame(conn, appendAckFrame(make([]byte, 0, 96+len(clientID)), clientID, msg.ID, msg.Seq, dup))
		}
	})
	if err != nil {
		return c.fail(conn, newError(CodeStoreFailed, "the message could not be saved; try again", clientID))
	}
	return nil
}

// resolveRoom finds the room's id when the room was created (by someone else's first
// message) after this member connected.
func (c *Consumer) resolveRoom(ctx context.Context) (int64, error) {
	if c.roomID != 0 {
		return c.roomID, nil
	}
	r, err := c.app.Store.RoomByName(ctx, c.room)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	c.roomID = r.ID
	return c.roomID, nil
}

// receiveHistory sends a page of the messages before an id (or the newest page).
func (c *Consumer) receiveHistory(conn *channels.Conn, in *inbound) error {
	if in.Before < 0 {
		return c.fail(conn, newError(CodeInvalidID, "before must be a message id", ""))
	}
	roomID, err := c.resolveRoom(conn.Context())
	if err != nil {
		return c.fail(conn, newError(CodeStoreFailed, "history is unavailable; try again", ""))
	}
	if roomID == 0 {
		return conn.Send(appendHistoryFrame(nil, nil, false))
	}
	before := in.Before
	if before == 0 {
		before = 1<<63 - 1
	}
	page := c.app.Limits.HistoryPageSize
	msgs, err := c.app.Store.MessagesBefore(conn.Context(), c.roomID, before, page+1)
	if err != nil {
		return c.fail(conn, newError(CodeStoreFailed, "history is unavailable; try again", ""))
	}
	hasMore := len(msgs) > page
	if hasMore {
		msgs = msgs[1:] // oldest first: the extra row is the first
	}
	return c.sendFrame(conn, appendHistoryFrame(nil, msgs, hasMore))
}

// receiveTyping tells the room this user is typing, at most once per typingEvery.
func (c *Consumer) receiveTyping(conn *channels.Conn) error {
	now := time.Now()
	if now.Sub(c.lastTyping) < typingEvery {
		return nil
	}
	c.lastTyping = now
	ev := &layer.Event{Type: TypeTyping, Data: mustJSON(map[string]string{"type": TypeTyping, "user": c.user.Username})}
	if err := c.app.Layer.GroupSend(conn.Context(), c.group, ev); err != nil {
		c.app.Log.Warn("typing broadcast failed", "err", err)
	}
	return nil
}

// ownMessage loads a message of this room for an edit or delete, answering errors itself.
func (c *Consumer) ownMessage(conn *channels.Conn, id int64, staffMayAct bool) (*models.Message, bool, error) {
	if id <= 0 {
		return nil, false, c.fail(conn, newError(CodeInvalidID, "id must be a message id", ""))
	}
	roomID, err := c.resolveRoom(conn.Context())
	if err != nil {
		return nil, false, c.fail(conn, newError(CodeStoreFailed, "try again", ""))
	}
	m, err := c.app.Store.MessageByID(conn.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.RoomID != roomID {
		return nil, false, c.fail(conn, newError(CodeNotFound, "no such message in this room", ""))
	}
	if err != nil {
		return nil, false, c.fail(conn, newError(CodeStoreFailed, "try again", ""))
	}
	if m.UserID != c.user.ID && !(staffMayAct && c.user.IsStaff) {
		return nil, false, c.fail(conn, newError(CodeForbidden, "you can only change your own messages", ""))
	}
	return m, true, nil
}

// receiveEdit lets the author change a message within the edit window.
func (c *Consumer) receiveEdit(conn *channels.Conn, in *inbound) error {
	body, code, detail := c.cleanBody(in.Message)
	if code != "" {
		return c.fail(conn, newError(code, detail, ""))
	}
	m, ok, err := c.ownMessage(conn, in.ID, false)
	if !ok {
		return err
	}
	now := time.Now().UTC()
	if window := c.app.Limits.EditWindow; now.Sub(m.CreatedAt) > window {
		return c.fail(conn, newError(CodeEditWindow, fmt.Sprintf("messages can be edited for %s after sending", window), ""))
	}
	if err := c.app.Store.UpdateMessageBody(conn.Context(), m.ID, body, now); err != nil {
		return c.fail(conn, newError(CodeStoreFailed, "the edit could not be saved; try again", ""))
	}
	return c.app.BroadcastEdit(conn.Context(), c.group, m.ID, body, now)
}

// receiveDelete lets the author, or staff, delete a message.
func (c *Consumer) receiveDelete(conn *channels.Conn, in *inbound) error {
	m, ok, err := c.ownMessage(conn, in.ID, true)
	if !ok {
		return err
	}
	if _, err := c.app.Store.DeleteMessage(conn.Context(), m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return c.fail(conn, newError(CodeStoreFailed, "the message could not be deleted; try again", ""))
	}
	return c.app.BroadcastDelete(conn.Context(), c.group, m.ID)
}

// BroadcastEdit tells a room's members that a message's text changed.
func (a *App) BroadcastEdit(ctx context.Context, group string, id int64, body string, at time.Time) error {
	data := mustJSON(map[string]any{"type": TypeEdit, "id": id, "message": body, "edited_at": at.UTC().Format(time.RFC3339Nano)})
	return a.Layer.GroupSend(ctx, group, &layer.Event{Type: TypeEdit, Data: data})
}

// BroadcastDelete tells a room's members that a message is gone (the admin uses it too).
func (a *App) BroadcastDelete(ctx context.Context, group string, id int64) error {
	data := mustJSON(map[string]any{"type": TypeDelete, "id": id})
	return a.Layer.GroupSend(ctx, group, &layer.Event{Type: TypeDelete, Data: data})
}

// receiveCatchup answers a page that saw a gap in the seqs: the messages after since_seq and
// a catchup frame, as on reconnect, without reconnecting.
func (c *Consumer) receiveCatchup(conn *channels.Conn, in *inbound) error {
	fail := func(e errorFrame) error {
		e.InReplyTo = TypeCatchup
		return c.fail(conn, e)
	}
	if in.SinceSeq == nil || *in.SinceSeq < 0 {
		return fail(newError(CodeInvalidSeq, "since_seq must be a message seq (a whole number, 0 or more)", ""))
	}
	now := time.Now()
	// A page asks only when a gap outlives a second; the limit keeps a hostile client from
	// turning the request into a flood of database reads.
	if every := c.app.Limits.CatchupEvery; now.Sub(c.lastFill) < every {
		wait := every - now.Sub(c.lastFill)
		e := newError(CodeRateLimited, fmt.Sprintf("catch-up requests are limited to one every %s", every), "")
		e.RetryAfterMS = max(1, wait.Milliseconds())
		return fail(e)
	}
	c.lastFill = now
	err := c.replay(conn.Context(), conn, *in.SinceSeq, 0)
	if errors.Is(err, errUnavailable) {
		return fail(newError(CodeStoreFailed, "catch-up is unavailable; try again", ""))
	}
	if errors.Is(err, channels.ErrClosed) || errors.Is(err, channels.ErrQueueFull) {
		return nil
	}
	return err
}

// receiveRead records how far the user has read this room, for the lobby's unread counts.
func (c *Consumer) receiveRead(conn *channels.Conn, in *inbound) error {
	if in.ID <= 0 {
		return c.fail(conn, newError(CodeInvalidID, "id must be a message id", ""))
	}
	roomID, err := c.resolveRoom(conn.Context())
	if err != nil || roomID == 0 {
		return nil
	}
	if err := c.app.Store.MarkRead(conn.Context(), c.user.ID, roomID, in.ID); err != nil {
		c.app.Log.Warn("mark read failed", "err", err)
	}
	return nil
}

// fail answers bad input with an error frame; the connection stays open.
func (c *Consumer) fail(conn *channels.Conn, frame errorFrame) error {
	return c.send(conn, frame)
}

// send queues a frame; a closing or overflowing connection is not an error of the consumer.
func (c *Consumer) send(conn *channels.Conn, v any) error {
	return unlessClosing(conn.SendJSON(v))
}

// sendFrame queues a frame encoded already, as send does.
func (c *Consumer) sendFrame(conn *channels.Conn, frame []byte) error {
	return unlessClosing(conn.Send(frame))
}

// unlessClosing is err, unless it says the connection is closing or too slow: that
// connection is ending anyway, which is not an error of the consumer.
func unlessClosing(err error) error {
	if errors.Is(err, channels.ErrClosed) || errors.Is(err, channels.ErrQueueFull) {
		return nil
	}
	return err
}

// Disconnect takes the member out of the room's presence and tells the others.
func (c *Consumer) Disconnect(conn *channels.Conn, code int) {
	if c.counted {
		c.app.conns.release(c.user.ID, c.ip)
		c.counted = false
	}
	if !c.present {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.app.Layer.PresenceRemove(ctx, c.group, conn.ChannelName()); err != nil {
		c.app.Log.Warn("presence remove failed", "room", c.room, "err", err)
		return
	}
	c.app.announcePresence(c.room, c.group)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
