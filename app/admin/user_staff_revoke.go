package admin

import (
	"github.com/gofiber/fiber/v2"
)

// userStaffRevoke takes staff away from a user (superusers only; see Routes). Superusers stay
// staff: taking it from one would leave a superuser locked out of the admin.
func (h *Handler) userStaffRevoke(c *fiber.Ctx) error {
	u, err := h.targetUser(c)
	if err != nil {
		return err
	}
	if u.IsSuperuser {
		return fiber.NewError(fiber.StatusForbidden, "Superusers are always staff.")
	}
	if err := h.store.SetUserStaff(c.UserContext(), u.ID, false); err != nil {
		return err
	}
	if err := h.audit(c, ActionUserStaffRevoke, "user "+u.Username, 1, ""); err != nil {
		return err
	}
	return backToUsers(c, "staff-revoked")
}
