package channels

import "testing"

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
