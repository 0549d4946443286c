package web

import (
	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
)

// passwordChange checks the current password, stores the new one, and ends every other
// session of the user, closing their sockets (1008) on every node: whoever knew the old
// password is out.
func (h *Handler) passwordChange(c *fiber.Ctx) error {
	user, sess := currentUser(c), currentSession(c)
	current, password, confirm := c.FormValue("current_password"), c.FormValue("password"), c.FormValue("password_confirm")
	fail := func(status int, msg string) error {
		data := h.view(c, "Change password")
		data["Error"] = msg
		return h.render(c, status, "password", data)
	}
	if !passwordMatches([]byte(user.PasswordHash), current) {
		return fail(fiber.StatusUnauthorized, "The current password is wrong.")
	}
	if msg := checkNewPassword(user.Username, password, confirm); msg != "" {
		return fail(fiber.StatusBadRequest, msg)
	}
	hash, err := hashPassword(password, h.settings.BcryptCost)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	others, err := h.store.UserSessionKeys(ctx, user.ID)
	if err != nil {
		return err
	}
	if err := h.store.SetUserPassword(ctx, user.ID, string(hash)); err != nil {
		return err
	}
	if _, err := h.store.DeleteUserSessions(ctx, user.ID, sess.KeyHash); err != nil {
		return err
	}
	for _, key := range others {
		if key == sess.KeyHash {
			continue
		}
		if err := h.layer.GroupSend(ctx, chat.SessionGroup(key), chat.CloseEvent(1008, "password changed")); err != nil {
			h.log.Warn("closing another session's sockets failed", "err", err)
		}
	}
	data := h.view(c, "Change password")
	data["Done"] = true
	return h.render(c, fiber.StatusOK, "password", data)
}
