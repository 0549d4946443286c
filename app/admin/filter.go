package admin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// maxFilterChars bounds every text filter; longer input is refused, not cut.
const maxFilterChars = 200

// messageQuery is the message list's filter as it appears in the URL (GET) or in a bulk
// action's hidden fields (POST), so every view can be bookmarked and every action repeats
// exactly the view it came from.
type messageQuery struct {
	Room   string // room name, exact
	Author string // username, any case
	Text   string // substring of the text, any case
	Year   int
	Month  int // needs Year
	Day    int // needs Month
}

// parseMessageQuery reads the filter through get (c.Query or c.FormValue); bad dates are
// refused with 400.
func parseMessageQuery(get func(key string, def ...string) string) (messageQuery, error) {
	q := messageQuery{Room: strings.TrimSpace(get("room")), Author: strings.TrimSpace(get("author")), Text: get("q")}
	for _, s := range []string{q.Room, q.Author, q.Text} {
		if utf8.RuneCountInString(s) > maxFilterChars || !utf8.ValidString(s) {
			return q, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("Filters are at most %d characters of text.", maxFilterChars))
		}
	}
	num := func(key string, lo, hi int) (int, error) {
		raw := get(key)
		if raw == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < lo || n > hi {
			return 0, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s must be a number from %d to %d.", key, lo, hi))
		}
		return n, nil
	}
	var err error
	if q.Year, err = num("year", 1, 9999); err != nil {
		return q, err
	}
	if q.Month, err = num("month", 1, 12); err != nil {
		return q, err
	}
	if q.Day, err = num("day", 1, 31); err != nil {
		return q, err
	}
	if q.Month != 0 && q.Year == 0 || q.Day != 0 && q.Month == 0 {
		return q, fiber.NewError(fiber.StatusBadRequest, "A month needs a year, and a day needs a month.")
	}
	if q.Day != 0 && q.Day > daysIn(q.Year, time.Month(q.Month)) {
		return q, fiber.NewError(fiber.StatusBadRequest, "There is no such day in that month.")
	}
	return q, nil
}

// span returns the UTC period the date filter covers; zero times when there is none.
func (q messageQuery) span() (from, until time.Time) {
	switch {
	case q.Day != 0:
		from = time.Date(q.Year, time.Month(q.Month), q.Day, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 0, 1)
	case q.Month != 0:
		from = time.Date(q.Year, time.Month(q.Month), 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 1, 0)
	case q.Year != 0:
		from = time.Date(q.Year, 1, 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(1, 0, 0)
	}
	return time.Time{}, time.Time{}
}

// Active reports whether any filter is set.
func (q messageQuery) Active() bool { return q != messageQuery{} }

// values is the filter as URL parameters (no page cursor), the same names parse reads.
func (q messageQuery) values() url.Values {
	v := url.Values{}
	if q.Room != "" {
		v.Set("room", q.Room)
	}
	if q.Author != "" {
		v.Set("author", q.Author)
	}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	if q.Year != 0 {
		v.Set("year", strconv.Itoa(q.Year))
	}
	if q.Month != 0 {
		v.Set("month", strconv.Itoa(q.Month))
	}
	if q.Day != 0 {
		v.Set("day", strconv.Itoa(q.Day))
	}
	return v
}

// Describe says the filter in words for confirmations and the audit log.
func (q messageQuery) Describe() string {
	var parts []string
	if q.Room != "" {
		parts = append(parts, "room="+q.Room)
	}
	if q.Author != "" {
		parts = append(parts, "author="+q.Author)
	}
	if q.Text != "" {
		parts = append(parts, fmt.Sprintf("text contains %q", q.Text))
	}
	switch {
	case q.Day != 0:
		parts = append(parts, fmt.Sprintf("date=%04d-%02d-%02d", q.Year, q.Month, q.Day))
	case q.Month != 0:
		parts = append(parts, fmt.Sprintf("date=%04d-%02d", q.Year, q.Month))
	case q.Year != 0:
		parts = append(parts, fmt.Sprintf("date=%04d", q.Year))
	}
	if len(parts) == 0 {
		return "all messages"
	}
	return strings.Join(parts, ", ")
}

// url is the message list for this filter, with extra parameters (page cursor, notices).
func (q messageQuery) url(extra ...string) string {
	v := q.values()
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return "/admin/messages"
	}
	return "/admin/messages?" + v.Encode()
}

// noMatch is an id no row has: a room or author that does not exist matches nothing.
const noMatch = -1

// filter turns the query into the store's filter, looking up the room and author by name.
func (h *Handler) filter(ctx context.Context, q messageQuery) (store.MessageFilter, error) {
	f := store.MessageFilter{Text: q.Text}
	f.From, f.Until = q.span()
	if q.Room != "" {
		r, err := h.store.RoomByName(ctx, q.Room)
		switch {
		case err == nil:
			f.RoomID = r.ID
		case errors.Is(err, store.ErrNotFound):
			f.RoomID = noMatch
		default:
			return f, err
		}
	}
	if q.Author != "" {
		u, err := h.store.UserByName(ctx, q.Author)
		switch {
		case err == nil:
			f.UserID = u.ID
		case errors.Is(err, store.ErrNotFound):
			f.UserID = noMatch
		default:
			return f, err
		}
	}
	return f, nil
}

// parseCursor reads a keyset position: before=<id> (older page) or after=<id> (newer page;
// after=0 is the oldest page).
func parseCursor(get func(key string, def ...string) string) (store.Cursor, error) {
	bad := fiber.NewError(fiber.StatusBadRequest, "before and after are message ids.")
	if raw := get("after"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return store.Cursor{}, bad
		}
		return store.Cursor{After: n, Forward: true}, nil
	}
	if raw := get("before"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return store.Cursor{}, bad
		}
		return store.Cursor{Before: n}, nil
	}
	return store.Cursor{}, nil
}

// pager holds the links between keyset pages; an empty link means there is no such page.
type pager struct {
	Newest, Newer, Older, Oldest string
}

// newPager builds the links of a page whose newest and oldest ids are first and last; link
// adds a cursor to the list's URL.
// pageLink makes a pager's link function from a query's url method: the current view with
// one parameter changed ("" for the view itself).
func pageLink(url func(extra ...string) string) func(key, value string) string {
	return func(key, value string) string {
		if key == "" {
			return url()
		}
		return url(key, value)
	}
}

func newPager(link func(key, value string) string, newer, older bool, first, last int64, at store.Cursor) pager {
	var p pager
	if newer {
		p.Newest = link("", "")
		p.Newer = link("after", strconv.FormatInt(first, 10))
		if first == 0 { // an empty page past the end: step back from where it was
			p.Newer = link("after", strconv.FormatInt(max(at.Before-1, 0), 10))
		}
	}
	if older {
		p.Oldest = link("after", "0")
		p.Older = link("before", strconv.FormatInt(last, 10))
		if last == 0 {
			p.Older = link("before", strconv.FormatInt(at.After+1, 10))
		}
	}
	return p
}

// daysIn is the number of days of a month.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// idList reads the selected row ids of a bulk action (checkboxes named ids).
func idList(c *fiber.Ctx, limit int) ([]int64, error) {
	form, err := c.MultipartForm()
	var raw []string
	if err == nil {
		raw = form.Value["ids"]
	} else {
		c.Request().PostArgs().VisitAll(func(k, v []byte) {
			if string(k) == "ids" {
				raw = append(raw, string(v))
			}
		})
	}
	if len(raw) > limit {
		return nil, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("Select at most %d rows at once; use \"all matching\" for more.", limit))
	}
	ids := make([]int64, 0, len(raw))
	for _, s := range raw {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, fiber.NewError(fiber.StatusBadRequest, "Selected rows are message ids.")
		}
		ids = append(ids, id)
	}
	return ids, nil
}
