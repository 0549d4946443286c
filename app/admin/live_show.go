package admin

import (
	"github.com/gofiber/fiber/v2"
)

// liveShow shows who is connected to this node now, by user and room; static/admin.js keeps
// it current from liveJSON.
func (h *Handler) liveShow(c *fiber.Ctx) error {
	rows, total := h.liveRows()
	data := h.page(c, "Live", "live")
	data["Rows"] = rows
	data["Connections"] = total
	data["Flash"] = notice(c)
	return h.render(c, "admin/live", data)
}
