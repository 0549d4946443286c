package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"chat/app/apptest"
)

// BenchmarkBroadcast is the whole path in one process: a sender's frame is parsed, stored in
// SQLite (group commit), broadcast through the in-process layer and written to every member
// by its own writer goroutine, and read by real websocket clients. One op is one message;
// deliveries/s counts what the members received.
func BenchmarkBroadcast(b *testing.B) {
	for _, members := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			cfg := apptest.Config(b)
			cfg.MessageRate, cfg.MessageBurst, cfg.MaxConnsPerUser, cfg.MaxConnsPerIP = 0, 0, 0, 0
			// Deep queues: this measures throughput, and the test clients decode every frame,
			// so they would otherwise be closed as slow (1013), as a real slow client is.
			cfg.ChannelCapacity, cfg.SendQueueBytes = 1<<16, 256<<20
			env := apptest.Start(b, cfg)
			user := env.NewUser("bench")
			socks := make([]*apptest.Socket, members)
			for i := range socks {
				socks[i] = user.MustDial("bench", "")
			}
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for _, s := range socks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for got := 0; got < b.N; {
						f, err := s.Next(30 * time.Second)
						if err != nil {
							b.Errorf("member stopped after %d of %d: %v", got, b.N, err)
							return
						}
						if f.Type() == "chat.message" {
							got++
						}
					}
				}()
			}
			for i := 0; i < b.N; i++ {
				socks[0].Send(map[string]any{"message": "bench message"})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N*members)/elapsed.Seconds(), "deliveries/s")
		})
	}
}
