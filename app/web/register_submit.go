package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// registerSubmit creates an account from the form and logs it in.
func (h *Handler) registerSubmit(c *fiber.Ctx) error {
	username := c.FormValue("username")
	password, confirm := c.FormValue("password"), c.FormValue("password_confirm")
	next := safeNext(c.FormValue("next"))
	fail := func(status int, msg string) error {
		data := h.view(c, "Create an account")
		data["Next"], data["Username"], data["Error"] = next, username, msg
		return h.render(c, status, "register", data)
	}
	if !validUsername(username) {
		return fail(fiber.StatusBadRequest, errUsernameRules)
	}
	if msg := checkNewPassword(username, password, confirm); msg != "" {
		return fail(fiber.StatusBadRequest, msg)
	}
	hash, err := hashPassword(password, h.settings.BcryptCost)
	if err != nil {
		return err
	}
	user, err := h.store.CreateUser(c.UserContext(), username, string(hash))
	if errors.Is(err, store.ErrDuplicate) {
		return fail(fiber.StatusConflict, "That username is taken. Choose another.")
	}
	if err != nil {
		return err
	}
	if err := h.startSession(c, user); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
