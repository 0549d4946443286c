package admin

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// messageShow shows one message in full, with its particulars and a delete button.
func (h *Handler) messageShow(c *fiber.Ctx) error {
	id, err := c.ParamsInt("id")
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusNotFound, "There is no such message.")
	}
	m, err := h.store.MessageByID(c.UserContext(), int64(id))
	if errors.Is(err, store.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "There is no such message; it may have been deleted.")
	}
	if err != nil {
		return err
	}
	data := h.page(c, "Message "+c.Params("id"), "messages")
	data["Message"] = newMessageRow(m, messageQuery{}, false)
	data["ClientID"] = m.ClientID
	data["RoomPage"] = roomURL(m.RoomName)
	return h.render(c, "admin/message", data)
}
