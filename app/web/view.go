package web

import (
	"github.com/gofiber/fiber/v2"

	"chat/app/channels"
	"chat/models"
)

// layout is the base template every page renders in.
const layout = "layouts/base"

// view starts a page's template data with what every page shows: title, the current user,
// the CSRF token for forms.
func (h *Handler) view(c *fiber.Ctx, title string) fiber.Map {
	return fiber.Map{
		"Title":   title,
		"User":    currentUser(c),
		"IsStaff": currentUser(c).CanUseAdmin(),
		"CSRF":    h.csrfToken(c),
	}
}

// View is view for the pages of other packages (the staff admin), so that they render in the
// same layout, with the same header and CSRF token.
func (h *Handler) View(c *fiber.Ctx, title string) fiber.Map { return h.view(c, title) }

// render writes a page with the base layout.
func (h *Handler) render(c *fiber.Ctx, status int, page string, data fiber.Map) error {
	return c.Status(status).Render(page, data, layout)
}

// currentUser is the logged-in user, or nil.
func currentUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(channels.LocalUser).(*models.User)
	return u
}

// currentSession is the session of the logged-in user, or nil.
func currentSession(c *fiber.Ctx) *models.Session {
	s, _ := c.Locals(channels.LocalSession).(*models.Session)
	return s
}
