// Package layer is the channel layer of the Channels model: named channels that receive events,
// and groups of channels that an event can be sent to at once. The in-process implementation
// (Memory) serves one node; a Redis-backed one carries the same interface across nodes.
//
// The layer knows nothing of chat: an Event is a type plus opaque JSON bytes.
package layer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one message on the layer. Data is the whole event encoded as a JSON object that
// carries "type" too, so a consumer can forward Data to a websocket unchanged: a group send
// encodes once and every member shares the same *Event, which must not be modified after Send.
type Event struct {
	Type string
	Data []byte
	// Seq is an optional ordering key (a message id, say) that lets a consumer drop an event
	// it already sent some other way; zero when unused.
	Seq int64

	// expiresAt is set by the layer when the event is sent (unix nanoseconds); Receive drops
	// an event that waited past it, as channels_redis expires messages.
	expiresAt int64

	// prepared is Data in a transport's wire form, built once for every receiver (Prepared).
	prepared atomic.Pointer[[]byte]
}

// Prepared returns Data in a transport's wire form (a websocket frame, say), built by build
// on first use and shared by every receiver after: a group send to 10,000 members encodes
// its frame once. build must not keep or change Data; one transport uses it per event.
func (ev *Event) Prepared(build func(data []byte) []byte) []byte {
	if p := ev.prepared.Load(); p != nil {
		return *p
	}
	b := build(ev.Data)
	if !ev.prepared.CompareAndSwap(nil, &b) {
		return *ev.prepared.Load()
	}
	return b
}

// Layer is the channel layer interface (Channels' BaseChannelLayer, in Go).
type Layer interface {
	// NewChannel makes a channel with a unique name starting with prefix and returns its local
	// mailbox. The mailbox lives on this node until CloseChannel.
	NewChannel(ctx context.Context, prefix string) (*Mailbox, error)
	// CloseChannel removes a channel made by NewChannel and discards it from every group.
	CloseChannel(ctx context.Context, channel string) error
	// Send puts ev on the named channel; ErrChannelFull when it is at capacity.
	Send(ctx context.Context, channel string, ev *Event) error
	// Receive waits for the next event on a channel made by NewChannel on this node.
	Receive(ctx context.Context, channel string) (*Event, error)
	// GroupAdd adds channel to group.
	GroupAdd(ctx context.Context, group, channel string) error
	// GroupDiscard removes channel from group; discarding a non-member is not an error.
	GroupDiscard(ctx context.Context, group, channel string) error
	// GroupSend delivers ev to every member of group. It never waits on a slow member: a full
	// member is skipped, counted in Stats and marked on its Mailbox (see Mailbox.Overflowed).
	GroupSend(ctx context.Context, group string, ev *Event) error
	// PresenceAdd records that channel, held by member (a user name), is present in group.
	// Presence is kept per channel so a person with three tabs is one member with three entries.
	PresenceAdd(ctx context.Context, group, channel, member string) error
	// PresenceRemove forgets channel's presence in group.
	PresenceRemove(ctx context.Context, group, channel string) error
	// Presence lists the distinct members present in group, sorted, and how many channels
	// (connections) they hold there in all: the number a presence announcement reaches.
	Presence(ctx context.Context, group string) (members []string, channels int, err error)
	// PresenceCounts reports, for every group with anyone present, how many distinct members.
	PresenceCounts(ctx context.Context) (map[string]int, error)
	// Flush empties every channel and group (tests and the check command use it).
	Flush(ctx context.Context) error
	// Stats reports counters for monitoring.
	Stats() Stats
	// Close releases the layer's resources.
	Close() error
}

// Stats are a layer's counters since start.
type Stats struct {
	Sent       uint64 // events put on a channel (each group member counts once)
	GroupSends uint64 // GroupSend calls
	Skipped    uint64 // group deliveries skipped because the member was full
	Expired    uint64 // events dropped because they waited longer than the expiry
	Channels   int    // channels alive now
	Groups     int    // groups with at least one member now
}

// Errors returned by layers.
var (
	ErrChannelFull   = errors.New("layer: channel is full")
	ErrInvalidName   = errors.New("layer: invalid channel or group name")
	ErrNoSuchChannel = errors.New("layer: no such channel on this node")
	ErrClosed        = errors.New("layer: closed")
)

// Mailbox is the receiving end of a channel that lives on this node: a bounded queue of
// events with one receiver. The websocket runtime has no goroutine waiting on it; Notify
// starts its writer when an event arrives, so an idle connection costs no goroutine for
// receiving.
type Mailbox struct {
	// Name is the channel's unique name.
	Name string

	// OnOverflow, when set, runs once, on the sender's goroutine, when the first event is
	// dropped, and from then on the mailbox takes nothing; it must not block. The websocket
	// runtime uses it to close a client that cannot keep up.
	OnOverflow func()

	// Notify, when set, runs on the sender's goroutine after every event Offer queued; it must
	// not block. Set it before first use.
	Notify func()

	// MaxBytes, when above zero, also bounds the bytes of event data waiting, so a slow
	// client's backlog is limited in memory, not only in count. Set it before first use.
	MaxBytes int64

	capacity int
	mu       sync.Mutex
	events   []*Event // waiting from head on; a drained mailbox keeps at most a small array
	head     int
	bytes    int64
	ready    chan struct{} // a token after each Offer, once a receiver asked for it (Ready, Next)

	overflowed atomic.Bool
	told       atomic.Bool // OnOverflow ran
}

// NewMailbox makes a mailbox holding at most capacity events. Layers use it; consumers get
// mailboxes from NewChannel.
func NewMailbox(name string, capacity int) *Mailbox {
	return &Mailbox{Name: name, capacity: max(capacity, 1)}
}

// Offer puts ev in the mailbox without waiting; false (and the mailbox marked overflowed)
// when it is full in events or in bytes.
func (m *Mailbox) Offer(ev *Event) bool {
	// A mailbox whose owner closes on overflow takes nothing after the first drop: the
	// receiver then holds an unbroken prefix of the stream, and catching up from its last id
	// loses nothing. Other mailboxes take events again once there is room (Channels' rule).
	n := int64(len(ev.Data))
	m.mu.Lock()
	// Checked under the lock: a sender that passed it cannot append after another's drop.
	if m.OnOverflow != nil && m.overflowed.Load() {
		m.mu.Unlock()
		return false
	}
	if len(m.events)-m.head >= m.capacity || (m.MaxBytes > 0 && m.bytes+n > m.MaxBytes) {
		m.mu.Unlock()
		m.overflow()
		return false
	}
	if m.head > 0 && len(m.events) == cap(m.events) {
		// Full array with taken events in front: move the waiting ones down rather than grow,
		// so a mailbox that never quite empties stays within its capacity.
		k := copy(m.events, m.events[m.head:])
		clear(m.events[k:])
		m.events, m.head = m.events[:k], 0
	}
	m.events = append(m.events, ev)
	m.bytes += n
	ready := m.ready
	m.mu.Unlock()
	if ready != nil {
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	if m.Notify != nil {
		m.Notify()
	}
	return true
}

// overflow marks the mailbox as having missed events (a dropped event, or a layer that knows
// some were lost) and, the first time, tells its owner. The mark is set under the lock, so no
// Offer that checked before it can append after it.
func (m *Mailbox) overflow() {
	m.mu.Lock()
	m.overflowed.Store(true)
	m.mu.Unlock()
	if m.OnOverflow != nil && m.told.CompareAndSwap(false, true) {
		m.OnOverflow()
	}
}

// Poll takes the oldest waiting event without waiting; false when there is none.
func (m *Mailbox) Poll() (*Event, bool) {
	var one [1]*Event
	if got := m.PollAppend(one[:0], 1); len(got) == 1 {
		return got[0], true
	}
	return nil, false
}

// PollAppend takes up to max waiting events, oldest first, without waiting, and appends them
// to dst: one lock for a writer's whole round rather than one per event and one more to
// find the mailbox empty.
func (m *Mailbox) PollAppend(dst []*Event, max int) []*Event {
	if max <= 0 {
		return dst
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	end := m.head + min(max, len(m.events)-m.head)
	for i := m.head; i < end; i++ {
		ev := m.events[i]
		m.events[i] = nil
		m.bytes -= int64(len(ev.Data))
		dst = append(dst, ev)
	}
	m.head = end
	m.drained()
	return dst
}

// drained resets an emptied queue: a small array is reused, a burst's big one is let go.
// The caller holds mu.
func (m *Mailbox) drained() {
	if m.head != len(m.events) {
		return
	}
	if cap(m.events) > 64 {
		m.events = nil
	} else {
		m.events = m.events[:0]
	}
	m.head = 0
}

// Next waits for the oldest event, or for ctx to end.
func (m *Mailbox) Next(ctx context.Context) (*Event, error) {
	for {
		if ev, ok := m.Poll(); ok {
			return ev, nil
		}
		select {
		case <-m.Ready():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Ready has a token after an Offer: a receiver that found the mailbox empty waits on it, then
// polls again (a token may be stale; Poll then finds nothing and the receiver waits again).
// The channel is made on first use, with a token if events wait (an Offer before it had none
// to give): a connection's mailbox is drained by its writer when Notify starts it, and needs
// no channel.
func (m *Mailbox) Ready() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready == nil {
		m.ready = make(chan struct{}, 1)
		if m.head < len(m.events) {
			m.ready <- struct{}{}
		}
	}
	return m.ready
}

// Len reports how many events are waiting.
func (m *Mailbox) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events) - m.head
}

// Capacity reports how many events the mailbox holds at most.
func (m *Mailbox) Capacity() int { return m.capacity }

// Drain discards every waiting event.
func (m *Mailbox) Drain() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.events)
	m.events, m.head, m.bytes = nil, 0, 0
}

// Expired reports whether ev waited past the expiry the layer gave it.
func (ev *Event) Expired(now time.Time) bool {
	return ev.expiresAt != 0 && now.UnixNano() > ev.expiresAt
}

// Overflowed reports whether an event was ever dropped because the mailbox was full. A
// consumer that sees it has missed events and should close (1013) so its client catches up.
func (m *Mailbox) Overflowed() bool { return m.overflowed.Load() }
