package web

import "github.com/gofiber/fiber/v2"

// loginShow renders the login form.
func (h *Handler) loginShow(c *fiber.Ctx) error {
	next := safeNext(c.Query("next"))
	if currentUser(c) != nil {
		return c.Redirect(next, fiber.StatusSeeOther)
	}
	data := h.view(c, "Log in")
	data["Next"] = next
	return h.render(c, fiber.StatusOK, "login", data)
}
