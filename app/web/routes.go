package web

import (
	"github.com/gofiber/fiber/v2"
)

// Routes registers the whole HTTP surface in one table. websocket is the channels runtime's
// handler for the chat consumer; it runs after the same session middleware as the pages.
func (h *Handler) Routes(app *fiber.App, websocket fiber.Handler) {
	app.Use(h.securityHeaders, h.loadSession, h.csrfProtect)

	// Health, for load balancers.
	app.Get("/healthz", h.healthz)

	// Static files, content-hashed and cached for a year.
	app.Get("/static/:file", h.staticServe)

	// Accounts.
	app.Get("/register", h.registerShow)
	app.Post("/register", h.registerSubmit)
	app.Get("/login", h.loginShow)
	app.Post("/login", h.loginCheck)
	app.Post("/logout", h.logout)

	// Chat pages.
	app.Get("/", h.requireLogin, h.lobbyShow)
	app.Get("/chat/", h.requireLogin, h.roomOpen)
	app.Get("/chat/:room/", h.requireLogin, h.roomShow)

	// Websockets: the chat consumer, one room per URL.
	app.Get("/ws/chat/:room/", h.requireLoginSocket, websocket)

	app.Use(h.notFound)
}
