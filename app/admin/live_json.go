package admin

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// liveJSON is liveShow's data for static/admin.js to poll.
func (h *Handler) liveJSON(c *fiber.Ctx) error {
	rows, total := h.liveRows()
	return c.JSON(fiber.Map{"connections": total, "rows": rows, "at": time.Now().UTC()})
}
