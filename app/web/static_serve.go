package web

import "github.com/gofiber/fiber/v2"

// staticServe serves an embedded static file. Only names loaded at start-up exist, so no
// path reaches the filesystem.
func (h *Handler) staticServe(c *fiber.Ctx) error {
	a, ok := h.assets.byURLName[c.Params("file")]
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "no such file")
	}
	if a.immutable {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	}
	c.Set(fiber.HeaderContentType, a.contentType)
	return c.Send(a.body)
}
