package web

import "github.com/gofiber/fiber/v2"

// passwordShow renders the change-password form.
func (h *Handler) passwordShow(c *fiber.Ctx) error {
	return h.render(c, fiber.StatusOK, "password", h.view(c, "Change password"))
}
