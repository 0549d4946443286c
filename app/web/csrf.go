package web

import (
	"crypto/subtle"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// CSRF protection by double submit: a random secret in an HttpOnly cookie, and the same value
// in a hidden field of every form. Another site can make the browser send the cookie but
// cannot read it, so it cannot fill in the field. The secret is replaced at login.
const (
	csrfCookie = "csrftoken"
	csrfField  = "csrf_token"
	localCSRF  = "web.csrf"
)

// csrfToken returns the visitor's CSRF secret, setting the cookie on first use.
func (h *Handler) csrfToken(c *fiber.Ctx) string {
	if t, ok := c.Locals(localCSRF).(string); ok && t != "" {
		return t
	}
	t := c.Cookies(csrfCookie)
	if len(t) < 32 {
		h.rotateCSRF(c)
		t, _ = c.Locals(localCSRF).(string)
	}
	c.Locals(localCSRF, t)
	return t
}

// rotateCSRF issues a new CSRF secret.
func (h *Handler) rotateCSRF(c *fiber.Ctx) {
	t, err := randomToken()
	if err != nil {
		return
	}
	c.Cookie(&fiber.Cookie{
		Name: csrfCookie, Value: t, Path: "/", MaxAge: 365 * 24 * 3600,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.settings.SecureCookies,
	})
	c.Locals(localCSRF, t)
}

// csrfProtect refuses any state-changing request whose form token does not match the
// visitor's cookie, or that a browser says came from another site.
func (h *Handler) csrfProtect(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, string(c.Request().Host())) {
			return fiber.NewError(fiber.StatusForbidden, "This form was sent from another site, so it was refused (CSRF check).")
		}
	}
	cookie := c.Cookies(csrfCookie)
	sent := c.FormValue(csrfField)
	if cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(sent)) != 1 {
		return fiber.NewError(fiber.StatusForbidden, "The form's security token is missing or out of date. Go back, reload the page and try again (CSRF check).")
	}
	c.Locals(localCSRF, cookie)
	return c.Next()
}
