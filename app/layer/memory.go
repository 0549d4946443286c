package layer

import (
	"context"
	"crypto/rand"
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shardCount spreads names over independent locks so that sends to unrelated channels and
// groups do not contend.
const shardCount = 32

// MemoryOptions configure an in-process layer; zero fields take defaults.
type MemoryOptions struct {
	// Capacity is how many events a channel holds before Send fails (default 100).
	Capacity int
	// Expiry is how long an event may wait in a channel before Receive drops it (default 60s).
	Expiry time.Duration
	// GroupExpiry drops a group membership not renewed by GroupAdd for this long (default 24h),
	// so a consumer that died without GroupDiscard stops costing every group send.
	GroupExpiry time.Duration
	// Prefix is this node's id inside channel names; it must be a valid group name. Default: a
	// random 8-character id.
	Prefix string
}

func (o MemoryOptions) withDefaults() MemoryOptions {
	if o.Capacity <= 0 {
		o.Capacity = 100
	}
	if o.Expiry <= 0 {
		o.Expiry = 60 * time.Second
	}
	if o.GroupExpiry <= 0 {
		o.GroupExpiry = 24 * time.Hour
	}
	if o.Prefix == "" {
		o.Prefix = strings.ToLower(rand.Text()[:8])
	}
	return o
}

// Memory is the in-process Layer (Channels' InMemoryChannelLayer): it serves a single node.
type Memory struct {
	opts   MemoryOptions
	seed   maphash.Seed
	shards [shardCount]shard
	fanout sync.Pool // *fanout, so GroupSend does not allocate

	closed    atomic.Bool
	done      chan struct{} // closed by Close to wake blocked Receives
	closeOnce sync.Once

	sent, groupSends, skipped, expired atomic.Uint64
}

var _ Layer = (*Memory)(nil)

// shard holds the names that hash to it. A channel's reverse indexes live in the channel's
// shard and a group's members and presence in the group's shard; operations touching both
// lock the two shards in index order.
type shard struct {
	mu        sync.RWMutex
	channels  map[string]*Mailbox
	groups    map[string]map[string]membership // group -> channel -> membership
	presence  map[string]*presenceGroup        // by group
	memberOf  map[string][]string              // channel -> groups it is in
	presentIn map[string][]string              // channel -> groups it is present in
}

// membership caches the member's mailbox so GroupSend needs no lock on the channel's shard.
type membership struct {
	box   *Mailbox // nil if the channel did not exist at GroupAdd; GroupSend then looks it up
	added int64    // unix nanos of the latest GroupAdd, for GroupExpiry
}

// presenceGroup keeps per-member channel counts so distinct members are counted in O(1).
type presenceGroup struct {
	byChannel map[string]string // channel -> member
	channels  map[string]int    // member -> how many of its channels are present
}

// fanout is GroupSend's scratch space, pooled so a send to a large group does not allocate.
type fanout struct {
	boxes []*Mailbox
	names []string
}

// NewMemory makes an in-process layer.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{opts: opts.withDefaults(), seed: maphash.MakeSeed(), done: make(chan struct{})}
	m.fanout.New = func() any { return new(fanout) }
	for i := range m.shards {
		m.shards[i].reset()
	}
	return m
}

func (s *shard) reset() {
	s.channels = make(map[string]*Mailbox)
	s.groups = make(map[string]map[string]membership)
	s.presence = make(map[string]*presenceGroup)
	s.memberOf = make(map[string][]string)
	s.presentIn = make(map[string][]string)
}

func (m *Memory) shardIndex(name string) int {
	return int(maphash.String(m.seed, name) % shardCount)
}

// lock2 write-locks the shards of a group and a channel in index order, so that two such
// operations can never deadlock.
func (m *Memory) lock2(group, channel string) (gs, cs *shard) {
	gi, ci := m.shardIndex(group), m.shardIndex(channel)
	gs, cs = &m.shards[gi], &m.shards[ci]
	switch {
	case gi == ci:
		gs.mu.Lock()
	case gi < ci:
		gs.mu.Lock()
		cs.mu.Lock()
	default:
		cs.mu.Lock()
		gs.mu.Lock()
	}
	return gs, cs
}

func unlock2(gs, cs *shard) {
	gs.mu.Unlock()
	if cs != gs {
		cs.mu.Unlock()
	}
}

// NewChannel makes a process-local channel named prefix.node!random.
func (m *Memory) NewChannel(ctx context.Context, prefix string) (*Mailbox, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	for {
		name := prefix + "." + m.opts.Prefix + "!" + rand.Text()
		if !ValidChannelName(name) {
			return nil, ErrInvalidName
		}
		s := &m.shards[m.shardIndex(name)]
		s.mu.Lock()
		if _, taken := s.channels[name]; !taken { // 130 random bits: practically always
			box := NewMailbox(name, m.opts.Capacity)
			s.channels[name] = box
			s.mu.Unlock()
			return box, nil
		}
		s.mu.Unlock()
	}
}

// CloseChannel forgets a channel, its group memberships and its presence. Closing an unknown
// channel is not an error, so a connection's teardown may run twice. A Receive already waiting
// on the channel returns only when its ctx is done.
func (m *Memory) CloseChannel(ctx context.Context, channel string) error {
	if err := m.check(channel, ValidChannelName); err != nil {
		return err
	}
	s := &m.shards[m.shardIndex(channel)]
	s.mu.Lock()
	delete(s.channels, channel)
	groups := slices.Clone(s.memberOf[channel])
	present := slices.Clone(s.presentIn[channel])
	s.mu.Unlock()
	// A GroupAdd racing with this runs as if after it: its membership stays, with its reverse
	// entry, because groupDiscard removes both together.
	for _, g := range groups {
		m.groupDiscard(g, channel, 0)
	}
	for _, g := range present {
		m.presenceRemove(g, channel)
	}
	return nil
}

// Send puts ev on channel, creating the channel if it does not exist (as Channels does, so a
// send may precede the receiver's first Receive).
func (m *Memory) Send(ctx context.Context, channel string, ev *Event) error {
	if err := m.check(channel, ValidChannelName); err != nil {
		return err
	}
	if ev.expiresAt == 0 {
		ev.expiresAt = time.Now().UnixNano() + int64(m.opts.Expiry)
	}
	// Offer also marks the mailbox overflowed: its consumer missed this event as surely as a
	// skipped group event, and must learn it.
	if !m.mailbox(channel, true).Offer(ev) {
		return ErrChannelFull
	}
	m.sent.Add(1)
	return nil
}

// mailbox finds a channel's mailbox, creating it when create is set; nil if absent.
func (m *Memory) mailbox(channel string, create bool) *Mailbox {
	s := &m.shards[m.shardIndex(channel)]
	s.mu.RLock()
	box := s.channels[channel]
	s.mu.RUnlock()
	if box != nil || !create {
		return box
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if box = s.channels[channel]; box == nil {
		box = NewMailbox(channel, m.opts.Capacity)
		s.channels[channel] = box
	}
	return box
}

// Receive waits for channel's next event that has not expired.
func (m *Memory) Receive(ctx context.Context, channel string) (*Event, error) {
	if err := m.check(channel, ValidChannelName); err != nil {
		return nil, err
	}
	box := m.mailbox(channel, false)
	if box == nil {
		return nil, ErrNoSuchChannel
	}
	for {
		if ev, ok := box.Poll(); ok {
			if ev.Expired(time.Now()) {
				m.expired.Add(1)
				continue
			}
			return ev, nil
		}
		select {
		case <-box.Ready():
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-m.done:
			return nil, ErrClosed
		}
	}
}

// GroupAdd adds channel to group, or renews its membership for GroupExpiry.
func (m *Memory) GroupAdd(ctx context.Context, group, channel string) error {
	if err := m.check2(group, channel); err != nil {
		return err
	}
	gs, cs := m.lock2(group, channel)
	defer unlock2(gs, cs)
	members := gs.groups[group]
	if members == nil {
		members = make(map[string]membership)
		gs.groups[group] = members
	}
	members[channel] = membership{box: cs.channels[channel], added: time.Now().UnixNano()}
	addToSet(cs.memberOf, channel, group)
	return nil
}

// GroupDiscard removes channel from group.
func (m *Memory) GroupDiscard(ctx context.Context, group, channel string) error {
	if err := m.check2(group, channel); err != nil {
		return err
	}
	m.groupDiscard(group, channel, 0)
	return nil
}

// groupDiscard removes the membership and its reverse entry together. A nonzero cutoff
// removes it only if it was last added before cutoff, so a concurrent renewal survives expiry.
func (m *Memory) groupDiscard(group, channel string, cutoff int64) {
	gs, cs := m.lock2(group, channel)
	defer unlock2(gs, cs)
	members := gs.groups[group]
	if mb, ok := members[channel]; !ok || (cutoff != 0 && mb.added >= cutoff) {
		return
	}
	delete(members, channel)
	if len(members) == 0 {
		delete(gs.groups, group)
	}
	removeFromSet(cs.memberOf, channel, group)
}

// fanoutYieldEvery is how many offers GroupSend makes between checks whether to yield to
// the scheduler.
const fanoutYieldEvery = 256

// GroupSend offers ev to every member without waiting; full members are skipped and counted.
func (m *Memory) GroupSend(ctx context.Context, group string, ev *Event) error {
	if err := m.check(group, ValidGroupName); err != nil {
		return err
	}
	m.groupSends.Add(1)
	now := time.Now().UnixNano()
	if ev.expiresAt == 0 {
		ev.expiresAt = now + int64(m.opts.Expiry)
	}
	cutoff := now - int64(m.opts.GroupExpiry)
	stale := false

	f := m.fanout.Get().(*fanout)
	s := &m.shards[m.shardIndex(group)]
	s.mu.RLock()
	for channel, mb := range s.groups[group] {
		switch {
		case mb.added < cutoff:
			stale = true
		case mb.box != nil:
			f.boxes = append(f.boxes, mb.box)
		default:
			f.names = append(f.names, channel)
		}
	}
	s.mu.RUnlock()

	// Members added before their channel existed are delivered to by name, creating the
	// channel as Send does.
	for _, name := range f.names {
		f.boxes = append(f.boxes, m.mailbox(name, true))
	}
	var sent, skipped uint64
	live := 0 // goroutines before the last check; counted only for a group big enough to yield
	if len(f.boxes) >= fanoutYieldEvery {
		live = runtime.NumGoroutine()
	}
	for i, box := range f.boxes {
		if box.Offer(ev) {
			sent++
		} else {
			skipped++
		}
		if i%fanoutYieldEvery == fanoutYieldEvery-1 && runtime.NumGoroutine()-live >= fanoutYieldEvery/2 {
			// An offer to an idle connection starts its writer goroutine, and these offers
			// started many. Yielding lets some of them run and end, and later offers reuse
			// their goroutines, so a send to a big group of idle connections keeps a few
			// hundred writers (and their stacks) alive at once instead of one per member.
			// Offers that start nothing (busy writers, no Notify) never yield: on several
			// processors a yield can cost microseconds.
			runtime.Gosched()
			live = runtime.NumGoroutine()
		}
	}
	m.sent.Add(sent)
	m.skipped.Add(skipped)
	clear(f.boxes) // drop references so pooled scratch does not keep closed mailboxes alive
	clear(f.names)
	f.boxes, f.names = f.boxes[:0], f.names[:0]
	m.fanout.Put(f)

	if stale {
		m.expireMembers(group, cutoff)
	}
	return nil
}

// expireMembers drops group's memberships older than cutoff; GroupSend calls it lazily, as
// Channels cleans expired groups when it next touches them.
func (m *Memory) expireMembers(group string, cutoff int64) {
	s := &m.shards[m.shardIndex(group)]
	var old []string
	s.mu.RLock()
	for channel, mb := range s.groups[group] {
		if mb.added < cutoff {
			old = append(old, channel)
		}
	}
	s.mu.RUnlock()
	for _, channel := range old {
		m.groupDiscard(group, channel, cutoff)
	}
}

// PresenceAdd records member's channel as present in group; re-adding with another member
// moves the channel to that member.
func (m *Memory) PresenceAdd(ctx context.Context, group, channel, member string) error {
	if err := m.check2(group, channel); err != nil {
		return err
	}
	gs, cs := m.lock2(group, channel)
	defer unlock2(gs, cs)
	p := gs.presence[group]
	if p == nil {
		p = &presenceGroup{byChannel: make(map[string]string), channels: make(map[string]int)}
		gs.presence[group] = p
	}
	if old, ok := p.byChannel[channel]; ok {
		if old == member {
			return nil
		}
		p.drop(old)
	}
	p.byChannel[channel] = member
	p.channels[member]++
	addToSet(cs.presentIn, channel, group)
	return nil
}

func (p *presenceGroup) drop(member string) {
	if p.channels[member]--; p.channels[member] <= 0 {
		delete(p.channels, member)
	}
}

// PresenceRemove forgets channel's presence in group; removing an absent one is not an error.
func (m *Memory) PresenceRemove(ctx context.Context, group, channel string) error {
	if err := m.check2(group, channel); err != nil {
		return err
	}
	m.presenceRemove(group, channel)
	return nil
}

func (m *Memory) presenceRemove(group, channel string) {
	gs, cs := m.lock2(group, channel)
	defer unlock2(gs, cs)
	removeFromSet(cs.presentIn, channel, group)
	p := gs.presence[group]
	if p == nil {
		return
	}
	member, ok := p.byChannel[channel]
	if !ok {
		return
	}
	delete(p.byChannel, channel)
	p.drop(member)
	if len(p.byChannel) == 0 {
		delete(gs.presence, group)
	}
}

// Presence lists the distinct members present in group, sorted (empty, not nil, when nobody is
// there), and their channel count.
func (m *Memory) Presence(ctx context.Context, group string) (members []string, channels int, err error) {
	if err := m.check(group, ValidGroupName); err != nil {
		return nil, 0, err
	}
	s := &m.shards[m.shardIndex(group)]
	s.mu.RLock()
	members = []string{}
	if p := s.presence[group]; p != nil {
		members = make([]string, 0, len(p.channels))
		for member := range p.channels {
			members = append(members, member)
		}
		channels = len(p.byChannel)
	}
	s.mu.RUnlock()
	slices.Sort(members)
	return members, channels, nil
}

// PresenceCounts maps every group with anyone present to its number of distinct members.
func (m *Memory) PresenceCounts(ctx context.Context) (map[string]int, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	counts := make(map[string]int)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for group, p := range s.presence {
			counts[group] = len(p.channels)
		}
		s.mu.RUnlock()
	}
	return counts, nil
}

// Flush drops every group, membership and presence entry and discards queued events. Mailboxes
// stay registered, so a consumer still holding one keeps receiving later sends.
func (m *Memory) Flush(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	m.flush()
	return nil
}

func (m *Memory) flush() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for _, box := range s.channels {
			box.Drain() // takes only the mailbox's own lock, never blocks: safe under the shard lock
		}
		clear(s.groups)
		clear(s.presence)
		clear(s.memberOf)
		clear(s.presentIn)
		s.mu.Unlock()
	}
}

// Stats reports the layer's counters; Groups may include groups whose memberships have all
// expired but that no GroupSend has touched since.
func (m *Memory) Stats() Stats {
	st := Stats{
		Sent:       m.sent.Load(),
		GroupSends: m.groupSends.Load(),
		Skipped:    m.skipped.Load(),
		Expired:    m.expired.Load(),
	}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		st.Channels += len(s.channels)
		st.Groups += len(s.groups)
		s.mu.RUnlock()
	}
	return st
}

// Close makes every later call fail with ErrClosed, wakes waiting Receives and frees the
// registry. Closing twice is not an error.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		close(m.done)
		m.flush()
		for i := range m.shards {
			s := &m.shards[i]
			s.mu.Lock()
			clear(s.channels)
			s.mu.Unlock()
		}
	})
	return nil
}

func (m *Memory) check(name string, valid func(string) bool) error {
	return checkName(m.closed.Load(), name, valid)
}

func (m *Memory) check2(group, channel string) error {
	return checkGroupChannel(m.closed.Load(), group, channel)
}

// addToSet and removeFromSet keep a channel's groups as a slice: a chat connection is in
// three (its room, its user and its session), and a slice of them is a fraction of the memory
// of a map per connection.
func addToSet(sets map[string][]string, key, member string) {
	if set := sets[key]; !slices.Contains(set, member) {
		sets[key] = append(set, member)
	}
}

func removeFromSet(sets map[string][]string, key, member string) {
	set := sets[key]
	if i := slices.Index(set, member); i >= 0 {
		if len(set) == 1 {
			delete(sets, key)
			return
		}
		sets[key] = slices.Delete(set, i, i+1)
	}
}
