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

func newTestLayer(t *testing.T, opts MemoryOptions) *Memory {
	t.Helper()
	m := NewMemory(opts)
	t.Cleanup(func() { m.Close() })
	return m
}

func newChannel(t *testing.T, m *Memory) *Mailbox {
	t.Helper()
	box, err := m.NewChannel(context.Background(), "test")
	if err != nil {
		t.Fatalf("NewChannel: %v", err)
	}
	return box
}

func event(data string) *Event {
	return &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"` + data + `"}`)}
}

// pending returns the events queued in box without waiting.
func pending(box *Mailbox) []*Event {
	var out []*Event
	for {
		select {
		case ev := <-box.C:
			box.Taken(ev)
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestDefaults(t *testing.T) {
	o := MemoryOptions{}.withDefaults()
	if o.Capacity != 100 || o.Expiry != time.Minute || o.GroupExpiry != 24*time.Hour {
		t.Errorf("defaults = %+v", o)
	}
	if len(o.Prefix) != 8 || !ValidGroupName(o.Prefix) {
		t.Errorf("default prefix %q is not an 8-character valid name", o.Prefix)
	}
	kept := MemoryOptions{Capacity: 3, Expiry: time.Second, GroupExpiry: time.Hour, Prefix: "n1"}
	if got := kept.withDefaults(); got != kept {
		t.Errorf("withDefaults changed set fields: %+v", got)
	}
}

func TestSendReceive(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	first, second := event("hello"), event("world")
	for _, ev := range []*Event{first, second} {
		if err := m.Send(ctx, box.Name, ev); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	for _, want := range []*Event{first, second} {
		got, err := m.Receive(ctx, box.Name)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if got != want {
			t.Errorf("Receive = %q, want %q (in order)", got.Data, want.Data)
		}
	}
	if st := m.Stats(); st.Sent != 2 || st.Channels != 1 {
		t.Errorf("Stats = %+v, want Sent 2, Channels 1", st)
	}
}

func TestSendCreatesChannel(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	if _, err := m.Receive(ctx, "nobody.here"); !errors.Is(err, ErrNoSuchChannel) {
		t.Fatalf("Receive on unknown channel: err = %v, want ErrNoSuchChannel", err)
	}
	ev := event("x")
	if err := m.Send(ctx, "made.on.demand", ev); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := m.Receive(ctx, "made.on.demand")
	if err != nil || got != ev {
		t.Fatalf("Receive = %v, %v; want the sent event", got, err)
	}
}

func TestReceiveBlocksUntilSend(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	type result struct {
		ev  *Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ev, err := m.Receive(ctx, box.Name)
		done <- result{ev, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("Receive returned %v, %v before anything was sent", r.ev, r.err)
	default:
	}
	ev := event("late")
	if err := m.Send(ctx, box.Name, ev); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := <-done; r.err != nil || r.ev != ev {
		t.Errorf("Receive = %v, %v; want the sent event", r.ev, r.err)
	}
}

func TestReceiveHonoursContext(t *testing.T) {
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Receive(ctx, box.Name)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Receive after cancel: err = %v, want context.Canceled", err)
	}
}

func TestChannelFull(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{Capacity: 2})
	box := newChannel(t, m)
	for i := range 2 {
		if err := m.Send(ctx, box.Name, event(fmt.Sprint(i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := m.Send(ctx, box.Name, event("one too many")); !errors.Is(err, ErrChannelFull) {
		t.Errorf("Send to full channel: err = %v, want ErrChannelFull", err)
	}
	if !box.Overflowed() {
		t.Error("a direct Send that failed did not mark the mailbox overflowed")
	}
	if got := len(pending(box)); got != 2 {
		t.Errorf("channel holds %d events, want 2", got)
	}
}

func TestMailboxMaxBytes(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	big := &Event{Type: "t", Data: make([]byte, 60)}
	box.MaxBytes = int64(len(big.Data)) + 10
	if err := m.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Send within the byte bound: %v", err)
	}
	if err := m.Send(ctx, box.Name, big); !errors.Is(err, ErrChannelFull) {
		t.Fatalf("Send past the byte bound: err = %v, want ErrChannelFull", err)
	}
	if _, err := m.Receive(ctx, box.Name); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Receive did not release the event's bytes: %v", err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, box.Name, big); err != nil {
		t.Fatalf("Flush did not release the discarded event's bytes: %v", err)
	}
}

func TestGroupSendSkipsFullMember(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{Capacity: 1})
	full, free := newChannel(t, m), newChannel(t, m)
	for _, box := range []*Mailbox{full, free} {
		if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
	}
	blocker := event("blocker")
	if err := m.Send(ctx, full.Name, blocker); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ev := event("to the room")
	if err := m.GroupSend(ctx, "room", ev); err != nil {
		t.Fatalf("GroupSend must not fail for a full member: %v", err)
	}
	if got := pending(free); len(got) != 1 || got[0] != ev {
		t.Errorf("free member got %v, want the group event", got)
	}
	if got := pending(full); len(got) != 1 || got[0] != blocker {
		t.Errorf("full member holds %v, want only the earlier event", got)
	}
	if !full.Overflowed() || free.Overflowed() {
		t.Errorf("Overflowed: full %v, free %v; want true, false", full.Overflowed(), free.Overflowed())
	}
	if st := m.Stats(); st.Skipped != 1 || st.Sent != 2 || st.GroupSends != 1 {
		t.Errorf("Stats = %+v, want Skipped 1, Sent 2, GroupSends 1", st)
	}
}

func TestGroupSendReachesAllMembers(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	var members []*Mailbox
	for range 5 {
		box := newChannel(t, m)
		if err := m.GroupAdd(ctx, "room.1", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
		members = append(members, box)
	}
	outsider := newChannel(t, m)
	ev := event("hi all")
	if err := m.GroupSend(ctx, "room.1", ev); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	for i, box := range members {
		got, err := m.Receive(ctx, box.Name)
		if err != nil || got != ev {
			t.Errorf("member %d: Receive = %v, %v; want the shared event", i, got, err)
		}
	}
	if got := pending(outsider); len(got) != 0 {
		t.Errorf("non-member received %d events", len(got))
	}
	if st := m.Stats(); st.Sent != 5 || st.Groups != 1 {
		t.Errorf("Stats = %+v, want Sent 5, Groups 1", st)
	}
	if err := m.GroupSend(ctx, "empty.room", event("void")); err != nil {
		t.Errorf("GroupSend to a group with no members: %v", err)
	}
}

func TestGroupAddBeforeChannelExists(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	if err := m.GroupAdd(ctx, "room", "later.channel"); err != nil {
		t.Fatalf("GroupAdd of a channel not on this node: %v", err)
	}
	ev := event("for later")
	if err := m.GroupSend(ctx, "room", ev); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	got, err := m.Receive(ctx, "later.channel")
	if err != nil || got != ev {
		t.Errorf("Receive = %v, %v; want the group event in the channel GroupSend created", got, err)
	}
}

func TestGroupDiscard(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	stay, leave := newChannel(t, m), newChannel(t, m)
	for _, box := range []*Mailbox{stay, leave} {
		if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatalf("GroupAdd: %v", err)
		}
	}
	if err := m.GroupDiscard(ctx, "room", leave.Name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if err := m.GroupDiscard(ctx, "room", leave.Name); err != nil {
		t.Errorf("discarding again: %v", err)
	}
	if err := m.GroupDiscard(ctx, "never.joined", stay.Name); err != nil {
		t.Errorf("discarding from a group it never joined: %v", err)
	}
	if err := m.GroupSend(ctx, "room", event("after")); err != nil {
		t.Fatalf("GroupSend: %v", err)
	}
	if got := len(pending(stay)); got != 1 {
		t.Errorf("remaining member got %d events, want 1", got)
	}
	if got := len(pending(leave)); got != 0 {
		t.Errorf("discarded member got %d events, want 0", got)
	}
	if err := m.GroupDiscard(ctx, "room", stay.Name); err != nil {
		t.Fatalf("GroupDiscard: %v", err)
	}
	if st := m.Stats(); st.Groups != 0 {
		t.Errorf("Stats.Groups = %d after the last member left, want 0", st.Groups)
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{Expiry: 20 * time.Millisecond})
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
	time.Sleep(40 * time.Millisecond) // let both events pass their expiry
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

func TestGroupExpiry(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{GroupExpiry: 20 * time.Millisecond})
	stale, renewed, fresh := newChannel(t, m), newChannel(t, m), newChannel(t, m)
	for _, box := range []*Mailbox{stale, renewed} {
		if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(40 * time.Millisecond) // let the first memberships age past GroupExpiry
	for _, box := range []*Mailbox{renewed, fresh} {
		if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GroupSend(ctx, "room", event("x")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		box  *Mailbox
		want int
	}{"stale": {stale, 0}, "renewed": {renewed, 1}, "fresh": {fresh, 1}} {
		if got := len(pending(tc.box)); got != tc.want {
			t.Errorf("%s member got %d events, want %d", name, got, tc.want)
		}
	}
	s := &m.shards[m.shardIndex("room")]
	s.mu.RLock()
	_, kept := s.groups["room"][stale.Name]
	members := len(s.groups["room"])
	s.mu.RUnlock()
	if kept || members != 2 {
		t.Errorf("after GroupSend the expired membership kept = %v, members = %d; want pruned, 2", kept, members)
	}
	cs := &m.shards[m.shardIndex(stale.Name)]
	cs.mu.RLock()
	_, indexed := cs.memberOf[stale.Name]
	cs.mu.RUnlock()
	if indexed {
		t.Error("pruned membership left its reverse index entry")
	}
}

func TestValidGroupName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"room", true},
		{"chat_room-1.general", true},
		{"ABCxyz019", true},
		{".", true},
		{strings.Repeat("a", 99), true},
		{strings.Repeat("a", 100), false},
		{"", false},
		{"has space", false},
		{"tab\t", false},
		{"café", false},
		{"комната", false},
		{"a!b", false},
		{"room!", false},
		{"a/b", false},
		{"a:b", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		if got := ValidGroupName(tt.name); got != tt.want {
			t.Errorf("ValidGroupName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidChannelName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"chat", true},
		{"specific.ab12cd34!Xy9Qz", true},
		{"specific.node!", true}, // Channels allows an empty local part
		{"a!b", true},
		{strings.Repeat("a", 99), true},
		{strings.Repeat("a", 97) + "!b", true},
		{strings.Repeat("a", 100), false},
		{strings.Repeat("a", 98) + "!b", false},
		{"", false},
		{"!", false},
		{"!abc", false},
		{"a!b!c", false},
		{"a!!", false},
		{"a!b c", false},
		{"a b!c", false},
		{"specific.node!é", false},
		{"naïve!x", false},
		{"a!b/c", false},
	}
	for _, tt := range tests {
		if got := ValidChannelName(tt.name); got != tt.want {
			t.Errorf("ValidChannelName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestInvalidNamesRejected(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	const badGroup, badChannel = "bad group", "bad!chan!nel"
	calls := map[string]func() error{
		"NewChannel": func() error { _, err := m.NewChannel(ctx, "bad!prefix"); return err },
		"NewChannel long": func() error {
			_, err := m.NewChannel(ctx, strings.Repeat("p", 80))
			return err
		},
		"CloseChannel":           func() error { return m.CloseChannel(ctx, badChannel) },
		"Send":                   func() error { return m.Send(ctx, badChannel, event("x")) },
		"Receive":                func() error { _, err := m.Receive(ctx, badChannel); return err },
		"GroupAdd group":         func() error { return m.GroupAdd(ctx, badGroup, box.Name) },
		"GroupAdd channel":       func() error { return m.GroupAdd(ctx, "room", badChannel) },
		"GroupDiscard group":     func() error { return m.GroupDiscard(ctx, badGroup, box.Name) },
		"GroupDiscard channel":   func() error { return m.GroupDiscard(ctx, "room", badChannel) },
		"GroupSend":              func() error { return m.GroupSend(ctx, "room!x", event("x")) },
		"PresenceAdd group":      func() error { return m.PresenceAdd(ctx, badGroup, box.Name, "ann") },
		"PresenceAdd channel":    func() error { return m.PresenceAdd(ctx, "room", badChannel, "ann") },
		"PresenceRemove group":   func() error { return m.PresenceRemove(ctx, badGroup, box.Name) },
		"PresenceRemove channel": func() error { return m.PresenceRemove(ctx, "room", badChannel) },
		"PresenceMembers":        func() error { _, err := m.PresenceMembers(ctx, badGroup); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%s: err = %v, want ErrInvalidName", name, err)
		}
	}
	if st := m.Stats(); st.Channels != 1 || st.Groups != 0 || st.Sent != 0 {
		t.Errorf("invalid calls changed state: %+v", st)
	}
}

func TestNewChannelNames(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{Prefix: "node7"})
	const n = 10000
	seen := make(map[string]bool, n)
	for range n {
		box, err := m.NewChannel(ctx, "specific")
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
		if !ok || local != "specific.node7" || len(random) < 12 {
			t.Fatalf("name %q does not look like specific.node7!<12+ random chars>", name)
		}
		if cap(box.C) != 100 {
			t.Fatalf("mailbox capacity %d, want the default 100", cap(box.C))
		}
	}
	if st := m.Stats(); st.Channels != n {
		t.Errorf("Stats.Channels = %d, want %d", st.Channels, n)
	}
}

func TestCloseChannel(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	gone, kept := newChannel(t, m), newChannel(t, m)
	for _, g := range []string{"room.a", "room.b"} {
		for _, box := range []*Mailbox{gone, kept} {
			if err := m.GroupAdd(ctx, g, box.Name); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.PresenceAdd(ctx, g, gone.Name, "ann"); err != nil {
			t.Fatal(err)
		}
		if err := m.PresenceAdd(ctx, g, kept.Name, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GroupAdd(ctx, "room.solo", gone.Name); err != nil {
		t.Fatal(err)
	}
	if err := m.CloseChannel(ctx, gone.Name); err != nil {
		t.Fatalf("CloseChannel: %v", err)
	}
	if err := m.CloseChannel(ctx, gone.Name); err != nil {
		t.Errorf("closing twice: %v", err)
	}
	if _, err := m.Receive(ctx, gone.Name); !errors.Is(err, ErrNoSuchChannel) {
		t.Errorf("Receive on closed channel: err = %v, want ErrNoSuchChannel", err)
	}
	for _, g := range []string{"room.a", "room.b", "room.solo"} {
		if err := m.GroupSend(ctx, g, event(g)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(pending(gone)); got != 0 {
		t.Errorf("closed channel got %d group events, want 0", got)
	}
	if got := len(pending(kept)); got != 2 {
		t.Errorf("remaining member got %d group events, want 2", got)
	}
	counts, err := m.PresenceCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"room.a": 1, "room.b": 1}; !mapsEqual(counts, want) {
		t.Errorf("PresenceCounts = %v, want %v", counts, want)
	}
	if st := m.Stats(); st.Channels != 1 || st.Groups != 2 {
		t.Errorf("Stats = %+v, want Channels 1, Groups 2 (room.solo emptied)", st)
	}
	cs := &m.shards[m.shardIndex(gone.Name)]
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	if len(cs.memberOf[gone.Name]) != 0 || len(cs.presentIn[gone.Name]) != 0 {
		t.Error("CloseChannel left reverse index entries")
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

func TestPresence(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	annTabs := []*Mailbox{newChannel(t, m), newChannel(t, m), newChannel(t, m)}
	bob := newChannel(t, m)
	for _, box := range annTabs {
		if err := m.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.PresenceAdd(ctx, "room", annTabs[0].Name, "ann"); err != nil {
		t.Errorf("re-adding the same presence: %v", err)
	}
	if err := m.PresenceAdd(ctx, "room", bob.Name, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := m.PresenceAdd(ctx, "lobby", bob.Name, "bob"); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name        string
		do          func() error
		wantMembers []string
		wantCounts  map[string]int
	}{
		{"three tabs count once", func() error { return nil },
			[]string{"ann", "bob"}, map[string]int{"room": 2, "lobby": 1}},
		{"one tab of three leaves", func() error { return m.PresenceRemove(ctx, "room", annTabs[0].Name) },
			[]string{"ann", "bob"}, map[string]int{"room": 2, "lobby": 1}},
		{"removing an absent one", func() error { return m.PresenceRemove(ctx, "room", annTabs[0].Name) },
			[]string{"ann", "bob"}, map[string]int{"room": 2, "lobby": 1}},
		{"last tabs leave", func() error {
			if err := m.PresenceRemove(ctx, "room", annTabs[1].Name); err != nil {
				return err
			}
			return m.PresenceRemove(ctx, "room", annTabs[2].Name)
		}, []string{"bob"}, map[string]int{"room": 1, "lobby": 1}},
		{"channel changes member", func() error { return m.PresenceAdd(ctx, "room", bob.Name, "carol") },
			[]string{"carol"}, map[string]int{"room": 1, "lobby": 1}},
		{"group empties", func() error { return m.PresenceRemove(ctx, "room", bob.Name) },
			[]string{}, map[string]int{"lobby": 1}},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		members, err := m.PresenceMembers(ctx, "room")
		if err != nil || members == nil || !slices.Equal(members, step.wantMembers) {
			t.Errorf("%s: PresenceMembers = %#v, %v; want %#v", step.name, members, err, step.wantMembers)
		}
		counts, err := m.PresenceCounts(ctx)
		if err != nil || !mapsEqual(counts, step.wantCounts) {
			t.Errorf("%s: PresenceCounts = %v, %v; want %v", step.name, counts, err, step.wantCounts)
		}
	}
}

func TestFlush(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{})
	box := newChannel(t, m)
	if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
		t.Fatal(err)
	}
	if err := m.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, box.Name, event("queued")); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := len(box.C); got != 0 {
		t.Errorf("%d events still queued after Flush", got)
	}
	if err := m.GroupSend(ctx, "room", event("after flush")); err != nil {
		t.Fatal(err)
	}
	if got := len(box.C); got != 0 {
		t.Errorf("group membership survived Flush: %d events delivered", got)
	}
	if counts, _ := m.PresenceCounts(ctx); len(counts) != 0 {
		t.Errorf("PresenceCounts after Flush = %v, want empty", counts)
	}
	if st := m.Stats(); st.Groups != 0 {
		t.Errorf("Stats.Groups after Flush = %d, want 0", st.Groups)
	}
	ev := event("still works")
	if err := m.Send(ctx, box.Name, ev); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Receive(ctx, box.Name); err != nil || got != ev {
		t.Errorf("a live mailbox stopped working after Flush: %v, %v", got, err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	box := newChannel(t, m)
	waiting := make(chan error, 1)
	go func() {
		_, err := m.Receive(ctx, box.Name)
		waiting <- err
	}()
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Errorf("a Receive waiting at Close: err = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"NewChannel":      func() error { _, err := m.NewChannel(ctx, "x"); return err },
		"CloseChannel":    func() error { return m.CloseChannel(ctx, box.Name) },
		"Send":            func() error { return m.Send(ctx, box.Name, event("x")) },
		"Receive":         func() error { _, err := m.Receive(ctx, box.Name); return err },
		"GroupAdd":        func() error { return m.GroupAdd(ctx, "room", box.Name) },
		"GroupDiscard":    func() error { return m.GroupDiscard(ctx, "room", box.Name) },
		"GroupSend":       func() error { return m.GroupSend(ctx, "room", event("x")) },
		"PresenceAdd":     func() error { return m.PresenceAdd(ctx, "room", box.Name, "ann") },
		"PresenceRemove":  func() error { return m.PresenceRemove(ctx, "room", box.Name) },
		"PresenceMembers": func() error { _, err := m.PresenceMembers(ctx, "room"); return err },
		"PresenceCounts":  func() error { _, err := m.PresenceCounts(ctx); return err },
		"Flush":           func() error { return m.Flush(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if st := m.Stats(); st.Channels != 0 {
		t.Errorf("Stats.Channels after Close = %d, want 0", st.Channels)
	}
}

// TestConcurrentUse runs every operation at once (meant for -race) and then checks that each
// event that went into a mailbox came out of it exactly once and the registry is empty.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m := newTestLayer(t, MemoryOptions{Capacity: 16})
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
			box, err := m.NewChannel(ctx, "worker")
			if err != nil {
				errs <- err
				return
			}
			boxes[w] = box
			seen := make(map[*Event]bool)
			receiveQueued := func() error {
				for len(box.C) > 0 { // only this goroutine receives, so Receive cannot block
					ev, err := m.Receive(ctx, box.Name)
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
					m.GroupAdd(ctx, g, box.Name),
					m.PresenceAdd(ctx, g, box.Name, fmt.Sprint("user", w%5)),
					m.GroupSend(ctx, groups[r%len(groups)], event(fmt.Sprint(w, "/", r))),
					receiveQueued(),
				}
				if r%3 == 0 {
					steps = append(steps, m.GroupDiscard(ctx, g, box.Name), m.PresenceRemove(ctx, g, box.Name))
				}
				if r%50 == 0 { // churn: short-lived channels joining and leaving
					tmp, err := m.NewChannel(ctx, "tmp")
					steps = append(steps, err)
					if err == nil {
						temps[w] = append(temps[w], tmp)
						steps = append(steps, m.GroupAdd(ctx, g, tmp.Name), m.CloseChannel(ctx, tmp.Name))
					}
				}
				if err := errors.Join(steps...); err != nil {
					errs <- err
					return
				}
			}
			errs <- errors.Join(receiveQueued(), m.CloseChannel(ctx, box.Name))
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
	st := m.Stats()
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
	if counts, _ := m.PresenceCounts(ctx); len(counts) != 0 {
		t.Errorf("PresenceCounts after every channel closed = %v", counts)
	}
	for i := range m.shards {
		s := &m.shards[i]
		if len(s.memberOf) != 0 || len(s.presentIn) != 0 {
			t.Fatalf("shard %d kept reverse index entries: %v %v", i, s.memberOf, s.presentIn)
		}
	}
}
