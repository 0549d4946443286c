package admin

import (
	"context"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
	"chat/app/store"
)

// messagesDelete deletes the selected messages, or all that match the filter. The first POST
// shows what would go and how many; only the confirmation's POST (confirm=yes) deletes, in
// chunks, telling open rooms to remove each message, and records it in the audit log.
func (h *Handler) messagesDelete(c *fiber.Ctx) error {
	b, err := h.parseBulk(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return h.messagesDeleteConfirm(c, b)
	}
	ctx := c.UserContext()
	var deleted int64
	for {
		chunk, err := h.store.AdminDeleteMessages(ctx, b.Filter, h.settings.DeleteChunk)
		if err != nil {
			return err
		}
		for _, m := range chunk {
			h.broadcastDelete(ctx, m.RoomName, m.ID)
		}
		deleted += int64(len(chunk))
		if len(chunk) < h.settings.DeleteChunk {
			break
		}
	}
	if err := h.audit(c, ActionMessagesDelete, b.target(), deleted, ""); err != nil {
		return err
	}
	return c.Redirect(b.Query.url("notice", "deleted", "n", strconv.FormatInt(deleted, 10)), fiber.StatusSeeOther)
}

// broadcastDelete tells the room's open pages that a message is gone. A failure is logged,
// not fatal: the row is gone, and a page that missed the event loses it on reload.
func (h *Handler) broadcastDelete(ctx context.Context, room string, id int64) {
	if err := h.rooms.BroadcastDelete(ctx, chat.GroupName(room), id); err != nil {
		h.log.Warn("broadcasting an admin delete failed", "room", room, "id", id, "err", err)
	}
}

// messagesDeleteConfirm shows the confirmation: the count, a sample, and a form that repeats
// the action with confirm=yes. For "all matching" it pins the newest matching id, so the
// deletion takes exactly what was counted and not what was sent since.
func (h *Handler) messagesDeleteConfirm(c *fiber.Ctx, b bulkAction) error {
	ctx := c.UserContext()
	sample, err := h.store.AdminMessages(ctx, b.Filter, store.Cursor{}, 10)
	if err != nil {
		return err
	}
	if b.All && b.UpTo == 0 && len(sample.Messages) > 0 {
		b.UpTo = sample.Messages[0].ID
		b.Filter.MaxID = b.UpTo
	}
	count, err := h.store.AdminCountMessages(ctx, b.Filter)
	if err != nil {
		return err
	}
	rows := make([]messageRow, len(sample.Messages))
	for i := range sample.Messages {
		rows[i] = newMessageRow(&sample.Messages[i], messageQuery{}, true)
	}
	hidden := b.Query.values()
	if b.All {
		hidden.Set("scope", "all")
		if b.UpTo > 0 {
			hidden.Set("upto", strconv.FormatInt(b.UpTo, 10))
		}
	} else {
		hidden.Set("scope", "selected")
		for _, id := range b.IDs {
			hidden.Add("ids", strconv.FormatInt(id, 10))
		}
	}
	data := h.page(c, "Delete messages", "messages")
	data["Count"] = count
	data["Target"] = b.target()
	data["Rows"] = rows
	data["More"] = count > int64(len(rows))
	data["Hidden"] = hiddenFields(hidden)
	data["BackURL"] = b.Query.url()
	return h.render(c, "admin/messages_delete", data)
}
