package layer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// benchGroup makes group with n fresh member channels.
func benchGroup(b *testing.B, m *Memory, group string, n int) []*Mailbox {
	b.Helper()
	ctx := context.Background()
	boxes := make([]*Mailbox, n)
	for i := range boxes {
		box, err := m.NewChannel(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := m.GroupAdd(ctx, group, box.Name); err != nil {
			b.Fatal(err)
		}
		boxes[i] = box
	}
	return boxes
}

func BenchmarkGroupSend(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ctx := context.Background()
			m := NewMemory(MemoryOptions{})
			defer m.Close()
			boxes := benchGroup(b, m, "room", n)
			ev := &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"hi"}`)}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.GroupSend(ctx, "room", ev); err != nil {
					b.Fatal(err)
				}
				for _, box := range boxes { // drain in the loop: every member got exactly one
					mustNext(b, box)
				}
			}
			if st := m.Stats(); st.Skipped != 0 {
				b.Fatalf("%d deliveries skipped", st.Skipped)
			}
		})
	}
}

func BenchmarkSendReceive(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	box, err := m.NewChannel(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ev := &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"hi"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Send(ctx, box.Name, ev); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Receive(ctx, box.Name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupSendParallel sends to 100 groups of 10 members from all Ps at once, with one
// draining goroutine per member as connection writers would be.
func BenchmarkGroupSendParallel(b *testing.B) {
	const groups, members = 100, 10
	ctx := context.Background()
	m := NewMemory(MemoryOptions{})
	defer m.Close()
	names := make([]string, groups)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range names {
		names[g] = fmt.Sprintf("room.%d", g)
		for _, box := range benchGroup(b, m, names[g], members) {
			wg.Go(func() {
				for {
					if _, ok := box.Poll(); ok {
						continue
					}
					select {
					case <-box.Ready():
					case <-stop:
						return
					}
				}
			})
		}
	}
	ev := &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"hi"}`)}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := m.GroupSend(ctx, names[i%groups], ev); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	st := m.Stats()
	b.ReportMetric(float64(st.Skipped)/float64(b.N), "skipped/op")
}

// mustNext takes the next event from box, failing the benchmark after 5s of waiting. An event
// already there costs no timer, so a synchronous delivery is measured without the waiting.
func mustNext(b *testing.B, box *Mailbox) *Event {
	for {
		if ev, ok := box.Poll(); ok {
			return ev
		}
		select {
		case <-box.Ready():
		case <-time.After(5 * time.Second):
			b.Fatalf("mailbox %s: nothing arrived in 5s", box.Name)
		}
	}
}
