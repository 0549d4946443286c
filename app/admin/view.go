package admin

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"chat/models"
)

// timeFormat is how the admin shows times: UTC, to the second, sortable.
const timeFormat = "2006-01-02 15:04:05"

// shortChars is how much of a message's text the list shows.
const shortChars = 90

// messageRow is one message as the list and the detail page show it.
type messageRow struct {
	ID        int64
	URL       string
	Time      string
	ISOTime   string
	Room      string
	RoomURL   string // the list filtered to this room
	Author    string
	AuthorURL string // the list filtered to this author
	Text      string // shortened in the list
	Edited    string // when it was last edited, or ""
}

func newMessageRow(m *models.Message, q messageQuery, short bool) messageRow {
	byRoom, byAuthor := q, q
	byRoom.Room, byAuthor.Author = m.RoomName, m.Username
	text := m.Body
	if short {
		text = shorten(text, shortChars)
	}
	r := messageRow{
		ID: m.ID, URL: "/admin/messages/" + strconv.FormatInt(m.ID, 10),
		Time: m.CreatedAt.UTC().Format(timeFormat), ISOTime: m.CreatedAt.UTC().Format(time.RFC3339),
		Room: m.RoomName, RoomURL: byRoom.url(), Author: m.Username, AuthorURL: byAuthor.url(), Text: text,
	}
	if m.EditedAt != nil {
		r.Edited = m.EditedAt.UTC().Format(timeFormat)
	}
	return r
}

// shorten cuts s to n characters with an ellipsis, on one line.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// field is a hidden form field that carries the current filter into a bulk action.
type field struct{ Name, Value string }

// hiddenFields turns URL parameters into hidden fields, in a stable order.
func hiddenFields(v url.Values) []field {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []field
	for _, k := range keys {
		for _, val := range v[k] {
			out = append(out, field{k, val})
		}
	}
	return out
}

// notices are the messages a redirect after an action may ask the next page to show; only
// these fixed texts are shown, never text from the URL.
var notices = map[string]string{
	"deleted":           "Deleted %d message(s); open rooms have removed them.",
	"deactivated":       "Account deactivated: its sessions ended and its sockets were closed.",
	"reactivated":       "Account reactivated: it can log in again.",
	"staff-granted":     "Staff granted.",
	"staff-revoked":     "Staff revoked.",
	"disconnected":      "Connection closed.",
	"disconnected-user": "Closed %d connection(s) of that user on this node.",
}

// notice returns the text for ?notice=...&n=... or "".
func notice(c *fiber.Ctx) string {
	text, ok := notices[c.Query("notice")]
	if !ok {
		return ""
	}
	if !strings.Contains(text, "%d") {
		return text
	}
	n, _ := strconv.Atoi(c.Query("n"))
	return fmt.Sprintf(text, n)
}

// roomURL is a room's chat page.
func roomURL(name string) string { return "/chat/" + url.PathEscape(name) + "/" }
