package server_test

import (
	"fmt"
	"testing"
	"time"

	"chat/app/apptest"
)

// The first test of the Channels tutorial: two people in one room see each other's
// messages, in order, with author and time.
func TestTwoUsersInOneRoomSeeEachOther(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a, b := alice.MustDial("lobby", ""), bob.MustDial("lobby", "")

	for i := 0; i < 5; i++ {
		a.Send(map[string]any{"message": fmt.Sprintf("hello %d", i)})
		b.Send(map[string]any{"message": fmt.Sprintf("hi %d", i)})
	}
	for _, s := range []*apptest.Socket{a, b} {
		var last int64
		seen := map[string]bool{}
		for len(seen) < 10 {
			f := s.Expect("chat.message")
			if f.ID() <= last {
				t.Fatalf("ids out of order: %d after %d", f.ID(), last)
			}
			last = f.ID()
			if f.Str("room") != "lobby" || f.Str("created_at") == "" {
				t.Fatalf("frame lacks room or time: %v", f)
			}
			seen[f.Str("user")+": "+f.Str("message")] = true
		}
		if !seen["alice: hello 4"] || !seen["bob: hi 4"] {
			t.Fatalf("missing messages: %v", seen)
		}
	}
}

// The second test of the tutorial: someone in another room sees none of it.
func TestOtherRoomSeesNothing(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	a := env.NewUser("alice").MustDial("room-a", "")
	c := env.NewUser("carol").MustDial("room-b", "")
	a.Send(map[string]any{"message": "only for room a"})
	a.Expect("chat.message")
	c.ExpectNone("chat.message", 300*time.Millisecond)
}

// Connections per account and per address are limited, with a clear refusal (HTTP 429 before
// the upgrade), and a closed connection gives its place back.
func TestConnectionLimits(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.MaxConnsPerUser, cfg.MaxConnsPerIP = 2, 3
	env := apptest.Start(t, cfg)
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a1, a2 := alice.MustDial("r", ""), alice.MustDial("r", "")
	_, resp, err := alice.DialRoom("r", "")
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("third socket for one account: err %v, response %v; want 429", err, resp)
	}
	bob.MustDial("r", "") // third from this address: still fits
	_, resp, err = bob.DialRoom("r", "")
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("fourth socket from one address: err %v, response %v; want 429", err, resp)
	}
	a1.Conn.Close()
	a2.Send(map[string]any{"message": "still here"})
	a2.Expect("chat.message")
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _, err := alice.DialRoom("r", "")
		if err == nil {
			s.Send(map[string]any{"message": "a place came back"})
			s.Expect("chat.message")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed socket never gave its place back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
