package chat

import (
	"context"
	"hash/fnv"
	"sync"

	"chat/app/layer"
)

// presenceFrame is what members get when someone joins or leaves: the whole list, so a page
// that missed one update is right again at the next.
type presenceFrame struct {
	Type  string   `json:"type"`
	Room  string   `json:"room"`
	Users []string `json:"users"`
}

// presenceLocks serialise reading the member list and broadcasting it per room, so two
// updates on this node cannot reach members in the opposite order of their lists.
type presenceLocks [64]sync.Mutex

func (p *presenceLocks) lock(group string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(group))
	return &p[h.Sum32()%uint32(len(p))]
}

// announcePresence sends the room's current member list to everyone in it.
func (a *App) announcePresence(ctx context.Context, room, group string) error {
	mu := a.presence.lock(group)
	mu.Lock()
	defer mu.Unlock()
	users, err := a.Layer.PresenceMembers(ctx, group)
	if err != nil {
		return err
	}
	if users == nil {
		users = []string{}
	}
	return a.Layer.GroupSend(ctx, group, &layer.Event{Type: TypePresence, Data: mustJSON(presenceFrame{Type: TypePresence, Room: room, Users: users})})
}
