package server_test

import (
	"bytes"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// An idle connection keeps only its reader goroutine: the writer ends when it has nothing to
// write and starts again for the next frame, so idle sockets cost one stack each.
func TestIdleSocketsHoldNoWriter(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	a, b := alice.MustDial("lobby", ""), bob.MustDial("lobby", "")

	for round := range 3 {
		a.Send(map[string]any{"message": "hello"})
		a.Expect("chat.message")
		b.Expect("chat.message")
		waitFor(t, "every writer goroutine to end", func() bool { return writers() == 0 })
		if round == 0 {
			// An ended writer starts again for a frame from the client's own request too.
			b.Send(map[string]any{"type": "catchup", "since_seq": 0})
			b.Expect("catchup")
		}
	}
}

// writers counts the goroutines running a connection's write loop.
func writers() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
	return strings.Count(buf.String(), "channels.(*Conn).writeLoop(")
}

// waitFor polls cond until it holds, failing after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
	}
}

// A client that starts the closing handshake gets the server's close frame back with its code
// (RFC 6455 5.5.1), even though the writer may have ended before the reader saw the close.
func TestClientCloseIsAnswered(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	alice := env.NewUser("alice")
	for i := range 20 {
		s := alice.MustDial("lobby", "")
		s.Expect("presence")
		code := 4000 + i
		if err := s.Conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "bye"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := s.CloseCode(3 * time.Second); got != code {
			t.Fatalf("close %d: the server answered %d, want its close frame with %d", i, got, code)
		}
	}
}
