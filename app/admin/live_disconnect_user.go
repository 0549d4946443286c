package admin

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"chat/app/channels"
	"chat/app/chat"
	"chat/models"
)

// liveDisconnectUser closes every websocket of a user (code 1008), on every node, through
// the user's group.
func (h *Handler) liveDisconnectUser(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.FormValue("user_id"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusBadRequest, "user_id is a user id.")
	}
	u, err := h.store.UserByID(c.UserContext(), id)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "There is no such user.")
	}
	here := 0
	h.conns.Each(func(conn *channels.Conn) {
		if cu, _ := conn.Scope().User.(*models.User); cu != nil && cu.ID == u.ID {
			here++
		}
	})
	if err := h.layer.GroupSend(c.UserContext(), chat.UserGroup(u.ID), chat.CloseEvent(1008, "disconnected by staff")); err != nil {
		return err
	}
	if err := h.audit(c, ActionLiveDisconnectUser, "user "+u.Username, int64(here),
		fmt.Sprintf("%d connection(s) on this node, and any on other nodes", here)); err != nil {
		return err
	}
	return c.Redirect("/admin/live?notice=disconnected-user&n="+strconv.Itoa(here), fiber.StatusSeeOther)
}
