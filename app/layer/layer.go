// Package layer is the channel layer of the Channels model: named channels that receive events,
// and groups of channels that an event can be sent to at once. The in-process implementation
// (Memory) serves one node; a Redis-backed one carries the same interface across nodes.
//
// The layer knows nothing of chat: an Event is a type plus opaque JSON bytes.
package layer

import (
	"context"
	"errors"
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
	// PresenceMembers lists the distinct members present in group, sorted.
	PresenceMembers(ctx context.Context, group string) ([]string, error)
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

// Mailbox is the receiving end of a channel that lives on this node. The connection's writer
// goroutine selects on C directly, so receiving costs no extra goroutine per connection.
type Mailbox struct {
	// Name is the channel's unique name.
	Name string
	// C carries the channel's events, bounded by the layer's capacity. The layer never closes
	// C: a sender could still hold it, and a send on a closed channel panics.
	C chan *Event

	// OnOverflow, when set, runs once, on the sender's goroutine, when the first event is
	// dropped, and from then on the mailbox takes nothing; it must not block. The websocket
	// runtime uses it to close a client that cannot keep up.
	OnOverflow func()

	// MaxBytes, when above zero, also bounds the bytes of event data waiting in C, so a slow
	// client's backlog is limited in memory, not only in count. Set it before first use.
	MaxBytes int64

	bytes      atomic.Int64
	overflowed atomic.Bool
}

// NewMailbox makes a mailbox holding at most capacity events. Layers use it; consumers get
// mailboxes from NewChannel.
func NewMailbox(name string, capacity int) *Mailbox {
	return &Mailbox{Name: name, C: make(chan *Event, capacity)}
}

// Offer puts ev in the mailbox without waiting; false (and the mailbox marked overflowed)
// when it is full in events or in bytes.
func (m *Mailbox) Offer(ev *Event) bool {
	// A mailbox whose owner closes on overflow takes nothing after the first drop: the
	// receiver then holds an unbroken prefix of the stream, and catching up from its last id
	// loses nothing. Other mailboxes take events again once there is room (Channels' rule).
	if m.OnOverflow != nil && m.overflowed.Load() {
		return false
	}
	n := int64(len(ev.Data))
	if m.MaxBytes > 0 && m.bytes.Add(n) > m.MaxBytes {
		m.bytes.Add(-n)
		m.overflow()
		return false
	}
	select {
	case m.C <- ev:
		return true
	default:
		m.bytes.Add(-n)
		m.overflow()
		return false
	}
}

// overflow marks the mailbox and, the first time, tells its owner.
func (m *Mailbox) overflow() {
	if m.overflowed.CompareAndSwap(false, true) && m.OnOverflow != nil {
		m.OnOverflow()
	}
}

// Taken must be called by whoever receives ev from C, to release its bytes.
func (m *Mailbox) Taken(ev *Event) { m.bytes.Add(-int64(len(ev.Data))) }

// Expired reports whether ev waited past the expiry the layer gave it.
func (ev *Event) Expired(now time.Time) bool {
	return ev.expiresAt != 0 && now.UnixNano() > ev.expiresAt
}

// Overflowed reports whether an event was ever dropped because the mailbox was full. A
// consumer that sees it has missed events and should close (1013) so its client catches up.
func (m *Mailbox) Overflowed() bool { return m.overflowed.Load() }
