package web

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"chat/app/chat"
)

// lobbyRooms is how many rooms the lobby lists, most recently active first.
const lobbyRooms = 100

// roomItem is one row of the lobby.
type roomItem struct {
	Name          string
	URL           string
	MessageCount  int64
	LastMessageAt *time.Time
	Online        int
	Unread        int64
}

// lobbyShow lists the rooms with their activity and a form to open one by name.
func (h *Handler) lobbyShow(c *fiber.Ctx) error {
	ctx := c.UserContext()
	rooms, err := h.store.ListRooms(ctx, lobbyRooms)
	if err != nil {
		return err
	}
	online, err := h.layer.PresenceCounts(ctx)
	if err != nil {
		h.log.Warn("presence counts unavailable", "err", err)
	}
	ids := make([]int64, len(rooms))
	for i, r := range rooms {
		ids[i] = r.ID
	}
	unread, err := h.store.UnreadCounts(ctx, currentUser(c).ID, ids)
	if err != nil {
		return err
	}
	items := make([]roomItem, 0, len(rooms))
	for _, r := range rooms {
		items = append(items, roomItem{
			Name: r.Name, URL: roomURL(r.Name), MessageCount: r.MessageCount,
			LastMessageAt: r.LastMessageAt, Online: online[chat.GroupName(r.Name)], Unread: unread[r.ID],
		})
	}
	data := h.view(c, "Rooms")
	data["Rooms"] = items
	return h.render(c, fiber.StatusOK, "lobby", data)
}

// roomURL is the page of a room; any Unicode name is escaped into one path segment.
func roomURL(name string) string { return "/chat/" + url.PathEscape(name) + "/" }

// roomSocketPath is the websocket route of a room.
func roomSocketPath(name string) string { return "/ws/chat/" + url.PathEscape(name) + "/" }
