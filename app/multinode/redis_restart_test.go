package multinode

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/faults"
)

// TestRedisRestartUnderTraffic: four members on two nodes send steadily while the Redis
// server is killed and, a second later, started again on the same port (empty: no
// persistence). Afterwards every member's view (what it received on its first socket, on any
// reconnect with ?since_seq= after a drop, and in answer to its catch-up requests for gaps in
// the seqs) holds every stored message, and the page shows each once, in id order.
func TestRedisRestartUnderTraffic(t *testing.T) {
	t.Parallel()
	redisRestart(t, syscall.SIGKILL)
}

// TestRedisRestartCatchUp is the part of the promise that holds today: with Redis killed and
// back under traffic, no message is lost from the database, nodes deliver again once Redis
// is back, and a fresh socket with ?since=0 on either node replays every stored message once
// and in order.
func TestRedisRestartCatchUp(t *testing.T) {
	t.Parallel()
	c, members := redisRestartTraffic(t, syscall.SIGTERM)
	stored := quiescent(t, members[0].Client(), "lobby")
	if err := faults.CheckOrdered(stored); err != nil {
		t.Fatalf("catch-up on node a: %v", err)
	}
	if other := storedIDs(t, faults.On(members[0].Client(), c.nodes[1]), "lobby"); fmt.Sprint(other) != fmt.Sprint(stored) {
		t.Fatalf("catch-up differs between nodes: %d vs %d messages", len(other), len(stored))
	}
	assertAckedStored(t, members, stored)
	// Delivery across nodes works again: a message from B reaches a member on A.
	mb := members[1]
	id, err := mb.Send("after the restart")
	if err != nil {
		t.Fatal(err)
	}
	newest := waitAckOf(t, mb, id)
	if !members[0].WaitView(15*time.Second, newest) {
		t.Fatalf("a member on node a never got message %d from node b after Redis came back", newest)
	}
}

func redisRestart(t *testing.T, sig syscall.Signal) {
	_, members := redisRestartTraffic(t, sig)
	stored := quiescent(t, members[0].Client(), "lobby")
	if len(stored) == 0 {
		t.Fatal("nothing was stored")
	}
	newest := stored[len(stored)-1]
	for _, m := range members {
		if !m.WaitView(15*time.Second, newest) {
			t.Errorf("%s never got message %d", m.Client().Username, newest)
		}
	}
	for _, m := range members {
		if err := faults.CompareView(m.PageView(), stored); err != nil {
			t.Errorf("%s (%d connections, %d gap requests): %v", m.Client().Username, m.Connections(), m.Fills(), err)
		}
		t.Logf("%s: %d connections, %d gap requests", m.Client().Username, m.Connections(), m.Fills())
	}
	assertAckedStored(t, members, stored)
}

// redisRestartTraffic runs the traffic with a Redis restart in the middle and returns when
// every sent message is acknowledged or known unsent.
func redisRestartTraffic(t *testing.T, sig syscall.Signal) (*cluster, []*faults.Member) {
	c := newCluster(t, 2, nil)
	var members []*faults.Member
	for i, name := range []string{"alice", "bob", "carol", "dave"} {
		node := c.nodes[i%2]
		m := faults.NewMember(t, node.NewUser(name), "lobby")
		m.MustConnect()
		m.AutoReconnect()
		members = append(members, m)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() {
			tick := time.NewTicker(40 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_, _ = m.Send(fmt.Sprintf("%s %d", m.Client().Username, i)) // a failed send is unsent
			}
		})
	}
	time.Sleep(1200 * time.Millisecond)
	c.redis.Stop(sig)
	time.Sleep(time.Second)
	c.redis.Start()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	return c, members
}

// quiescent reads the room's stored messages until two reads 300 ms apart agree: the
// messages still in flight when the senders stopped have landed.
func quiescent(t testing.TB, c *apptest.Client, room string) []int64 {
	t.Helper()
	prev := storedIDs(t, c, room)
	deadline := time.Now().Add(15 * time.Second)
	for {
		time.Sleep(300 * time.Millisecond)
		cur := storedIDs(t, c, room)
		if slices.Equal(cur, prev) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages still arrive in %q 15s after the senders stopped", room)
		}
		prev = cur
	}
}

// assertAckedStored checks that every acknowledged message is stored.
func assertAckedStored(t *testing.T, members []*faults.Member, stored []int64) {
	t.Helper()
	have := map[int64]bool{}
	for _, id := range stored {
		have[id] = true
	}
	for _, m := range members {
		for cid, id := range m.Acked() {
			if !have[id] {
				t.Errorf("%s: message %s was acknowledged as %d but is not stored", m.Client().Username, cid, id)
			}
		}
	}
}

// waitAckOf waits for the ack of one client id and returns the message id.
func waitAckOf(t testing.TB, m *faults.Member, clientID string) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if id, ok := m.Acked()[clientID]; ok {
			return id
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no ack for %s", clientID)
	return 0
}
