package faults

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"chat/app/apptest"
)

// Member is one person in one room, as a browser tab keeps it: its connections one after
// another, each opened with ?since_seq=<the seq up to which it has every message>, and its
// view of the room, which is every chat.message received on any of them in the order they
// came. Like the page, it asks for what follows that seq ({"type":"catchup"}) when a gap in
// the seqs it received lasts a second. A correct server makes the view equal the room's
// stored messages: each once, in id order (or, across nodes, PageView: each at least once).
type Member struct {
	T      testing.TB
	Room   string
	client *apptest.Client

	mu      sync.Mutex
	streams []*Stream
	seq     int
	sent    []string // client ids, in the order first sent

	stop    chan struct{}
	auto    sync.WaitGroup
	filling bool // the gap filler runs
	fills   int  // catch-up requests sent
}

// NewMember makes a member of room for client; it is not connected yet.
func NewMember(t testing.TB, c *apptest.Client, room string) *Member {
	m := &Member{T: t, Room: room, client: c, stop: make(chan struct{})}
	t.Cleanup(m.Close)
	return m
}

// Move points later connections at another node (same cookie jar).
func (m *Member) Move(site *apptest.Env) {
	m.mu.Lock()
	m.client = On(m.client, site)
	m.mu.Unlock()
}

// Client is the member's current client.
func (m *Member) Client() *apptest.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.client
}

// Connect opens one connection with ?since_seq=<contiguous seq> (0 for the first) and starts
// recording it; a refused handshake is an error.
func (m *Member) Connect() error {
	m.mu.Lock()
	c := m.client
	since, _ := m.seqLocked()
	if !m.filling {
		m.filling = true
		m.auto.Add(1)
		go m.fillGaps()
	}
	m.mu.Unlock()
	s, resp, err := c.DialRoom(m.Room, "since_seq="+strconv.FormatInt(since, 10))
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return fmt.Errorf("dial %q as %s (status %d): %w", m.Room, c.Username, status, err)
	}
	st := Watch(s)
	m.mu.Lock()
	m.streams = append(m.streams, st)
	m.mu.Unlock()
	return nil
}

// seqLocked returns the seq up to which the member has every message of the room (replays'
// catchup frames vouch for numbers that were deleted) and the highest seq it received.
func (m *Member) seqLocked() (contiguous, highest int64) {
	have := map[int64]bool{}
	for _, s := range m.streams {
		for _, f := range s.Frames() {
			n, _ := f["seq"].(float64)
			switch f.Type() {
			case "chat.message":
				have[int64(n)] = true
				highest = max(highest, int64(n))
			case "catchup":
				last, _ := f["last_seq"].(float64)
				contiguous = max(contiguous, int64(last))
			}
		}
	}
	for have[contiguous+1] {
		contiguous++
	}
	return contiguous, max(highest, contiguous)
}

// fillGaps asks for what follows the contiguous seq when a gap lasts a second, as the page does.
func (m *Member) fillGaps() {
	defer m.auto.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var gapSince, asked time.Time
	gapFrom := int64(-1) // the contiguous seq the open gap follows: a gap is timed from when it opened
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		contiguous, highest := m.seqLocked()
		m.mu.Unlock()
		now := time.Now()
		if highest <= contiguous {
			gapSince, gapFrom = time.Time{}, -1
			continue
		}
		if gapFrom != contiguous {
			gapSince, gapFrom = now, contiguous
		}
		if now.Sub(gapSince) < time.Second || now.Sub(asked) < time.Second {
			continue
		}
		if cur := m.Current(); cur != nil && cur.Send(map[string]any{"type": "catchup", "since_seq": contiguous}) == nil {
			asked = now
			m.mu.Lock()
			m.fills++
			m.mu.Unlock()
		}
	}
}

// Fills is how many catch-up requests the member sent for gaps.
func (m *Member) Fills() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fills
}

// ConnectWithin retries Connect (a node restarting, Redis away) for at most d.
func (m *Member) ConnectWithin(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := m.Connect()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// MustConnect is Connect (retrying for 10 s) that fails the test.
func (m *Member) MustConnect() {
	m.T.Helper()
	if err := m.ConnectWithin(10 * time.Second); err != nil {
		m.T.Fatal(err)
	}
}

// Current is the latest connection, nil before the first.
func (m *Member) Current() *Stream {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.streams) == 0 {
		return nil
	}
	return m.streams[len(m.streams)-1]
}

// Connections is how many connections the member opened.
func (m *Member) Connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.streams)
}

// AutoReconnect reconnects (with since) whenever the current connection ends, until Close or
// StopReconnecting.
func (m *Member) AutoReconnect() {
	m.auto.Add(1)
	go func() {
		defer m.auto.Done()
		for {
			cur := m.Current()
			select {
			case <-m.stop:
				return
			case <-cur.Done():
			}
			for {
				select {
				case <-m.stop:
					return
				default:
				}
				if m.Connect() == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
}

// StopReconnecting ends AutoReconnect.
func (m *Member) StopReconnecting() {
	m.mu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	m.auto.Wait()
}

// Close stops reconnecting and closes the current connection.
func (m *Member) Close() {
	m.StopReconnecting()
	if cur := m.Current(); cur != nil {
		cur.Close()
	}
}

// NextClientID returns a fresh client id for this member.
func (m *Member) NextClientID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	return fmt.Sprintf("%s-%d", m.client.Username, m.seq)
}

// ErrNotConnected is returned by Send before the first connection or after it ended.
var ErrNotConnected = errors.New("faults: member not connected")

// Send sends text with a new client id on the current connection and returns the id. The id
// counts as sent even when writing failed: the server may have it.
func (m *Member) Send(text string) (string, error) {
	id := m.NextClientID()
	return id, m.SendID(id, text)
}

// SendID sends text with a given client id (a resend reuses the id).
func (m *Member) SendID(clientID, text string) error {
	m.mu.Lock()
	if !slices.Contains(m.sent, clientID) {
		m.sent = append(m.sent, clientID)
	}
	m.mu.Unlock()
	cur := m.Current()
	if cur == nil {
		return ErrNotConnected
	}
	if ended, _, _ := cur.Ended(); ended {
		return ErrNotConnected
	}
	return cur.Send(map[string]any{"type": "chat.message", "message": text, "client_id": clientID})
}

// Sent lists every client id sent, in order.
func (m *Member) Sent() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// View is every chat.message received, on all connections, in order of arrival.
func (m *Member) View() []apptest.Frame {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.viewLocked()
}

// PageView is the view as the page shows it: each message once, in id order. Frames may
// arrive twice when a gap's catch-up overlaps a late live copy; the page places by id.
func (m *Member) PageView() []apptest.Frame {
	seen := map[int64]bool{}
	var out []apptest.Frame
	for _, f := range m.View() {
		if !seen[f.ID()] {
			seen[f.ID()] = true
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b apptest.Frame) int { return cmp.Compare(a.ID(), b.ID()) })
	return out
}

func (m *Member) viewLocked() []apptest.Frame {
	var out []apptest.Frame
	for _, s := range m.streams {
		out = append(out, s.OfType("chat.message")...)
	}
	return out
}

// Acked maps each client id the server acknowledged to its message id.
func (m *Member) Acked() map[string]int64 {
	m.mu.Lock()
	streams := slices.Clone(m.streams)
	m.mu.Unlock()
	out := map[string]int64{}
	for _, s := range streams {
		for _, f := range s.OfType("ack") {
			out[f.Str("client_id")] = f.ID()
		}
	}
	return out
}

// Failed lists the client ids of store_failed error frames.
func (m *Member) Failed() []string {
	m.mu.Lock()
	streams := slices.Clone(m.streams)
	m.mu.Unlock()
	var out []string
	for _, s := range streams {
		for _, f := range s.OfType("error") {
			if f.Str("code") == "store_failed" {
				out = append(out, f.Str("client_id"))
			}
		}
	}
	return out
}

// WaitView waits at most d until the view holds a message with id at least id (frames can
// arrive out of id order across nodes, so this is the highest id, not the last).
func (m *Member) WaitView(d time.Duration, id int64) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if lastID(m.View()) >= id {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return lastID(m.View()) >= id
}

// LastID is the highest message id in the view (0 when empty).
func (m *Member) LastID() int64 { return lastID(m.View()) }

func lastID(view []apptest.Frame) int64 {
	var newest int64
	for _, f := range view {
		newest = max(newest, f.ID())
	}
	return newest
}

// CompareView returns an error describing how a view differs from the stored ids: missing
// messages, duplicates, or messages out of order.
func CompareView(view []apptest.Frame, stored []int64) error {
	got := IDs(view)
	if slices.Equal(got, stored) {
		return nil
	}
	seen := map[int64]int{}
	for _, id := range got {
		seen[id]++
	}
	var missing, dups []int64
	for _, id := range stored {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			dups = append(dups, id)
		}
	}
	slices.Sort(dups)
	return fmt.Errorf("view has %d messages, the database %d: missing %s, duplicated %s, order: %v",
		len(got), len(stored), short(missing), short(dups), CheckOrdered(got))
}

func short(ids []int64) string {
	if len(ids) > 20 {
		return fmt.Sprintf("%v… (%d)", ids[:20], len(ids))
	}
	return fmt.Sprint(ids)
}
