package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// errWrongLogin is the one answer for an unknown user and a wrong password, so the form does
// not tell which usernames exist.
const errWrongLogin = "Wrong username or password."

// loginCheck checks the login form and starts a session.
func (h *Handler) loginCheck(c *fiber.Ctx) error {
	username, password := c.FormValue("username"), c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	fail := func(status int, msg string) error {
		data := h.view(c, "Log in")
		data["Next"], data["Username"], data["Error"] = next, username, msg
		return h.render(c, status, "login", data)
	}
	if username == "" || password == "" {
		return fail(fiber.StatusBadRequest, "Enter your username and password.")
	}
	user, err := h.store.UserByName(c.UserContext(), username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if user == nil {
		passwordMatches(h.dummyHash, password)
		return fail(fiber.StatusUnauthorized, errWrongLogin)
	}
	if !passwordMatches([]byte(user.PasswordHash), password) {
		return fail(fiber.StatusUnauthorized, errWrongLogin)
	}
	if err := h.startSession(c, user); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
