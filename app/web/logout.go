package web

import "github.com/gofiber/fiber/v2"

// logout ends the session on the server, not only in the browser.
func (h *Handler) logout(c *fiber.Ctx) error {
	if sess := currentSession(c); sess != nil {
		if err := h.store.DeleteSession(c.UserContext(), sess.KeyHash); err != nil {
			return err
		}
	}
	h.clearSessionCookie(c)
	h.rotateCSRF(c)
	return c.Redirect("/login", fiber.StatusSeeOther)
}
