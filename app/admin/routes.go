package admin

import "github.com/gofiber/fiber/v2"

// Routes registers the admin under r (mounted at /admin). Every route runs requireStaff
// first, and staff grants requireSuperuser as well: nothing here trusts the page that sent
// the request. POSTs have passed the site's CSRF check before they get here.
func (h *Handler) Routes(r fiber.Router) {
	staff, super := h.requireStaff, h.requireSuperuser

	// Message history: filters, keyset pages, detail, bulk delete and CSV export.
	r.Get("/", staff, h.messagesList)
	r.Get("/messages", staff, h.messagesList)
	r.Get("/messages/:id", staff, h.messageShow)
	r.Post("/messages/delete", staff, h.messagesDelete)
	r.Post("/messages/export", staff, h.messagesExport)

	// Users: list, deactivate / reactivate, staff (superusers only).
	r.Get("/users", staff, h.usersList)
	r.Post("/users/:id/deactivate", staff, h.userDeactivate)
	r.Post("/users/:id/reactivate", staff, h.userReactivate)
	r.Post("/users/:id/staff/grant", staff, super, h.userStaffGrant)
	r.Post("/users/:id/staff/revoke", staff, super, h.userStaffRevoke)

	// Live connections of this node, polled by static/admin.js.
	r.Get("/live", staff, h.liveShow)
	r.Get("/live.json", staff, h.liveJSON)
	r.Post("/live/disconnect", staff, h.liveDisconnect)
	r.Post("/live/disconnect-user", staff, h.liveDisconnectUser)

	// The audit log.
	r.Get("/audit", staff, h.auditList)
}
