package admin

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
)

// userDeactivate stops an account at once: it cannot log in, its sessions are deleted and
// its open sockets, on every node, close with 1008. Staff cannot deactivate themselves, and
// only a superuser can deactivate staff (or a staff member could lock out the superuser).
func (h *Handler) userDeactivate(c *fiber.Ctx) error {
	u, err := h.targetUser(c)
	if err != nil {
		return err
	}
	me := currentUser(c)
	if u.ID == me.ID {
		return fiber.NewError(fiber.StatusForbidden, "You cannot deactivate your own account.")
	}
	if (u.IsStaff || u.IsSuperuser) && !me.IsSuperuser {
		return fiber.NewError(fiber.StatusForbidden, "Only superusers can deactivate staff accounts.")
	}
	ctx := c.UserContext()
	if err := h.store.SetUserActive(ctx, u.ID, false); err != nil {
		return err
	}
	// The flag alone already refuses the sessions (the session middleware checks it); deleting
	// them makes it final, and the close event ends sockets that are open now.
	sessions, err := h.store.DeleteUserSessions(ctx, u.ID, "")
	if err != nil {
		return err
	}
	if err := h.layer.GroupSend(ctx, chat.UserGroup(u.ID), chat.CloseEvent(1008, "account deactivated")); err != nil {
		h.log.Warn("closing a deactivated user's sockets failed", "user", u.Username, "err", err)
	}
	if err := h.audit(c, ActionUserDeactivate, "user "+u.Username, 1, fmt.Sprintf("ended %d session(s)", sessions)); err != nil {
		return err
	}
	return backToUsers(c, "deactivated")
}
