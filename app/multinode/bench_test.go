package multinode

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chat/app/apptest"
)

// benchMembers is the room's size; benchRound is the messages one benchmark op sends.
const (
	benchMembers = 50
	benchRound   = 100
	benchWindow  = 16 // messages the sender may have in flight (sent, not yet back to itself)
)

// BenchmarkFanoutOneNode: one room of 50 members on one node (PostgreSQL, Redis layer), one
// sender. One op is 100 messages delivered to all 50 members.
func BenchmarkFanoutOneNode(b *testing.B) { benchFanout(b, 1) }

// BenchmarkFanoutTwoNodes: the same room with its members split over two nodes, the sender
// on the first, so half of every fan-out crosses Redis.
func BenchmarkFanoutTwoNodes(b *testing.B) { benchFanout(b, 2) }

func benchFanout(b *testing.B, nodes int) {
	c := newCluster(b, nodes, nil)
	type member struct {
		sock *apptest.Socket
		lat  []time.Duration
	}
	members := make([]*member, benchMembers)
	for i := range members {
		node := c.nodes[i%nodes]
		cl := node.NewUser("m" + strconv.Itoa(i))
		members[i] = &member{sock: cl.MustDial("bench", "")}
	}
	total := b.N * benchRound
	var delivered atomic.Int64
	allDone := make(chan struct{})
	echoes := make(chan int, total) // the sender's own copies, for its window
	var wg sync.WaitGroup
	for i, m := range members {
		m.lat = make([]time.Duration, 0, total)
		wg.Go(func() {
			_ = m.sock.Conn.SetReadDeadline(time.Time{})
			got := 0
			for got < total {
				_, data, err := m.sock.Conn.ReadMessage()
				if err != nil {
					b.Errorf("member %d: %v", i, err)
					return
				}
				var f struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				}
				if json.Unmarshal(data, &f) != nil || f.Type != "chat.message" {
					continue
				}
				now := time.Now()
				seq, sent, ok := parseBench(f.Message)
				if !ok {
					continue
				}
				m.lat = append(m.lat, now.Sub(time.Unix(0, sent)))
				got++
				if i == 0 {
					echoes <- seq
				}
				if delivered.Add(1) == int64(total*benchMembers) {
					close(allDone)
				}
			}
		})
	}
	// Presence frames of the joins settle before the clock starts.
	time.Sleep(300 * time.Millisecond)
	sender := members[0].sock
	b.ResetTimer()
	start := time.Now()
	back := 0
	for seq := range total {
		for seq-back >= benchWindow {
			<-echoes
			back++
		}
		msg := fmt.Sprintf("bench %d %d", seq, time.Now().UnixNano())
		if err := sender.Conn.WriteJSON(map[string]any{"message": msg}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-allDone:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d deliveries arrived", delivered.Load(), total*benchMembers)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	wg.Wait()
	var all []time.Duration
	for _, m := range members {
		all = append(all, m.lat...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	for _, m := range members {
		m.sock.Conn.Close()
	}
}

// parseBench reads "bench <seq> <unix nanoseconds>".
func parseBench(s string) (seq int, sent int64, ok bool) {
	parts := strings.Fields(s)
	if len(parts) != 3 || parts[0] != "bench" {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(parts[1])
	sent, err2 := strconv.ParseInt(parts[2], 10, 64)
	return seq, sent, err1 == nil && err2 == nil
}
