package web

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
	"chat/app/store"
)

// markReadWait bounds how long the room page waits to record that it was read.
const markReadWait = 500 * time.Millisecond

// messageItem is one message as the room page renders it.
type messageItem struct {
	ID        int64
	User      string
	Body      string
	CreatedAt time.Time
	Edited    bool
}

// roomShow renders a room with its latest messages; the page's script then goes live over
// the websocket, asking for everything after the last seq rendered here.
func (h *Handler) roomShow(c *fiber.Ctx) error {
	raw, err := url.PathUnescape(c.Params("room"))
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "That room name is not a valid URL.")
	}
	name, err := chat.NormalizeRoomName(raw)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "That room name does not work: "+err.Error()+".")
	}
	if name != raw {
		return c.Redirect(roomURL(name), fiber.StatusMovedPermanently)
	}
	ctx := c.UserContext()
	items := []messageItem{}
	var roomID, lastSeq int64
	room, err := h.store.RoomByName(ctx, name)
	switch {
	case err == nil:
		// Read before the messages: the page is complete up to here even when the newest
		// messages were deleted, and what is stored after the read comes with catch-up.
		roomID, lastSeq = room.ID, room.LastSeq
		msgs, err := h.store.RecentMessages(ctx, room.ID, h.settings.HistoryPageSize)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			lastSeq = max(lastSeq, m.Seq)
			items = append(items, messageItem{ID: m.ID, User: m.Username, Body: m.Body, CreatedAt: m.CreatedAt, Edited: m.EditedAt != nil})
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	var firstID, lastID int64
	if len(items) > 0 {
		firstID, lastID = items[0].ID, items[len(items)-1].ID
	}
	if roomID != 0 {
		// Opening the room reads it: the lobby's unread count starts after what is shown here.
		// The wait is short: behind a locked database the page shows anyway, and the page's
		// own "read" frame records it later.
		mctx, cancel := context.WithTimeout(ctx, markReadWait)
		err := h.store.MarkRead(mctx, currentUser(c).ID, roomID, lastID)
		cancel()
		if err != nil {
			h.log.Warn("mark read failed", "err", err)
		}
	}
	data := h.view(c, name)
	data["Room"] = fiber.Map{"Name": name, "ID": roomID}
	data["Messages"] = items
	data["WSPath"] = roomSocketPath(name)
	data["FirstID"], data["LastID"], data["LastSeq"] = firstID, lastID, lastSeq
	data["HistoryLimit"] = h.settings.HistoryPageSize
	data["MaxMessageChars"] = h.settings.MaxMessageChars
	c.Set(fiber.HeaderCacheControl, "no-store")
	return h.render(c, fiber.StatusOK, "room", data)
}
