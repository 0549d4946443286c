package faults

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// pingInterval is the keepalive period of the half-open tests; the server drops a peer
// silent for 2.5 of them.
const pingInterval = 200 * time.Millisecond

// dropWithin is how soon after a peer goes silent its presence must be gone: the server's
// 2.5 intervals, the presence announcement's 100 ms, and slack for a loaded test machine.
const dropWithin = pingInterval*5/2 + 1500*time.Millisecond

// TestHalfOpenDropped: a member whose connection goes half-open, without any FIN or RST, is
// removed from its room's presence within 2.5 ping intervals plus slack, whether the network
// stops carrying anything (a proxy that stops forwarding) or the client stops answering pings
// (a frozen tab) while its TCP connection stays up.
func TestHalfOpenDropped(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.PingInterval = pingInterval
	e := apptest.Start(t, cfg)
	observer := e.NewUser("observer")

	t.Run("network stops forwarding", func(t *testing.T) {
		obs := Watch(observer.MustDial("proxied", ""))
		defer obs.Close()
		proxy := NewProxy(t, e.Addr)
		victim := On(e.NewUser("vanisher"), Site(t, proxy.Addr))
		vs := Watch(victim.MustDial("proxied", ""))
		defer vs.Socket.Conn.Close()
		waitLatestPresence(t, obs, 10*time.Second, "observer", "vanisher")
		time.Sleep(2 * pingInterval) // pings and pongs flow through the proxy meanwhile
		if ended, _, err := vs.Ended(); ended {
			t.Fatalf("the proxied socket ended before the freeze: %v", err)
		}

		proxy.Freeze()
		frozen := time.Now()
		waitLatestPresence(t, obs, dropWithin, "observer")
		t.Logf("dropped %v after the network stopped", time.Since(frozen).Round(10*time.Millisecond))
	})

	t.Run("client stops answering pings", func(t *testing.T) {
		obs := Watch(observer.MustDial("paused", ""))
		defer obs.Close()
		victim := e.NewUser("sleeper")
		s := victim.MustDial("paused", "")
		var paused atomic.Bool
		release := make(chan struct{})
		defer close(release)
		var pongs atomic.Int64
		s.Conn.SetPingHandler(func(data string) error {
			if paused.Load() {
				<-release // a frozen tab: the reader is stuck, nothing answers
				return nil
			}
			pongs.Add(1)
			return s.Conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		vs := Watch(s)
		defer s.Conn.Close()
		waitLatestPresence(t, obs, 10*time.Second, "observer", "sleeper")
		deadline := time.Now().Add(10 * time.Second)
		for pongs.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if ended, _, err := vs.Ended(); ended || pongs.Load() < 2 {
			t.Fatalf("the client should be alive and answering pings: ended %v (%v), %d pongs", ended, err, pongs.Load())
		}

		paused.Store(true)
		pausedAt := time.Now()
		waitLatestPresence(t, obs, dropWithin, "observer")
		t.Logf("dropped %v after the client stopped answering", time.Since(pausedAt).Round(10*time.Millisecond))
	})
}

// waitLatestPresence waits at most d until the latest presence frame lists exactly users.
func waitLatestPresence(t testing.TB, st *Stream, d time.Duration, users ...string) {
	t.Helper()
	want := fmt.Sprint(users)
	var last []string
	ok := st.WaitFor(d, func(frames []apptest.Frame, _ bool) bool {
		for i := len(frames) - 1; i >= 0; i-- {
			if frames[i].Type() == "presence" {
				last = presenceNames(frames[i])
				return fmt.Sprint(last) == want
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("presence is %v, not %v, after %v", last, users, d)
	}
}

func presenceNames(f apptest.Frame) []string {
	raw, _ := f["users"].([]any)
	out := make([]string, 0, len(raw))
	for _, u := range raw {
		s, _ := u.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
