package channels

import (
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// pollerSupported reports whether parked readers can be woken on this system.
const pollerSupported = true

// poller watches the sockets of parked readers in an epoll set of its own and wakes a
// socket's reader when it becomes readable. The set's own descriptor waits in the Go
// runtime's network poller, so no thread blocks on it and no goroutine runs per socket.
type poller struct {
	file  *os.File        // the epoll set, kept open for the process's life
	epfd  int             // its descriptor
	raw   syscall.RawConn // the same, as the runtime's poller sees it
	mu    sync.Mutex
	conns map[int32]*Conn // by pollID
	next  int32
}

var (
	pollerOnce sync.Once
	thePoller  *poller
	pollerErr  error
)

// sharedPoller is the process's poller, made on first use: one epoll set serves every
// Server, as one network poller serves every listener.
func sharedPoller() (*poller, error) {
	pollerOnce.Do(func() { thePoller, pollerErr = newPoller() })
	return thePoller, pollerErr
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor given to os.NewFile is registered with the runtime's poller,
	// which reports the set readable when one of its sockets is.
	file := os.NewFile(uintptr(fd), "channels-epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	p := &poller{file: file, epfd: fd, raw: raw, conns: map[int32]*Conn{}}
	go p.loop()
	return p, nil
}

// loop takes the ready sockets off the set and wakes their readers. Each socket is armed for
// one wake-up (EPOLLONESHOT): its reader arms it again when it parks again.
func (p *poller) loop() {
	events := make([]unix.EpollEvent, 256)
	var woken []*Conn
	for {
		var n int
		var waitErr error
		err := p.raw.Read(func(fd uintptr) bool {
			n, waitErr = unix.EpollWait(int(fd), events, 0)
			if waitErr == unix.EINTR {
				n, waitErr = 0, nil
			}
			return n > 0 || waitErr != nil
		})
		if err == nil {
			err = waitErr
		}
		if err != nil {
			p.fail(os.NewSyscallError("epoll_wait", err))
			return
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if c := p.conns[ev.Fd]; c != nil {
				woken = append(woken, c)
			}
		}
		p.mu.Unlock()
		for _, c := range woken {
			c.wakeReader()
		}
		clear(woken)
		woken = woken[:0]
	}
}

// fail stops parking for good: it is never expected, but a set that no longer reports
// readiness would leave every parked reader to the sweep, which drops it as silent. Every
// parked reader is woken and keeps its goroutine from then on.
func (p *poller) fail(err error) {
	slog.Error("channels: the epoll set failed; readers no longer park", "err", err)
	// Stored before the lock is taken: an arm that takes it after sees the flag, and one that
	// took it before registered a reader that is woken below.
	pollerFailed.Store(true)
	p.mu.Lock()
	parked := slices.Collect(maps.Values(p.conns))
	p.mu.Unlock()
	for _, c := range parked {
		c.wakeReader()
	}
}

// canPoll reports whether conn's reader may park: conn has a descriptor (a TLS connection,
// say, has none of its own to poll).
func (*poller) canPoll(conn net.Conn) bool {
	_, ok := conn.(syscall.Conn)
	return ok
}

// arm adds c's socket to the set, or arms it again, for one wake-up when it is readable.
// It fails once forget has run (the socket is closing) or the socket is closed.
func (p *poller) arm(c *Conn, conn net.Conn) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errNotPollable
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.pollForgotten {
		return net.ErrClosed
	}
	if pollerFailed.Load() {
		return errNotPollable
	}
	op := unix.EPOLL_CTL_MOD
	if !c.pollAdded {
		op = unix.EPOLL_CTL_ADD
		p.next++
		if p.next <= 0 {
			p.next = 1
		}
		for p.conns[p.next] != nil {
			p.next++
		}
		c.pollID = p.next
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.pollID}
	var ctlErr error
	// Control holds the descriptor open, so a socket closed meanwhile is never confused
	// with another that took its number.
	err = raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	if op == unix.EPOLL_CTL_ADD {
		c.pollAdded = true
		p.conns[c.pollID] = c
	}
	return nil
}

// forget takes c's socket out of the set before it is closed; arm fails from then on.
func (p *poller) forget(c *Conn, conn net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.pollForgotten = true
	if !c.pollAdded {
		return
	}
	delete(p.conns, c.pollID)
	c.pollAdded = false
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
			})
		}
	}
}
