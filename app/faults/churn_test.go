package faults

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// TestChurnNoLeaks: 2,000 websocket connect/disconnect cycles (half closed politely, half
// dropped without a close frame, some sending a message) and 200 logins, eight at a time,
// against a server in this process; afterwards the goroutine count and the open file
// descriptors come back near where they were before.
//
// The per-user and per-address connection limits are off: a dropped socket is released a
// moment after the client closed it, and the test is about leaks, not about those limits.
func TestChurnNoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("churn takes a few seconds")
	}
	cfg := apptest.Config(t)
	cfg.MaxConnsPerUser, cfg.MaxConnsPerIP = 0, 0
	cfg.MessageRate, cfg.MessageBurst = 0, 0
	e := apptest.Start(t, cfg)

	const workers, cycles, logins = 8, 2000, 200
	users := make([]*apptest.Client, workers)
	for i := range users {
		users[i] = e.NewUser(fmt.Sprintf("churn%d", i))
	}
	cycle := func(c *apptest.Client, i int) error {
		s, _, err := c.DialRoom(fmt.Sprintf("room%d", i%5), "since=0")
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer s.Conn.Close()
		for {
			f, err := s.Next(10 * time.Second)
			if err != nil {
				return fmt.Errorf("waiting for catchup: %w", err)
			}
			if f.Type() == "catchup" {
				break
			}
		}
		if i%10 == 0 {
			if err := s.Conn.WriteJSON(map[string]any{"message": fmt.Sprintf("churn %d", i)}); err != nil {
				return err
			}
		}
		if i%2 == 0 {
			return nil // dropped: no close frame, just the TCP close
		}
		_ = s.Conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		for { // until the server answers the close
			if _, err := s.Next(5 * time.Second); err != nil {
				return nil
			}
		}
	}
	login := func(c *apptest.Client) {
		fresh := e.NewClient()
		// Its own transport: CloseIdleConnections on the shared default one could break
		// another worker's request in flight.
		tr := &http.Transport{}
		fresh.HTTP.Transport = tr
		fresh.Login(c.Username, "password-"+c.Username)
		tr.CloseIdleConnections()
	}
	run := func(cycles, logins int) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := w; i < cycles; i += workers {
					if err := cycle(users[w], i); err != nil {
						errs <- fmt.Errorf("cycle %d: %w", i, err)
						return
					}
				}
				for i := w; i < logins; i += workers {
					login(users[w])
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}

	run(2*workers, workers) // warm up: pools, prepared statements, lazily started loops
	baseG, baseFD := settle(t, 0, 0)
	start := time.Now()
	run(cycles, logins)
	t.Logf("%d cycles and %d logins in %v", cycles, logins, time.Since(start).Round(time.Millisecond))
	// Goroutines: a few may belong to connections the pools keep; descriptors likewise.
	const tolG, tolFD = 10, 10
	g, fd := settle(t, baseG+tolG, baseFD+tolFD)
	t.Logf("goroutines %d -> %d, open files %d -> %d", baseG, g, baseFD, fd)
	if g > baseG+tolG {
		t.Errorf("goroutines did not come back: %d before, %d after churn\n%s", baseG, g, goroutineDump())
	}
	if fd > baseFD+tolFD {
		t.Errorf("file descriptors did not come back: %d before, %d after churn", baseFD, fd)
	}
}

// settle polls the goroutine and open-file counts until both are at most the given limits
// (0: until they stop falling for a second), for at most 20 s, and returns the last values.
func settle(t *testing.T, maxG, maxFD int) (g, fd int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	bestG, bestFD := 1<<30, 1<<30
	stableSince := time.Now()
	for {
		g, fd = runtime.NumGoroutine(), openFiles(t)
		if maxG > 0 && g <= maxG && fd <= maxFD {
			return g, fd
		}
		if g < bestG || fd < bestFD {
			bestG, bestFD, stableSince = min(bestG, g), min(bestFD, fd), time.Now()
		}
		if maxG == 0 && time.Since(stableSince) > time.Second {
			return bestG, bestFD
		}
		if time.Now().After(deadline) {
			return g, fd
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func openFiles(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
