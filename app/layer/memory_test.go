package layer

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemorySuite(t *testing.T) {
	runLayerSuite(t, func(t *testing.T) Layer { return newTestLayer(t, MemoryOptions{}) })
}

func newTestLayer(t *testing.T, opts MemoryOptions) *Memory {
	t.Helper()
	m := NewMemory(opts)
	t.Cleanup(func() { m.Close() })
	return m
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

// TestMemoryExpiryOption checks that MemoryOptions.Expiry stamps events (the shared suite
// only sends events whose expiry it set itself).
func TestMemoryExpiryOption(t *testing.T) {
	checkExpiryOption(t, newTestLayer(t, MemoryOptions{Expiry: expiryOption}))
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
		if box.Capacity() != 100 {
			t.Fatalf("mailbox capacity %d, want the default 100", box.Capacity())
		}
	}
	if st := m.Stats(); st.Channels != n {
		t.Errorf("Stats.Channels = %d, want %d", st.Channels, n)
	}
}

// TestMemoryReverseIndexes runs the shared cases that close channels and then checks that
// Memory's reverse indexes name only channels that still exist.
func TestMemoryReverseIndexes(t *testing.T) {
	for name, run := range map[string]func(*testing.T, Layer){
		"CloseChannel":  suiteCloseChannel,
		"ConcurrentUse": suiteConcurrentUse,
	} {
		t.Run(name, func(t *testing.T) {
			m := newTestLayer(t, MemoryOptions{Capacity: 16})
			run(t, m)
			for i := range m.shards {
				s := &m.shards[i]
				s.mu.RLock()
				for _, index := range []map[string][]string{s.memberOf, s.presentIn} {
					for channel := range index {
						if _, ok := s.channels[channel]; !ok {
							t.Errorf("shard %d indexes closed channel %q", i, channel)
						}
					}
				}
				s.mu.RUnlock()
			}
		})
	}
}

// A channel's groups are a set: a second add changes nothing, and the entry goes with the
// last group removed.
func TestChannelGroupSet(t *testing.T) {
	sets := map[string][]string{}
	addToSet(sets, "c", "a")
	addToSet(sets, "c", "b")
	addToSet(sets, "c", "a")
	addToSet(sets, "c", "d")
	if got := sets["c"]; !slices.Equal(got, []string{"a", "b", "d"}) {
		t.Fatalf("after adds: %q", got)
	}
	removeFromSet(sets, "c", "b")
	removeFromSet(sets, "c", "x")
	removeFromSet(sets, "other", "a")
	if got := sets["c"]; !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("after removes: %q", got)
	}
	removeFromSet(sets, "c", "a")
	removeFromSet(sets, "c", "d")
	if _, ok := sets["c"]; ok || len(sets) != 0 {
		t.Fatalf("the emptied set stayed: %v", sets)
	}
}

// A send to a big group lets writers its offers started run before it starts more: on one
// processor, the goroutines alive at once stay a fraction of the group (a few hundred) instead
// of one per member (all 4,096 here without the yields).
func TestGroupSendLetsWritersRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	m := newTestLayer(t, MemoryOptions{Capacity: 16})
	ctx := context.Background()
	var live, peak atomic.Int64
	const members = 16 * fanoutYieldEvery
	for range members {
		box, err := m.NewChannel(ctx, "specific")
		if err != nil {
			t.Fatal(err)
		}
		box.Notify = func() {
			if n := live.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			go func() { // a writer: drain the mailbox and end
				for _, ok := box.Poll(); ok; _, ok = box.Poll() {
				}
				live.Add(-1)
			}()
		}
		if err := m.GroupAdd(ctx, "room", box.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.GroupSend(ctx, "room", event("hi")); err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got > members/4 {
		t.Fatalf("%d writers were alive at once for a group of %d; want at most %d", got, members, members/4)
	}
}
