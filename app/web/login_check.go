package web

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// errWrongLogin is the one answer for an unknown user and a wrong password, so the form does
// not tell which usernames exist.
const errWrongLogin = "Wrong username or password."

// errDeactivated answers the right password for an account staff deactivated.
const errDeactivated = "This account is deactivated."

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
	// Throttle failed attempts per address and per username. Only failures take a token, and
	// the buckets refill by themselves, so an attacker can slow a name down but never lock
	// its owner out for longer than the attack lasts.
	userKey := strings.ToLower(strings.Clone(username)) // kept by the limiter past this request
	okIP, waitIP := h.loginByIP.Check(c.IP())
	okUser, waitUser := h.loginByUser.Check(userKey)
	if !okIP || !okUser {
		wait := max(waitIP, waitUser)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return fail(fiber.StatusTooManyRequests, fmt.Sprintf("Too many failed logins. Try again in %d seconds.", int(math.Ceil(wait.Seconds()))))
	}
	failed := func() error {
		h.loginByIP.Allow(c.IP())
		h.loginByUser.Allow(userKey)
		return fail(fiber.StatusUnauthorized, errWrongLogin)
	}
	user, err := h.store.UserByName(c.UserContext(), username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if user == nil {
		passwordMatches(h.dummyHash, password)
		return failed()
	}
	if !passwordMatches([]byte(user.PasswordHash), password) {
		return failed()
	}
	// Said only after the right password, so it tells nothing to someone guessing.
	if !user.IsActive {
		return fail(fiber.StatusForbidden, errDeactivated)
	}
	if err := h.startSession(c, user); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
