package admin

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
	"chat/models"
)

// targetUser loads the user named by the :id of a user action.
func (h *Handler) targetUser(c *fiber.Ctx) (*models.User, error) {
	id, err := c.ParamsInt("id")
	if err != nil || id <= 0 {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such user.")
	}
	u, err := h.store.UserByID(c.UserContext(), int64(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no such user.")
	}
	return u, err
}

// backToUsers redirects to the user list the form came from (its "back" field, when it is
// an admin users URL), with a notice.
func backToUsers(c *fiber.Ctx, code string) error {
	back := c.FormValue("back")
	if !strings.HasPrefix(back, "/admin/users") || strings.ContainsAny(back, "\\\r\n") {
		back = "/admin/users"
	}
	// Drop an earlier notice, then add this one.
	if i := strings.Index(back, "notice="); i > 0 {
		back = strings.TrimRight(back[:i], "?&")
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	return c.Redirect(back+sep+"notice="+code, fiber.StatusSeeOther)
}
