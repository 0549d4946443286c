package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ErrorHandler renders errors as pages (400, 403, 404, 500 ...). Internal errors are logged
// and shown without detail.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status := fiber.StatusInternalServerError
		message := "Something went wrong on our side. Please try again."
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
			message = fe.Message
		} else {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		if status == fiber.StatusNotFound && message == "" {
			message = "There is no page here."
		}
		if strings.HasPrefix(c.Path(), "/static/") {
			return c.Status(status).SendString(message)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		rerr := c.Status(status).Render("error", fiber.Map{
			"Title": fiberStatusText(status), "Status": status, "Message": message,
			"User": currentUser(c), "CSRF": c.Locals(localCSRF),
		}, layout)
		if rerr != nil {
			return c.Status(status).SendString(message)
		}
		return nil
	}
}

func fiberStatusText(status int) string {
	if s := http.StatusText(status); s != "" {
		return s
	}
	return "Error"
}

// notFound answers every path no route took.
func (h *Handler) notFound(c *fiber.Ctx) error {
	return fiber.NewError(fiber.StatusNotFound, "There is no page here.")
}
