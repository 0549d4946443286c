package layer

import (
	"context"
	"math"
	"testing"
	"time"
)

// A mailbox that never quite empties keeps its array within its capacity: taken events in
// front are moved out of the way instead of growing the array without end.
func TestMailboxThatNeverEmptiesStaysBounded(t *testing.T) {
	box := NewMailbox("specific.x", 8)
	if !box.Offer(event("first")) {
		t.Fatal("an empty mailbox refused an event")
	}
	for i := range 100_000 {
		if !box.Offer(event("next")) {
			t.Fatalf("offer %d refused with %d waiting", i, box.Len())
		}
		if _, ok := box.Poll(); !ok {
			t.Fatalf("poll %d found nothing", i)
		}
	}
	box.mu.Lock()
	n := cap(box.events)
	box.mu.Unlock()
	if box.Len() != 1 || n > 16 {
		t.Fatalf("after 100,000 events: %d waiting in an array of %d, want 1 in at most 16", box.Len(), n)
	}
}

// Events come out in the order they went in, across the array being compacted; a full
// mailbox refuses, tells its owner once, and (as a websocket's does) takes nothing after.
func TestMailboxOrderAndOverflow(t *testing.T) {
	box := NewMailbox("specific.y", 4)
	told := 0
	box.OnOverflow = func() { told++ }
	want := []string{"a", "b", "c", "d"}
	for _, d := range want {
		if !box.Offer(event(d)) {
			t.Fatalf("offer %s refused", d)
		}
	}
	if box.Offer(event("e")) || box.Offer(event("f")) || told != 1 || !box.Overflowed() {
		t.Fatalf("a full mailbox: told %d times, overflowed %v; want refusals, told once", told, box.Overflowed())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, d := range want {
		ev, err := box.Next(ctx)
		if err != nil || string(ev.Data) != string(event(d).Data) {
			t.Fatalf("next: %v, %v; want the event %q", ev, err, d)
		}
	}
	if box.Offer(event("g")) {
		t.Fatal("a mailbox that told its owner of an overflow took an event again")
	}
}

// A layer that knows a member missed events (a broken Redis subscription) marks its mailbox
// as a drop would: the owner is told once and the mailbox takes nothing after, so the
// receiver never gets events past the gap.
func TestMailboxMarkedByTheLayer(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	box, err := m.NewChannel(context.Background(), "specific")
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	box.OnOverflow = func() { told++ }
	if err := m.GroupAdd(context.Background(), "room", box.Name); err != nil {
		t.Fatal(err)
	}
	if n := m.overflowGroupMembers(); n != 1 {
		t.Fatalf("marked %d members, want 1", n)
	}
	if !box.Overflowed() || told != 1 {
		t.Fatalf("after the layer marked it: overflowed %v, told %d; want true, 1", box.Overflowed(), told)
	}
	if box.Offer(event("after the gap")) {
		t.Fatal("a marked mailbox took an event past the gap")
	}
}

// A mailbox makes its Ready channel only when a receiver first asks for it; an event offered
// before that still wakes the receiver, and every later Offer leaves a token too.
func TestMailboxReadyMadeOnFirstUse(t *testing.T) {
	box := NewMailbox("specific.z", 8)
	if !box.Offer(event("before anyone waited")) {
		t.Fatal("an empty mailbox refused an event")
	}
	select {
	case <-box.Ready():
	case <-time.After(time.Second):
		t.Fatal("an event offered before Ready was first asked for left no token")
	}
	if _, ok := box.Poll(); !ok {
		t.Fatal("the token's event was not there")
	}
	select {
	case <-box.Ready():
		t.Fatal("a token with nothing offered since")
	default:
	}
	got := make(chan *Event)
	go func() {
		ev, err := box.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- ev
	}()
	time.Sleep(10 * time.Millisecond) // let Next find the mailbox empty and wait
	box.Offer(event("while waiting"))
	select {
	case ev := <-got:
		if string(ev.Data) != string(event("while waiting").Data) {
			t.Fatalf("Next returned %s", ev.Data)
		}
	case <-time.After(time.Second):
		t.Fatal("Next did not wake for an offered event")
	}
}

// A connection's mailbox (drained by the writer Notify starts) never makes a Ready channel.
func TestMailboxWithNotifyHasNoReadyChannel(t *testing.T) {
	box := NewMailbox("specific.n", 8)
	notified := 0
	box.Notify = func() { notified++ }
	for range 3 {
		box.Offer(event("x"))
	}
	box.mu.Lock()
	made := box.ready != nil
	box.mu.Unlock()
	if made || notified != 3 {
		t.Fatalf("ready channel made %v, notified %d times; want false, 3", made, notified)
	}
}

// PollAppend takes at most max events, oldest first, frees their bytes for new offers, and
// leaves an emptied mailbox as Poll does.
func TestMailboxPollAppend(t *testing.T) {
	box := NewMailbox("specific.p", 8)
	box.MaxBytes = 5 * int64(len(event("a").Data)) // five events' worth
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		if !box.Offer(event(d)) {
			t.Fatalf("offer %q refused", d)
		}
	}
	if box.Offer(event("f")) {
		t.Fatal("a sixth event went over MaxBytes")
	}
	got := box.PollAppend(nil, 3)
	if len(got) != 3 || !sameEvent(got[0], "a") || !sameEvent(got[2], "c") || box.Len() != 2 {
		t.Fatalf("PollAppend(3) took %d events, %d left", len(got), box.Len())
	}
	if !box.Offer(event("g")) {
		t.Fatal("the bytes of taken events were not freed")
	}
	got = box.PollAppend(got[:0], 10)
	if len(got) != 3 || !sameEvent(got[0], "d") || !sameEvent(got[2], "g") || box.Len() != 0 {
		t.Fatalf("PollAppend(10) took %d events, %d left", len(got), box.Len())
	}
	if got = box.PollAppend(got[:0], 10); len(got) != 0 {
		t.Fatalf("an empty mailbox gave %d events", len(got))
	}
	box.Offer(event("h"))
	if got = box.PollAppend(got[:0], 0); len(got) != 0 || box.Len() != 1 {
		t.Fatalf("PollAppend(0) took %d events, %d left", len(got), box.Len())
	}
	if got = box.PollAppend(got[:0], math.MaxInt); len(got) != 1 || !sameEvent(got[0], "h") || box.Len() != 0 {
		t.Fatalf("PollAppend(MaxInt) took %d events, %d left", len(got), box.Len())
	}
	box.mu.Lock()
	head, n := box.head, len(box.events)
	box.mu.Unlock()
	if head != 0 || n != 0 {
		t.Fatalf("an emptied mailbox has head %d and %d slots in use", head, n)
	}
}

func sameEvent(ev *Event, data string) bool { return string(ev.Data) == string(event(data).Data) }
