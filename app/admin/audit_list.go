package admin

import (
	"net/url"
	"slices"

	"github.com/gofiber/fiber/v2"
)

// auditActions lists the actions the log can be filtered by.
var auditActions = []string{
	ActionMessagesDelete, ActionMessagesExport, ActionUserDeactivate, ActionUserReactivate,
	ActionUserStaffGrant, ActionUserStaffRevoke, ActionLiveDisconnect, ActionLiveDisconnectUser,
}

// auditRow is one entry as the page shows it.
type auditRow struct {
	Time, ISOTime string
	Actor         string
	Action        string
	Target        string
	Count         int64
	Detail        string
}

// auditList shows the audit log, newest first, optionally one action only.
func (h *Handler) auditList(c *fiber.Ctx) error {
	action := c.Query("action")
	if action != "" && !slices.Contains(auditActions, action) {
		return fiber.NewError(fiber.StatusBadRequest, "Unknown action.")
	}
	cursor, err := parseCursor(c.Query)
	if err != nil {
		return err
	}
	page, err := h.store.ListAudit(c.UserContext(), action, cursor, h.settings.PageSize)
	if err != nil {
		return err
	}
	rows := make([]auditRow, len(page.Entries))
	var first, last int64
	for i, e := range page.Entries {
		rows[i] = auditRow{Time: e.CreatedAt.Format(timeFormat), ISOTime: e.CreatedAt.Format("2006-01-02T15:04:05Z07:00"),
			Actor: e.ActorName, Action: e.Action, Target: e.Target, Count: e.Count, Detail: e.Detail}
	}
	if n := len(page.Entries); n > 0 {
		first, last = page.Entries[0].ID, page.Entries[n-1].ID
	}
	link := func(key, value string) string {
		v := url.Values{}
		if action != "" {
			v.Set("action", action)
		}
		if key != "" {
			v.Set(key, value)
		}
		if len(v) == 0 {
			return "/admin/audit"
		}
		return "/admin/audit?" + v.Encode()
	}
	data := h.page(c, "Audit log", "audit")
	data["Rows"] = rows
	data["Action"] = action
	data["Actions"] = auditActions
	data["Pager"] = newPager(link, page.HasNewer, page.HasOlder, first, last, cursor)
	return h.render(c, "admin/audit", data)
}
