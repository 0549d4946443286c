package layer

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchMembers joins n fresh channels of l to group.
func benchMembers(b *testing.B, l Layer, group string, n int) []*Mailbox {
	b.Helper()
	ctx := context.Background()
	boxes := make([]*Mailbox, n)
	for i := range boxes {
		box, err := l.NewChannel(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.GroupAdd(ctx, group, box.Name); err != nil {
			b.Fatal(err)
		}
		boxes[i] = box
	}
	return boxes
}

func reportDeliveries(b *testing.B, deliveries int) {
	b.ReportMetric(float64(deliveries)/b.Elapsed().Seconds(), "deliveries/s")
}

var benchEvent = &Event{Type: "chat.message", Data: []byte(`{"type":"chat.message","id":1,"user":"ann","text":"hello, room"}`)}

// BenchmarkRedisGroupSend is one node with 100 local members: local fan-out plus the PUBLISH
// round trip (the node gets its own message back and skips it).
func BenchmarkRedisGroupSend(b *testing.B) {
	const members = 100
	ctx := context.Background()
	l := newRedisLayer(b, RedisOptions{})
	boxes := benchMembers(b, l, "room", members)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.GroupSend(ctx, "room", benchEvent); err != nil {
			b.Fatal(err)
		}
		for _, box := range boxes {
			mustNext(b, box)
		}
	}
	reportDeliveries(b, b.N*members)
	if st := l.Stats(); st.Skipped != 0 {
		b.Fatalf("%d deliveries skipped", st.Skipped)
	}
}

// BenchmarkRedisGroupSendCrossNode sends from one node to 100 members on another and waits
// for all of them each time: the latency-bound path of one message.
func BenchmarkRedisGroupSendCrossNode(b *testing.B) {
	const members = 100
	ctx := context.Background()
	prefix := testPrefix(b)
	a := newRedisLayer(b, RedisOptions{Prefix: prefix, Node: "sender"})
	r := newRedisLayer(b, RedisOptions{Prefix: prefix, Node: "receiver"})
	boxes := benchMembers(b, r, "room", members)
	b.ReportAllocs()
	for b.Loop() {
		ev := &Event{Type: benchEvent.Type, Data: benchEvent.Data}
		if err := a.GroupSend(ctx, "room", ev); err != nil {
			b.Fatal(err)
		}
		for _, box := range boxes {
			mustNext(b, box)
		}
	}
	reportDeliveries(b, b.N*members)
	if st := r.Stats(); st.Skipped != 0 {
		b.Fatalf("%d deliveries skipped", st.Skipped)
	}
}

// BenchmarkRedisGroupSendCrossNodeParallel sends from all Ps of one node to 10 groups of 10
// members on another, with a draining goroutine per member as connection writers would be:
// throughput rather than latency.
func BenchmarkRedisGroupSendCrossNodeParallel(b *testing.B) {
	const groups, members = 10, 10
	ctx := context.Background()
	prefix := testPrefix(b)
	a := newRedisLayer(b, RedisOptions{Prefix: prefix, Node: "sender"})
	r := newRedisLayer(b, RedisOptions{Prefix: prefix, Node: "receiver", Capacity: 1000})
	names := make([]string, groups)
	var received atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range names {
		names[g] = "room." + string(rune('a'+g))
		for _, box := range benchMembers(b, r, names[g], members) {
			wg.Go(func() {
				for {
					if _, ok := box.Poll(); ok {
						received.Add(1)
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
	b.ReportAllocs()
	b.SetParallelism(8) // senders wait on a round trip each: more of them than Ps
	b.ResetTimer()
	var sent atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			ev := &Event{Type: benchEvent.Type, Data: benchEvent.Data}
			if err := a.GroupSend(ctx, names[i%groups], ev); err != nil {
				b.Error(err)
				return
			}
			sent.Add(1)
			i++
		}
	})
	want := sent.Load() * members
	deadline := time.Now().Add(30 * time.Second)
	for received.Load()+int64(r.Stats().Skipped) < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	reportDeliveries(b, int(received.Load()))
	b.ReportMetric(float64(r.Stats().Skipped)/float64(b.N), "skipped/op")
}
