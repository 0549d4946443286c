package admin

import (
	"github.com/gofiber/fiber/v2"
)

// userReactivate lets a deactivated account log in again.
func (h *Handler) userReactivate(c *fiber.Ctx) error {
	u, err := h.targetUser(c)
	if err != nil {
		return err
	}
	if (u.IsStaff || u.IsSuperuser) && !currentUser(c).IsSuperuser {
		return fiber.NewError(fiber.StatusForbidden, "Only superusers can reactivate staff accounts.")
	}
	if err := h.store.SetUserActive(c.UserContext(), u.ID, true); err != nil {
		return err
	}
	if err := h.audit(c, ActionUserReactivate, "user "+u.Username, 1, ""); err != nil {
		return err
	}
	return backToUsers(c, "reactivated")
}
