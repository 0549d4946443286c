package chat

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"chat/app/layer"
)

// presenceDelay gathers the joins and leaves of a room that come close together into one
// announcement: without it, N people arriving at once would cost N announcements to up to N
// members each.
const presenceDelay = 100 * time.Millisecond

// Limits.PresencePace paces a big room's announcements: after one reached n connections, the
// next waits at least n x the pace, so at the default 200 µs a room's presence frames reach at
// most 5,000 connections a second from each node (with Redis, every node paces its own
// announcements). Without it, 10,000 people joining one room cost an announcement to everyone
// in it every presenceDelay: most of the server's work while they joined.
//
// maxPresenceGap bounds that wait: the biggest room's list is still at most this old.
const maxPresenceGap = 5 * time.Second

// presenceGap is how long a room's next announcement waits after one that reached conns.
func presenceGap(conns int, pace time.Duration) time.Duration {
	return min(max(presenceDelay, time.Duration(conns)*pace), maxPresenceGap)
}

// maxPresenceNames caps the names in one presence frame; "count" still says how many.
const maxPresenceNames = 200

// presenceFrame is what members get when someone joins or leaves: the whole list (up to
// maxPresenceNames), so a page that missed one update is right again at the next.
type presenceFrame struct {
	Type  string   `json:"type"`
	Room  string   `json:"room"`
	Users []string `json:"users"`
	Count int      `json:"count"`
}

// presenceBoard schedules one announcement per room at a time.
type presenceBoard struct {
	mu      sync.Mutex
	pending map[string]string // group -> room name, announcements scheduled
	timers  map[string]*time.Timer
	quiet   map[string]time.Time // group -> its next announcement waits until then (big rooms only)
	closed  bool
	// locks serialise computing and sending a room's list, so two announcements cannot
	// reach members in the opposite order of their lists.
	locks [64]sync.Mutex
}

func (p *presenceBoard) lock(group string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(group))
	return &p.locks[h.Sum32()%uint32(len(p.locks))]
}

// announcePresence schedules sending the room's member list to everyone in it.
func (a *App) announcePresence(room, group string) {
	p := &a.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.pending == nil {
		p.pending, p.timers = map[string]string{}, map[string]*time.Timer{}
	}
	_, scheduled := p.pending[group]
	p.pending[group] = room
	if !scheduled {
		p.timers[group] = time.AfterFunc(presenceDelay, func() { a.flushPresence(group) })
	}
}

// quietFor makes a room's next announcement wait gap from now; a gap no longer than
// presenceDelay, which every announcement waits anyway, needs no entry.
func (p *presenceBoard) quietFor(group string, gap time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if gap <= presenceDelay {
		delete(p.quiet, group)
		return
	}
	if p.quiet == nil {
		p.quiet = map[string]time.Time{}
	}
	p.quiet[group] = time.Now().Add(gap)
}

// Close stops pending presence announcements; the layer may be closed after it.
func (a *App) Close() {
	p := &a.presence
	p.mu.Lock()
	p.closed = true
	for _, t := range p.timers {
		t.Stop()
	}
	p.timers, p.pending, p.quiet = nil, nil, nil
	p.mu.Unlock()
	// Wait for announcements already running: each holds its room's lock.
	for i := range p.locks {
		p.locks[i].Lock()
		p.locks[i].Unlock()
	}
}

func (a *App) flushPresence(group string) {
	mu := a.presence.lock(group)
	mu.Lock()
	defer mu.Unlock()
	a.presence.mu.Lock()
	if a.presence.closed {
		a.presence.mu.Unlock()
		return
	}
	if until, ok := a.presence.quiet[group]; ok {
		if wait := time.Until(until); wait > 0 {
			// A big room's last list went out moments ago: this one waits its turn. The room's
			// lock, held above, means a list being sent has already set the wait.
			a.presence.timers[group] = time.AfterFunc(wait, func() { a.flushPresence(group) })
			a.presence.mu.Unlock()
			return
		}
		delete(a.presence.quiet, group)
	}
	room := a.presence.pending[group]
	delete(a.presence.pending, group)
	delete(a.presence.timers, group)
	a.presence.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	users, conns, err := a.Layer.Presence(ctx, group)
	if err != nil {
		a.Log.Warn("presence members unavailable", "room", room, "err", err)
		return
	}
	frame := presenceFrame{Type: TypePresence, Room: room, Users: users, Count: len(users)}
	if frame.Users == nil {
		frame.Users = []string{}
	}
	if len(frame.Users) > maxPresenceNames {
		frame.Users = frame.Users[:maxPresenceNames]
	}
	ev := &layer.Event{Type: TypePresence, Data: mustJSON(frame)}
	a.presence.quietFor(group, presenceGap(conns, a.Limits.PresencePace)) // before the send, for joins during it
	if err := a.Layer.GroupSend(ctx, group, ev); err != nil && err != layer.ErrClosed {
		a.Log.Warn("presence announce failed", "room", room, "err", err)
	}
}
