package layer

import "slices"

// The Redis layer keeps its node-local state in a Memory, so that local channels, groups and
// presence behave exactly as in the in-process layer. These helpers are the few views into
// Memory's registry that the Redis layer needs beyond the Layer interface.

// hasMembers reports whether group has any membership on this node (expired ones included,
// until a GroupSend prunes them).
func (m *Memory) hasMembers(group string) bool {
	s := &m.shards[m.shardIndex(group)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.groups[group]) > 0
}

// channelState snapshots the groups channel is a member of and, by group, the member its
// presence is recorded under.
func (m *Memory) channelState(channel string) (groups []string, present map[string]string) {
	cs := &m.shards[m.shardIndex(channel)]
	cs.mu.RLock()
	groups = slices.Clone(cs.memberOf[channel])
	presentIn := slices.Clone(cs.presentIn[channel])
	cs.mu.RUnlock()
	for _, g := range presentIn {
		if member, ok := m.presenceOf(g, channel); ok {
			if present == nil {
				present = make(map[string]string, len(presentIn))
			}
			present[g] = member
		}
	}
	return groups, present
}

// presenceOf returns the member channel's presence in group is recorded under.
func (m *Memory) presenceOf(group, channel string) (string, bool) {
	s := &m.shards[m.shardIndex(group)]
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p := s.presence[group]; p != nil {
		member, ok := p.byChannel[channel]
		return member, ok
	}
	return "", false
}

// shardPresence snapshots the presence entries of the groups in shard i: group -> channel ->
// member. The Redis layer's heartbeat refreshes them shard by shard.
func (m *Memory) shardPresence(i int) map[string]map[string]string {
	s := &m.shards[i]
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.presence) == 0 {
		return nil
	}
	out := make(map[string]map[string]string, len(s.presence))
	for group, p := range s.presence {
		entries := make(map[string]string, len(p.byChannel))
		for channel, member := range p.byChannel {
			entries[channel] = member
		}
		out[group] = entries
	}
	return out
}

// presenceGroups lists the groups with presence recorded on this node.
func (m *Memory) presenceGroups() []string {
	var out []string
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for group := range s.presence {
			out = append(out, group)
		}
		s.mu.RUnlock()
	}
	return out
}

// deliver offers ev to channel's mailbox if the channel exists, counting it as Memory's Send
// does. Unlike Send it never creates the channel: an event from another node for a channel
// that is gone (its connection closed) would otherwise leave an orphan mailbox behind. A full
// mailbox is marked overflowed by Offer and counted in Skipped, since no sender learns of it.
func (m *Memory) deliver(channel string, ev *Event) (found bool) {
	box := m.mailbox(channel, false)
	if box == nil {
		return false
	}
	if box.Offer(ev) {
		m.sent.Add(1)
	} else {
		m.skipped.Add(1)
	}
	return true
}

// overflowGroup marks the mailboxes of one group's members as having missed events.
func (m *Memory) overflowGroup(group string) {
	s := &m.shards[m.shardIndex(group)]
	s.mu.RLock()
	boxes := make([]*Mailbox, 0, len(s.groups[group]))
	for _, mb := range s.groups[group] {
		if mb.box != nil {
			boxes = append(boxes, mb.box)
		}
	}
	s.mu.RUnlock()
	for _, b := range boxes {
		b.overflow()
	}
}

// overflowGroupMembers marks every mailbox that belongs to a group as having missed events.
// The Redis layer calls it when its subscription broke: group messages from other nodes may
// have been lost meanwhile, and a member whose owner closes on overflow (a websocket) then
// reconnects and catches up from the database instead of showing a silent gap.
func (m *Memory) overflowGroupMembers() int {
	var boxes []*Mailbox
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for _, members := range s.groups {
			for _, mb := range members {
				if mb.box != nil {
					boxes = append(boxes, mb.box)
				}
			}
		}
		s.mu.RUnlock()
	}
	for _, b := range boxes {
		b.overflow()
	}
	return len(boxes)
}
