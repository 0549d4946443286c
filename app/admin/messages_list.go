package admin

import (
	"github.com/gofiber/fiber/v2"
)

// messagesList shows the message history, newest first: filters by room, author, date and
// text (all in the URL), a keyset page of rows with checkboxes for bulk actions, and the
// total that matches.
func (h *Handler) messagesList(c *fiber.Ctx) error {
	q, err := parseMessageQuery(c.Query)
	if err != nil {
		return err
	}
	cursor, err := parseCursor(c.Query)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	f, err := h.filter(ctx, q)
	if err != nil {
		return err
	}
	page, err := h.store.AdminMessages(ctx, f, cursor, h.settings.PageSize)
	if err != nil {
		return err
	}
	total, err := h.store.AdminCountMessages(ctx, f)
	if err != nil {
		return err
	}
	oldest, newest, found, err := h.store.AdminMessageSpan(ctx)
	if err != nil {
		return err
	}
	rows := make([]messageRow, len(page.Messages))
	var first, last int64
	for i := range page.Messages {
		rows[i] = newMessageRow(&page.Messages[i], q, true)
	}
	if n := len(page.Messages); n > 0 {
		first, last = page.Messages[0].ID, page.Messages[n-1].ID
	}
	link := pageLink(q.url)
	data := h.page(c, "Messages", "messages")
	data["Query"] = q
	data["Rows"] = rows
	data["Total"] = total
	data["Pager"] = newPager(link, page.HasNewer, page.HasOlder, first, last, cursor)
	data["Dates"] = newDateNav(q, oldest, newest, found)
	data["Hidden"] = hiddenFields(q.values())
	data["Flash"] = notice(c)
	data["ClearURL"] = messageQuery{}.url()
	return h.render(c, "admin/messages", data)
}
