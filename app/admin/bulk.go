package admin

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// bulkAction is what a bulk form asks for: the rows it names (scope "selected") or every
// row that matches the list's filter (scope "all"), which the form carries in hidden fields.
type bulkAction struct {
	Query  messageQuery
	All    bool
	IDs    []int64
	UpTo   int64 // with All: only ids up to this one (what the confirmation counted); 0: no bound
	Filter store.MessageFilter
}

// parseBulk reads a bulk action's form and resolves its filter.
func (h *Handler) parseBulk(c *fiber.Ctx) (bulkAction, error) {
	var b bulkAction
	var err error
	if b.Query, err = parseMessageQuery(c.FormValue); err != nil {
		return b, err
	}
	if b.Filter, err = h.filter(c.UserContext(), b.Query); err != nil {
		return b, err
	}
	switch c.FormValue("scope") {
	case "all":
		b.All = true
		if raw := c.FormValue("upto"); raw != "" {
			if b.UpTo, err = strconv.ParseInt(raw, 10, 64); err != nil || b.UpTo <= 0 {
				return b, fiber.NewError(fiber.StatusBadRequest, "upto is a message id.")
			}
			// The rows the confirmation counted: nothing sent since joins them.
			b.Filter.MaxID = b.UpTo
		}
	case "selected", "":
		if b.IDs, err = idList(c, h.settings.MaxSelected); err != nil {
			return b, err
		}
		if len(b.IDs) == 0 {
			return b, fiber.NewError(fiber.StatusBadRequest, "No rows were selected. Tick some rows, or use the \"all matching\" button.")
		}
		// A selection is those rows, whatever the list's filter was.
		b.Filter = store.MessageFilter{IDs: b.IDs}
	default:
		return b, fiber.NewError(fiber.StatusBadRequest, "scope is selected or all.")
	}
	return b, nil
}

// target says what the action covers, for confirmations and the audit log.
func (b bulkAction) target() string {
	if b.All {
		return "all matching: " + b.Query.Describe()
	}
	return fmt.Sprintf("%d selected message(s)", len(b.IDs))
}
