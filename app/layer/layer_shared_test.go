package layer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runLayerSuite checks the behaviour every Layer shares. newLayer makes a fresh layer with
// default options for one subtest (and closes it in t.Cleanup). The cases do not depend on
// option values: capacity is read from the mailbox, and expiry is exercised with events whose
// expiry is set before sending, which the layers keep.
func runLayerSuite(t *testing.T, newLayer func(t *testing.T) Layer) {
	cases := []struct {
		name string
		test func(t *testing.T, l Layer)
	}{
		{"SendReceive", suiteSendReceive},
		{"SendCreatesChannel", suiteSendCreatesChannel},
		{"ReceiveBlocksUntilSend", suiteReceiveBlocksUntilSend},
		{"ReceiveHonoursContext", suiteReceiveHonoursContext},
		{"ChannelFull", suiteChannelFull},
		{"MailboxMaxBytes", suiteMailboxMaxBytes},
		{"GroupSendSkipsFullMember", suiteGroupSendSkipsFullMember},
		{"GroupSendReachesAllMembers", suiteGroupSendReachesAllMembers},
		{"GroupAddBeforeChannelExists", suiteGroupAddBeforeChannelExists},
		{"GroupDiscard", suiteGroupDiscard},
		{"Expiry", suiteExpiry},
		{"InvalidNamesRejected", suiteInvalidNamesRejected},
		{"NewChannelNames", suiteNewChannelNames},
		{"CloseChannel", suiteCloseChannel},
		{"Presence", suitePresence},
		{"Flush", suiteFlush},
		{"Close", suiteClose},
		{"ConcurrentUse", suiteConcurrentUse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.test(t, newLayer(t)) })
	}
}

func newChannel(t *testing.T, l Layer) *Mailbox {
	t.Helper()
	box, err := l.NewChannel(context.Background(), "test")
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	return box
}

func event(data string) *Event {
	return &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"` + data + `"}`)}
}

// expiredEvent is an event whose expiry passed before it was sent.
func expiredEvent(data string) *Event {
	ev := event(data)
	ev.expiresAt = time.Now().Add(-time.Millisecond).UnixNano()
	return ev
}

// presenceMembers is l.Presence without the channel count.
func presenceMembers(ctx context.Context, l Layer, group string) ([]string, error) {
	members, _, err := l.Presence(ctx, group)
	return members, err
}

// pending returns the events queued in box without waiting.
func pending(box *Mailbox) []*Event {
	var out []*Event
	for {
		ev, ok := box.Poll()
		if !ok {
			return out
		}
		out = append(out, ev)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func suiteSendReceive(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	first, second := event("hello"), event("world")
	for _, ev := range []*Event{first, second} {
		if err := l.Send(ctx, box.Name, ev); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for _, want := range []*Event{first, second} {
		got, err := l.Receive(ctx, box.Name)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if got != want {
			t.Errorf("Receive = %q, want %q (in order)", got.Data, want.Data)
		}
	}
	if st := l.Stats(); st.Sent != 2 || st.Channels != 1 {
		t.Errorf("Stats = %+v, want Sent 2, Channels 1", st)
	}
}

func suiteSendCreatesChannel(t *testing.T, l Layer) {
	ctx := context.Background()
	if _, err := l.Receive(ctx, "nobody.here"); !errors.Is(err, ErrNoSuchChannel) {
		t.Fatalf("Receive on unknown channel: err = %v, want ErrNoSuchChannel", err)
	}
	ev := event("x")
	if err := l.Send(ctx, "made.on.demand", ev); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := l.Receive(ctx, "made.on.demand")
	if err != nil || got != ev {
		t.Fatalf("Receive = %v, %v; want the sent event", got, err)
	}
}

func suiteReceiveBlocksUntilSend(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	type result struct {
		ev  *Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := l.Receive(ctx, box.Name)
		done <- result{ev, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Receive returned %v, %v before anything was sent", r.ev, r.err)
	case <-time.After(10 * time.Millisecond):
	}
	ev := event("late")
	if err := l.Send(ctx, box.Name, ev); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := <-done; r.err != nil || r.ev != ev {
		t.Errorf("Receive = %v, %v; want the sent event", r.ev, r.err)
	}
}

func suiteReceiveHonoursContext(t *testing.T, l Layer) {
	box := newChannel(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Receive(ctx, box.Name)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Receive after cancel: err = %v, want context.Canceled", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Receive(short, box.Name); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive past the deadline: err = %v, want context.DeadlineExceeded", err)
	}
}

// fill sends to box until it is at capacity and returns how many it took.
func fill(t *testing.T, l Layer, box *Mailbox) int {
	t.Helper()
	n := box.Capacity() - box.Len()
	for i := range n {
		if err := l.Send(context.Background(), box.Name, event(fmt.Sprint("filler ", i))); err != nil {
			t.Fatalf("Send %d of %d: %v", i, n, err)
		}
	}
	return n
}

func suiteChannelFull(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	n := fill(t, l, box)
	if err := l.Send(ctx, box.Name, event("one too many")); !errors.Is(err, ErrChannelFull) {
		t.Errorf("Send to full channel: err = %v, want ErrChannelFull", err)
	}
	if !box.Overflowed() {
		t.Error("a direct Send that failed did not mark the mailbox overflowed")
	}
	if got := len(pending(box)); got != n {
		t.Errorf("channel holds %d events, want %d", got, n)
	}
	if st := l.Stats(); st.Sent != uint64(n) {
		t.Errorf("Stats.Sent = %d, want %d (the failed send does not count)", st.Sent, n)
	}
}

func suiteMailboxMaxBytes(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	big := &Event{Type: "t", Data: make([]byte, 60)}
	box.MaxBytes = int64(len(big.Data)) + 10
	if err := l.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Send within the byte bound: %v", err)
	}
	if err := l.Send(ctx, box.Name, big); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("Send past the byte bound: err = %v, want ErrChannelFull", err)
	}
	if _, err := l.Receive(ctx, box.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Receive did not release the event's bytes: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Flush did not release the discarded event's bytes: %v", err)
	}
}

func suiteGroupSendSkipsFullMember(t *testing.T, l Layer) {
	ctx := context.Background()
	full, free := newChannel(t, l), newChannel(t, l)
	for _, box := range []*Mailbox{full, free} {
		if err := l.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
	}
	n := fill(t, l, full)
	ev := event("to the room")
	if err := l.GroupSend(ctx, "room", ev); err != nil {
		t.Fatalf("GroupSend must not fail for a full member: %v", err)
	}
	if got := pending(free); len(got) != 1 || got[0] != ev {
		t.Errorf("free member got %v, want the group event", got)
	}
	if got := pending(full); len(got) != n || slices.Contains(got, ev) {
		t.Errorf("full member holds %d events (group event among them: %v), want only the %d earlier ones",
			len(got), slices.Contains(got, ev), n)
	}
	if !full.Overflowed() || free.Overflowed() {
		t.Errorf("Overflowed: full %v, free %v; want true, false", full.Overflowed(), free.Overflowed())
	}
	if st := l.Stats(); st.Skipped != 1 || st.Sent != uint64(n+1) || st.GroupSends != 1 {
		t.Errorf("Stats = %+v, want Skipped 1, Sent %d, GroupSends 1", st, n+1)
	}
}

func suiteGroupSendReachesAllMembers(t *testing.T, l Layer) {
	ctx := context.Background()
	var members []*Mailbox
	for range 5 {
		box := newChannel(t, l)
		if err := l.GroupAdd(ctx, "room.1", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
		members = append(members, box)
	}
	outsider := newChannel(t, l)
	ev := event("hi all")
	if err := l.GroupSend(ctx, "room.1", ev); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	for i, box := range members {
		got, err := l.Receive(ctx, box.Name)
		if err != nil || got != ev {
			t.Errorf("member %d: Receive = %v, %v; want the shared event", i, got, err)
		}
	}
	time.Sleep(20 * time.Millisecond) // a duplicate coming back through a broker would land now
	for i, box := range members {
		if got := len(pending(box)); got != 0 {
			t.Errorf("member %d got %d more events, want the group event exactly once", i, got)
		}
	}
	if got := len(pending(outsider)); got != 0 {
		t.Errorf("non-member received %d events", got)
	}
	if st := l.Stats(); st.Sent != 5 || st.Groups != 1 {
		t.Errorf("Stats = %+v, want Sent 5, Groups 1", st)
	}
	if err := l.GroupSend(ctx, "empty.room", event("void")); err != nil {
		t.Errorf("GroupSend to a group with no members: %v", err)
	}
}

func suiteGroupAddBeforeChannelExists(t *testing.T, l Layer) {
	ctx := context.Background()
	if err := l.GroupAdd(ctx, "room", "later.channel"); err != nil {
		t.Fatalf("GroupAdd of a channel not made yet: %v", err)
	}
	ev := event("for later")
	if err := l.GroupSend(ctx, "room", ev); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	got, err := l.Receive(ctx, "later.channel")
	if err != nil || got != ev {
		t.Errorf("Receive = %v, %v; want the group event in the channel GroupSend created", got, err)
	}
}

func suiteGroupDiscard(t *testing.T, l Layer) {
	ctx := context.Background()
	stay, leave := newChannel(t, l), newChannel(t, l)
	for _, box := range []*Mailbox{stay, leave} {
		if err := l.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
	}
	if err := l.GroupDiscard(ctx, "room", leave.Name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if err := l.GroupDiscard(ctx, "room", leave.Name); err != nil {
		t.Errorf("discarding again: %v", err)
	}
	if err := l.GroupDiscard(ctx, "never.joined", stay.Name); err != nil {
		t.Errorf("discarding from a group it never joined: %v", err)
	}
	if err := l.GroupSend(ctx, "room", event("after")); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	if got := len(pending(stay)); got != 1 {
		t.Errorf("remaining member got %d events, want 1", got)
	}
	if got := len(pending(leave)); got != 0 {
		t.Errorf("discarded member got %d events, want 0", got)
	}
	if err := l.GroupDiscard(ctx, "room", stay.Name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if st := l.Stats(); st.Groups != 0 {
		t.Errorf("Stats.Groups = %d after the last member left, want 0", st.Groups)
	}
}

func suiteExpiry(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	if err := l.GroupAdd(ctx, "room", box.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, box.Name, expiredEvent("old direct")); err != nil {
		t.Fatal(err)
	}
	if err := l.GroupSend(ctx, "room", expiredEvent("old group")); err != nil {
		t.Fatal(err)
	}
	fresh := event("fresh")
	before := time.Now()
	if err := l.Send(ctx, box.Name, fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.Expired(before) || !fresh.Expired(before.Add(365*24*time.Hour)) {
		t.Errorf("Send gave the event no expiry in the future (expiresAt %d)", fresh.expiresAt)
	}
	got, err := l.Receive(ctx, box.Name)
	if err != nil || got != fresh {
		t.Fatalf("Receive = %v, %v; want the fresh event past the expired ones", got, err)
	}
	if st := l.Stats(); st.Expired != 2 {
		t.Errorf("Stats.Expired = %d, want 2", st.Expired)
	}
}

func suiteInvalidNamesRejected(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	const badGroup, badChannel = "bad group", "bad!chan!nel"
	calls := map[string]func() error{
		"NewChannel": func() error { _, err := l.NewChannel(ctx, "bad!prefix"); return err },
		"NewChannel long": func() error {
			_, err := l.NewChannel(ctx, strings.Repeat("p", 80))
			return err
		},
		"CloseChannel":           func() error { return l.CloseChannel(ctx, badChannel) },
		"Send":                   func() error { return l.Send(ctx, badChannel, event("x")) },
		"Receive":                func() error { _, err := l.Receive(ctx, badChannel); return err },
		"GroupAdd group":         func() error { return l.GroupAdd(ctx, badGroup, box.Name) },
		"GroupAdd channel":       func() error { return l.GroupAdd(ctx, "room", badChannel) },
		"GroupDiscard group":     func() error { return l.GroupDiscard(ctx, badGroup, box.Name) },
		"GroupDiscard channel":   func() error { return l.GroupDiscard(ctx, "room", badChannel) },
		"GroupSend":              func() error { return l.GroupSend(ctx, "room!x", event("x")) },
		"PresenceAdd group":      func() error { return l.PresenceAdd(ctx, badGroup, box.Name, "ann") },
		"PresenceAdd channel":    func() error { return l.PresenceAdd(ctx, "room", badChannel, "ann") },
		"PresenceRemove group":   func() error { return l.PresenceRemove(ctx, badGroup, box.Name) },
		"PresenceRemove channel": func() error { return l.PresenceRemove(ctx, "room", badChannel) },
		"Presence":               func() error { _, _, err := l.Presence(ctx, badGroup); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%s: err = %v, want ErrInvalidName", name, err)
		}
	}
	if st := l.Stats(); st.Channels != 1 || st.Groups != 0 || st.Sent != 0 || st.GroupSends != 0 {
		t.Errorf("invalid calls changed state: %+v", st)
	}
}

func suiteNewChannelNames(t *testing.T, l Layer) {
	ctx := context.Background()
	const n = 1000
	seen := make(map[string]bool, n)
	var node string
	for range n {
		box, err := l.NewChannel(ctx, "specific")
		if err != nil {
			t.Fatalf("NewChannel: %v", err)
		}
		name := box.Name
		if seen[name] {
			t.Fatalf("duplicate channel name %q", name)
		}
		seen[name] = true
		if !ValidChannelName(name) {
			t.Fatalf("NewChannel made invalid name %q", name)
		}
		local, random, ok := strings.Cut(name, "!")
		prefix, id, _ := strings.Cut(local, ".")
		if !ok || prefix != "specific" || id == "" || len(random) < 12 {
			t.Fatalf("name %q does not look like specific.<node>!<12+ random chars>", name)
		}
		if node == "" {
			node = id
		} else if id != node {
			t.Fatalf("node id changed from %q to %q between channels", node, id)
		}
	}
	if st := l.Stats(); st.Channels != n {
		t.Errorf("Stats.Channels = %d, want %d", st.Channels, n)
	}
}

func suiteCloseChannel(t *testing.T, l Layer) {
	ctx := context.Background()
	gone, kept := newChannel(t, l), newChannel(t, l)
	for _, g := range []string{"room.a", "room.b"} {
		for _, box := range []*Mailbox{gone, kept} {
			if err := l.GroupAdd(ctx, g, box.Name); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.PresenceAdd(ctx, g, gone.Name, "ann"); err != nil {
			t.Fatal(err)
		}
		if err := l.PresenceAdd(ctx, g, kept.Name, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.GroupAdd(ctx, "room.solo", gone.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.CloseChannel(ctx, gone.Name); err != nil {
		t.Fatalf("CloseChannel: %v", err)
	}
	if err := l.CloseChannel(ctx, gone.Name); err != nil {
		t.Errorf("closing twice: %v", err)
	}
	if _, err := l.Receive(ctx, gone.Name); !errors.Is(err, ErrNoSuchChannel) {
		t.Errorf("Receive on closed channel: err = %v, want ErrNoSuchChannel", err)
	}
	for _, g := range []string{"room.a", "room.b", "room.solo"} {
		if err := l.GroupSend(ctx, g, event(g)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(pending(gone)); got != 0 {
		t.Errorf("closed channel got %d group events, want 0", got)
	}
	if got := len(pending(kept)); got != 2 {
		t.Errorf("remaining member got %d group events, want 2", got)
	}
	counts, err := l.PresenceCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"room.a": 1, "room.b": 1}; !mapsEqual(counts, want) {
		t.Errorf("PresenceCounts = %v, want %v", counts, want)
	}
	if members, err := presenceMembers(ctx, l, "room.a"); err != nil || !slices.Equal(members, []string{"bob"}) {
		t.Errorf("Presence(room.a) = %v, %v; want [bob]", members, err)
	}
	if st := l.Stats(); st.Channels != 1 || st.Groups != 2 {
		t.Errorf("Stats = %+v, want Channels 1, Groups 2 (room.solo emptied)", st)
	}
}

func suitePresence(t *testing.T, l Layer) {
	ctx := context.Background()
	annTabs := []*Mailbox{newChannel(t, l), newChannel(t, l), newChannel(t, l)}
	bob := newChannel(t, l)
	for _, box := range annTabs {
		if err := l.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.PresenceAdd(ctx, "room", annTabs[0].Name, "ann"); err != nil {
		t.Errorf("re-adding the same presence: %v", err)
	}
	if err := l.PresenceAdd(ctx, "room", bob.Name, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := l.PresenceAdd(ctx, "lobby", bob.Name, "bob"); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name         string
		do           func() error
		wantMembers  []string
		wantChannels int // in "room"
		wantCounts   map[string]int
	}{
		{"three tabs count once", func() error { return nil },
			[]string{"ann", "bob"}, 4, map[string]int{"room": 2, "lobby": 1}},
		{"one tab of three leaves", func() error { return l.PresenceRemove(ctx, "room", annTabs[0].Name) },
			[]string{"ann", "bob"}, 3, map[string]int{"room": 2, "lobby": 1}},
		{"removing an absent one", func() error { return l.PresenceRemove(ctx, "room", annTabs[0].Name) },
			[]string{"ann", "bob"}, 3, map[string]int{"room": 2, "lobby": 1}},
		{"last tabs leave", func() error {
			if err := l.PresenceRemove(ctx, "room", annTabs[1].Name); err != nil {
				return err
			}
			return l.PresenceRemove(ctx, "room", annTabs[2].Name)
		}, []string{"bob"}, 1, map[string]int{"room": 1, "lobby": 1}},
		{"channel changes member", func() error { return l.PresenceAdd(ctx, "room", bob.Name, "carol") },
			[]string{"carol"}, 1, map[string]int{"room": 1, "lobby": 1}},
		{"group empties", func() error { return l.PresenceRemove(ctx, "room", bob.Name) },
			[]string{}, 0, map[string]int{"lobby": 1}},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		members, err := presenceMembers(ctx, l, "room")
		if err != nil || members == nil || !slices.Equal(members, step.wantMembers) {
			t.Errorf("%s: Presence members = %#v, %v; want %#v", step.name, members, err, step.wantMembers)
		}
		members, channels, err := l.Presence(ctx, "room")
		if err != nil || !slices.Equal(members, step.wantMembers) || channels != step.wantChannels {
			t.Errorf("%s: Presence = %#v, %d, %v; want %#v, %d", step.name, members, channels, err, step.wantMembers, step.wantChannels)
		}
		counts, err := l.PresenceCounts(ctx)
		if err != nil || !mapsEqual(counts, step.wantCounts) {
			t.Errorf("%s: PresenceCounts = %v, %v; want %v", step.name, counts, err, step.wantCounts)
		}
	}
}

func suiteFlush(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	if err := l.GroupAdd(ctx, "room", box.Name); err != nil {
		t.Fatal(err)
	}
	if err := l.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, box.Name, event("queued")); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := box.Len(); got != 0 {
		t.Errorf("%d events still queued after Flush", got)
	}
	if err := l.GroupSend(ctx, "room", event("after flush")); err != nil {
		t.Fatal(err)
	}
	if got := box.Len(); got != 0 {
		t.Errorf("group membership survived Flush: %d events delivered", got)
	}
	if counts, _ := l.PresenceCounts(ctx); len(counts) != 0 {
		t.Errorf("PresenceCounts after Flush = %v, want empty", counts)
	}
	if members, _ := presenceMembers(ctx, l, "room"); len(members) != 0 {
		t.Errorf("Presence after Flush = %v, want empty", members)
	}
	if st := l.Stats(); st.Groups != 0 {
		t.Errorf("Stats.Groups after Flush = %d, want 0", st.Groups)
	}
	ev := event("still works")
	if err := l.Send(ctx, box.Name, ev); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Receive(ctx, box.Name); err != nil || got != ev {
		t.Errorf("a live mailbox stopped working after Flush: %v, %v", got, err)
	}
}

func suiteClose(t *testing.T, l Layer) {
	ctx := context.Background()
	box := newChannel(t, l)
	waiting := make(chan error, 1)
	go func() {
		_, err := l.Receive(ctx, box.Name)
		waiting <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("a Receive waiting at Close: err = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"NewChannel":     func() error { _, err := l.NewChannel(ctx, "x"); return err },
		"CloseChannel":   func() error { return l.CloseChannel(ctx, box.Name) },
		"Send":           func() error { return l.Send(ctx, box.Name, event("x")) },
		"Receive":        func() error { _, err := l.Receive(ctx, box.Name); return err },
		"GroupAdd":       func() error { return l.GroupAdd(ctx, "room", box.Name) },
		"GroupDiscard":   func() error { return l.GroupDiscard(ctx, "room", box.Name) },
		"GroupSend":      func() error { return l.GroupSend(ctx, "room", event("x")) },
		"PresenceAdd":    func() error { return l.PresenceAdd(ctx, "room", box.Name, "ann") },
		"PresenceRemove": func() error { return l.PresenceRemove(ctx, "room", box.Name) },
		"Presence":       func() error { _, _, err := l.Presence(ctx, "room"); return err },
		"PresenceCounts": func() error { _, err := l.PresenceCounts(ctx); return err },
		"Flush":          func() error { return l.Flush(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if st := l.Stats(); st.Channels != 0 {
		t.Errorf("Stats.Channels after Close = %d, want 0", st.Channels)
	}
}

// suiteConcurrentUse runs every operation at once (meant for -race) and then checks that
// each event that went into a mailbox came out of it exactly once and the registry is empty.
func suiteConcurrentUse(t *testing.T, l Layer) {
	ctx := context.Background()
	const workers, rounds = 32, 200
	groups := []string{"room.0", "room.1", "room.2", "room.3"}

	var wg sync.WaitGroup
	boxes := make([]*Mailbox, workers)
	temps := make([][]*Mailbox, workers)
	received := make([]int, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			box, err := l.NewChannel(ctx, "worker")
			if err != nil {
				errs <- err
				return
			}
			boxes[w] = box
			seen := make(map[*Event]bool)
			receiveQueued := func() error {
				for box.Len() > 0 { // only this goroutine receives, so Receive cannot block
					ev, err := l.Receive(ctx, box.Name)
					if err != nil {
						return err
					}
					if seen[ev] {
						return fmt.Errorf("worker %d received %q twice", w, ev.Data)
					}
					seen[ev] = true
					received[w]++
				}
				return nil
			}
			for r := range rounds {
				g := groups[(w+r)%len(groups)]
				steps := []error{
					l.GroupAdd(ctx, g, box.Name),
					l.PresenceAdd(ctx, g, box.Name, fmt.Sprint("user", w%5)),
					l.GroupSend(ctx, groups[r%len(groups)], event(fmt.Sprint(w, "/", r))),
					receiveQueued(),
				}
				if r%3 == 0 {
					steps = append(steps, l.GroupDiscard(ctx, g, box.Name), l.PresenceRemove(ctx, g, box.Name))
				}
				if r%50 == 0 { // churn: short-lived channels joining and leaving
					tmp, err := l.NewChannel(ctx, "tmp")
					steps = append(steps, err)
					if err == nil {
						temps[w] = append(temps[w], tmp)
						steps = append(steps, l.GroupAdd(ctx, g, tmp.Name), l.CloseChannel(ctx, tmp.Name))
					}
				}
				if err := errors.Join(steps...); err != nil {
					errs <- err
					return
				}
			}
			errs <- errors.Join(receiveQueued(), l.CloseChannel(ctx, box.Name))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	var total uint64
	for w, box := range boxes {
		// Sends that copied the mailbox just before CloseChannel may still land in it.
		total += uint64(received[w] + len(pending(box)))
		for _, tmp := range temps[w] {
			total += uint64(len(pending(tmp)))
		}
	}
	st := l.Stats()
	if st.Sent != total {
		t.Errorf("Stats.Sent = %d, but mailboxes took %d events", st.Sent, total)
	}
	if st.GroupSends != workers*rounds {
		t.Errorf("Stats.GroupSends = %d, want %d", st.GroupSends, workers*rounds)
	}
	if st.Sent == 0 {
		t.Error("no event was delivered; the test exercised nothing")
	}
	if st.Channels != 0 || st.Groups != 0 {
		t.Errorf("after every channel closed Stats = %+v, want no channels or groups", st)
	}
	if counts, err := l.PresenceCounts(ctx); err != nil || len(counts) != 0 {
		t.Errorf("PresenceCounts after every channel closed = %v, %v", counts, err)
	}
}

// expiryOption is the Expiry a layer given to checkExpiryOption must have.
const expiryOption = 20 * time.Millisecond

// checkExpiryOption checks that a layer made with Expiry expiryOption stamps events sent
// directly or to a group with that expiry, and drops them once it passed.
func checkExpiryOption(t *testing.T, m Layer) {
	ctx := context.Background()
	box := newChannel(t, m)
	if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, box.Name, event("old direct")); err != nil {
		t.Fatal(err)
	}
	if err := m.GroupSend(ctx, "room", event("old group")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * expiryOption) // let both events pass their expiry
	fresh := event("fresh")
	if err := m.Send(ctx, box.Name, fresh); err != nil {
		t.Fatal(err)
	}
	got, err := m.Receive(ctx, box.Name)
	if err != nil || got != fresh {
		t.Fatalf("Receive = %v, %v; want the fresh event past the expired ones", got, err)
	}
	if st := m.Stats(); st.Expired != 2 {
		t.Errorf("Stats.Expired = %d, want 2", st.Expired)
	}
}
