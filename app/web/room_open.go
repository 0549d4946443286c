package web

import (
	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
)

// roomOpen takes the lobby's "open a room" form (/chat/?room=name) to the room's page.
func (h *Handler) roomOpen(c *fiber.Ctx) error {
	raw := c.Query("room")
	if raw == "" {
		return c.Redirect("/", fiber.StatusSeeOther)
	}
	name, err := chat.NormalizeRoomName(raw)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "That room name does not work: "+err.Error()+".")
	}
	return c.Redirect(roomURL(name), fiber.StatusSeeOther)
}
