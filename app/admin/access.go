package admin

import (
	"net/url"

	"github.com/gofiber/fiber/v2"
)

// requireStaff lets active staff through. Anonymous visitors go to the login page (and come
// back to the page they asked for, or to the admin's front page after a form); anyone else
// gets 403.
func (h *Handler) requireStaff(c *fiber.Ctx) error {
	u := currentUser(c)
	if u == nil {
		next := "/admin/"
		if c.Method() == fiber.MethodGet {
			next = string(c.Request().RequestURI())
		}
		return c.Redirect("/login?next="+url.QueryEscape(next), fiber.StatusSeeOther)
	}
	if !u.CanUseAdmin() {
		return fiber.NewError(fiber.StatusForbidden, "The admin is for staff only.")
	}
	// Admin pages show private data: keep them out of shared and back-button caches.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// requireSuperuser guards what only superusers may do (granting and revoking staff); it runs
// after requireStaff.
func (h *Handler) requireSuperuser(c *fiber.Ctx) error {
	if u := currentUser(c); u == nil || !u.IsSuperuser {
		return fiber.NewError(fiber.StatusForbidden, "Only superusers can grant or revoke staff.")
	}
	return c.Next()
}
