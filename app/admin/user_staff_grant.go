package admin

import (
	"github.com/gofiber/fiber/v2"
)

// userStaffGrant makes a user staff (superusers only; see Routes).
func (h *Handler) userStaffGrant(c *fiber.Ctx) error {
	u, err := h.targetUser(c)
	if err != nil {
		return err
	}
	if err := h.store.SetUserStaff(c.UserContext(), u.ID, true); err != nil {
		return err
	}
	if err := h.audit(c, ActionUserStaffGrant, "user "+u.Username, 1, ""); err != nil {
		return err
	}
	return backToUsers(c, "staff-granted")
}
