package web

import (
	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
)

// logout ends the session on the server, not only in the browser.
func (h *Handler) logout(c *fiber.Ctx) error {
	if sess := currentSession(c); sess != nil {
		if err := h.store.DeleteSession(c.UserContext(), sess.KeyHash); err != nil {
			return err
		}
		// Sockets this session opened close too (1008), on every node.
		if err := h.layer.GroupSend(c.UserContext(), chat.SessionGroup(sess.KeyHash), chat.CloseEvent(1008, "logged out")); err != nil {
			h.log.Warn("closing the session's sockets failed", "err", err)
		}
	}
	h.clearSessionCookie(c)
	h.rotateCSRF(c)
	return c.Redirect("/login", fiber.StatusSeeOther)
}
