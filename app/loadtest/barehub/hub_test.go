package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/loadtest"
)

// The reference hub is driven by the same load generator as chat, unchanged: every message
// reaches every member of its room once, so the two are measured alike.
func TestLoadtestDrivesTheHub(t *testing.T) {
	addr := serveHub(t)
	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: "http://" + addr, Rooms: 3, Members: 4, Senders: 2, Rate: 60,
		Duration: time.Second, Warmup: 200 * time.Millisecond, Sources: 4,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connections != 12 || rep.ConnectFailures != 0 {
		t.Fatalf("connections %d, failures %d; want 12 and 0", rep.Connections, rep.ConnectFailures)
	}
	if rep.Sent == 0 || rep.Expected != rep.Sent*4 || rep.Received != rep.Expected || rep.Duplicates != 0 {
		t.Fatalf("sent %d, expected %d, received %d, duplicates %d", rep.Sent, rep.Expected, rep.Received, rep.Duplicates)
	}
}

// A member that stops reading is dropped once its queue is full: its socket ends, and the
// room goes on without it.
func TestHubDropsAMemberThatDoesNotRead(t *testing.T) {
	url := "ws://" + serveHub(t) + "/ws/chat/r/"
	slow, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	sender, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	received := make(chan struct{}, 4096)
	go func() {
		for {
			if _, _, err := sender.ReadMessage(); err != nil {
				return
			}
			received <- struct{}{}
		}
	}()
	// Enough to fill the slow member's socket buffers and then its queue of 256.
	big := []byte(`{"message":"` + strings.Repeat("x", 64<<10) + `"}`)
	for range 800 {
		if err := sender.WriteMessage(websocket.TextMessage, big); err != nil {
			t.Fatal(err)
		}
		<-received
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the member that did not read was never dropped")
		}
		break
	}
	if err := sender.WriteMessage(websocket.TextMessage, []byte(`{"message":"after"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-received:
	case <-time.After(5 * time.Second):
		t.Fatal("the room stopped after a member was dropped")
	}
}

// serveHub serves the hub on a free port until the test ends, and returns its address.
func serveHub(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := newApp()
	go app.Listener(ln)
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}
