package channels

import (
	"errors"
	"testing"
	"time"
)

// assertPollerForgot fails if the poller still holds a connection of srv.
func assertPollerForgot(t *testing.T, srv *Server) {
	t.Helper()
	p, err := sharedPoller()
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.server == srv {
			t.Fatalf("the poller still holds an ended connection (%d in all)", len(p.conns))
		}
	}
}

// When the epoll set fails, every parked reader is woken and keeps its goroutine; a
// connection that ends afterwards still leaves the poller.
func TestPollerFailureWakesParkedReaders(t *testing.T) {
	srv, host, codes := serveParking(t, time.Minute)
	ws := dialRoom(t, host)
	waitFor(t, "the reader to park", parkedIs(srv, 1))
	p, err := sharedPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pollerFailed.Store(false) }) // the set itself is fine: later tests park again
	p.fail(errors.New("a failure the test makes up"))
	waitFor(t, "the parked reader to be woken", parkedIs(srv, 0))
	echo(t, ws, "still served")
	ws.NetConn().Close()
	wantCode(t, codes, CloseAbnormal, "a dropped socket after the failure")
	waitFor(t, "no open connection", func() bool { return srv.Stats().Open == 0 })
	assertPollerForgot(t, srv)
}
