package admin

import (
	"cmp"
	"slices"
	"time"

	"chat/app/channels"
	"chat/app/chat"
	"chat/models"
)

// liveConn is one open websocket.
type liveConn struct {
	Channel string    `json:"channel"`
	Since   time.Time `json:"since"`
}

// liveRow is one user in one room, with however many tabs they have open there.
type liveRow struct {
	UserID   int64      `json:"user_id"`
	Username string     `json:"username"`
	Room     string     `json:"room"`
	Tabs     int        `json:"tabs"`
	Since    time.Time  `json:"since"` // the oldest of the tabs
	Conns    []liveConn `json:"conns"`

	SinceText string `json:"since_text"`
}

// liveRows groups this node's connections by user and room, by name.
func (h *Handler) liveRows() (rows []liveRow, total int) {
	type key struct {
		user int64
		room string
	}
	byKey := map[key]*liveRow{}
	h.conns.Each(func(conn *channels.Conn) {
		scope := conn.Scope()
		u, _ := scope.User.(*models.User)
		if u == nil {
			return
		}
		room, err := chat.NormalizeRoomName(scope.Params.Get("room"))
		if err != nil {
			room = scope.Params.Get("room")
		}
		total++
		k := key{u.ID, room}
		r := byKey[k]
		if r == nil {
			r = &liveRow{UserID: u.ID, Username: u.Username, Room: room, Since: conn.ConnectedAt}
			byKey[k] = r
		}
		r.Tabs++
		r.Conns = append(r.Conns, liveConn{Channel: conn.ChannelName(), Since: conn.ConnectedAt.UTC()})
		if conn.ConnectedAt.Before(r.Since) {
			r.Since = conn.ConnectedAt
		}
	})
	rows = make([]liveRow, 0, len(byKey))
	for _, r := range byKey {
		r.Since = r.Since.UTC()
		r.SinceText = r.Since.Format(timeFormat)
		slices.SortFunc(r.Conns, func(a, b liveConn) int { return a.Since.Compare(b.Since) })
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b liveRow) int {
		return cmp.Or(cmp.Compare(a.Username, b.Username), cmp.Compare(a.Room, b.Room))
	})
	return rows, total
}
