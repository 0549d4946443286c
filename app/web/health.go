package web

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthz answers 200 while the process serves and the database answers.
func (h *Handler) healthz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable\n")
	}
	return c.SendString("ok\n")
}

// Ops are the operators' endpoints the wiring provides.
type Ops struct {
	// Ready reports whether this node should get traffic: database and layer reachable, and
	// not draining for shutdown.
	Ready func(ctx context.Context) error
	// Metrics serves the Prometheus series; nil turns /metrics off.
	Metrics fiber.Handler
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
}

// readyz answers 200 while the node should get traffic, 503 with the reason otherwise.
func (h *Handler) readyz(ops Ops) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		c.Set(fiber.HeaderCacheControl, "no-store")
		if ops.Ready != nil {
			if err := ops.Ready(ctx); err != nil {
				return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + err.Error() + "\n")
			}
		}
		return c.SendString("ready\n")
	}
}

// metricsGuard lets /metrics through only with the configured bearer token.
func metricsGuard(token string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if token == "" {
			return c.Next()
		}
		got := strings.TrimPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return c.Status(fiber.StatusUnauthorized).SendString("metrics need a bearer token\n")
		}
		return c.Next()
	}
}
