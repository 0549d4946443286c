package admin

import (
	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// Audit log actions, one per kind of admin action.
const (
	ActionMessagesDelete     = "messages.delete"
	ActionMessagesExport     = "messages.export"
	ActionUserDeactivate     = "user.deactivate"
	ActionUserReactivate     = "user.reactivate"
	ActionUserStaffGrant     = "user.staff_grant"
	ActionUserStaffRevoke    = "user.staff_revoke"
	ActionLiveDisconnect     = "live.disconnect"
	ActionLiveDisconnectUser = "live.disconnect_user"
)

// audit records an action of the current user. Callers act first and audit after, so the
// log never claims what did not happen; an export audits before its first byte instead, as
// nothing can be taken back once sent.
func (h *Handler) audit(c *fiber.Ctx, action, target string, count int64, detail string) error {
	u := currentUser(c)
	e := &store.AuditEntry{ActorID: &u.ID, ActorName: u.Username, Action: action, Target: target,
		Count: count, Detail: detail}
	if err := h.store.AddAudit(c.UserContext(), e); err != nil {
		h.log.Error("audit log write failed", "action", action, "actor", u.Username, "target", target, "err", err)
		return err
	}
	return nil
}
