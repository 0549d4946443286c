package web

import (
	"github.com/gofiber/fiber/v2"
)

// Routes registers the whole HTTP surface in one table. websocket is the channels runtime's
// handler for the chat consumer; it runs after the same session middleware as the pages.
// admin mounts the staff admin (package admin, which checks staff on each of its routes)
// under /admin; nil leaves it out.
func (h *Handler) Routes(app *fiber.App, websocket fiber.Handler, admin func(fiber.Router), ops Ops) {
	// Operators: liveness, readiness and metrics, ahead of the session lookup so probes stay cheap.
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz(ops))
	if ops.Metrics != nil {
		app.Get("/metrics", metricsGuard(ops.MetricsToken), ops.Metrics)
	}

	app.Use(h.requestLog, h.securityHeaders, h.loadSession, h.csrfProtect)

	// Static files, content-hashed and cached for a year.
	app.Get("/static/:file", h.staticServe)

	// Accounts.
	app.Get("/register", h.registerShow)
	app.Post("/register", h.registerSubmit)
	app.Get("/login", h.loginShow)
	app.Post("/login", h.loginCheck)
	app.Post("/logout", h.logout)
	app.Get("/account/password", h.requireLogin, h.passwordShow)
	app.Post("/account/password", h.requireLogin, h.passwordChange)

	// Chat pages.
	app.Get("/", h.requireLogin, h.lobbyShow)
	app.Get("/chat/", h.requireLogin, h.roomOpen)
	app.Get("/chat/:room/", h.requireLogin, h.roomShow)

	// Websockets: the chat consumer, one room per URL.
	app.Get("/ws/chat/:room/", h.requireLoginSocket, websocket)

	// Staff admin: /admin/ (messages), /admin/users, /admin/live, /admin/audit.
	if admin != nil {
		admin(app.Group("/admin"))
	}

	app.Use(h.notFound)
}
