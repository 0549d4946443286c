package admin

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"chat/app/channels"
	"chat/app/chat"
	"chat/app/layer"
	"chat/models"
)

// liveDisconnect closes one websocket of this node (code 1008). The page reconnects by
// itself, so this is a nudge; deactivating the account is what keeps someone out.
func (h *Handler) liveDisconnect(c *fiber.Ctx) error {
	channel := c.FormValue("channel")
	var user *models.User
	var room string
	h.conns.Each(func(conn *channels.Conn) {
		if channel != "" && conn.ChannelName() == channel {
			user, _ = conn.Scope().User.(*models.User)
			room = conn.Scope().Params.Get("room")
		}
	})
	if user == nil {
		return fiber.NewError(fiber.StatusNotFound, "That connection is not open on this node any more.")
	}
	err := h.layer.Send(c.UserContext(), channel, chat.CloseEvent(1008, "disconnected by staff"))
	if errors.Is(err, layer.ErrNoSuchChannel) {
		return fiber.NewError(fiber.StatusNotFound, "That connection is not open on this node any more.")
	}
	if err != nil {
		return err
	}
	target := fmt.Sprintf("user %s in room %s", user.Username, room)
	if err := h.audit(c, ActionLiveDisconnect, target, 1, "channel "+channel); err != nil {
		return err
	}
	return c.Redirect("/admin/live?notice=disconnected", fiber.StatusSeeOther)
}
