package web

import "github.com/gofiber/fiber/v2"

// registerShow renders the registration form.
func (h *Handler) registerShow(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if currentUser(c) != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	data := h.view(c, "Create an account")
	data["Next"] = next
	return h.render(c, fiber.StatusOK, "register", data)
}
