package web

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
)

// contentSecurityPolicy allows scripts, styles and connections only from this server: no
// inline script can run even if some text escaped its escaping, and no site may frame us.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries.
func (h *Handler) securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	return c.Next()
}

// requestLog writes one line per request (websocket sessions get their own line when they end).
func (h *Handler) requestLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
		} else {
			status = fiber.StatusInternalServerError
		}
	}
	h.log.Info("request", "method", c.Method(), "path", c.Path(), "status", status,
		"duration", time.Since(start).Round(time.Microsecond), "ip", c.IP())
	return err
}
