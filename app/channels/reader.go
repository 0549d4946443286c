package channels

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// errNotPollable is why a reader cannot park: no poller here, or a socket without a descriptor.
var errNotPollable = errors.New("channels: socket cannot be polled")

// pollerFailed is set when the epoll set failed: from then on no reader parks, and readers
// wait for their pong deadline alone.
var pollerFailed atomic.Bool

// Reader states. A running reader has a goroutine reading the socket; a parked one has none,
// and the poller, the sweep or a closing writer starts one when there is something to read.
const (
	readerRunning int32 = iota
	readerParked
)

// read reads and handles the peer's frames from src on the calling goroutine until the
// connection ends, and returns its close code; or, when the peer has sent no message for
// ParkAfter, parks the reader and returns parked: the goroutine then must end without
// touching the socket, as another may already read it.
func (c *Conn) read(src net.Conn) (code int, parked bool) {
	// Whether the last read drained the socket itself. Only then may a reader park right
	// after a control frame: a goroutine the poller woke reads first, a read that filled the
	// buffer may have left bytes behind, and the first reader reads through fasthttp's
	// buffer, which epoll does not see (it parks only once a read timed out).
	drained := false
	for {
		if err := c.handleBuffered(); err != nil {
			return c.endCode(err), false
		}
		if c.readEnded() {
			return c.endCode(errPeerClosed), false
		}
		now := time.Now()
		ns := c.server.sinceEpoch(now)
		if drained && ns-c.lastMessage >= int64(c.server.opts.ParkAfter) && c.park(false) {
			// Woken for a control frame (a pong, every ping period) with no message for
			// ParkAfter: back to the poller at once, or each ping round would bring every
			// idle socket's goroutine back for ParkAfter.
			return 0, true
		}
		c.moveReadDeadline(src, now, ns)
		short, err := c.frames.fill(src)
		if err == nil {
			drained = short && src == c.netConn
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return c.endCode(err), false
		}
		if c.server.clock() >= c.readBy.Load() {
			return c.endCode(err), false // no pong in time, or no answer to our close frame
		}
		if c.park(true) {
			return 0, true
		}
	}
}

// errPeerClosed ends the reader once the peer's close frame is read.
var errPeerClosed = errors.New("channels: peer closed")

// readEnded reports whether the peer's close frame has been read: nothing after it counts.
func (c *Conn) readEnded() bool { return c.peerClosed.Load() }

// handleBuffered hands every whole message in the buffer to its handler.
func (c *Conn) handleBuffered() error {
	for !c.readEnded() {
		opcode, payload, ok, err := c.frames.nextMessage()
		if err != nil || !ok {
			return err
		}
		if err := c.handleFrame(opcode, payload); err != nil {
			return err
		}
	}
	return nil
}

// handleFrame acts on one message or control frame.
func (c *Conn) handleFrame(opcode byte, payload []byte) error {
	switch opcode {
	case opPing:
		// Only the writer writes: it answers.
		c.mu.Lock()
		c.pong = append([]byte{}, payload...)
		c.mu.Unlock()
		c.kick()
	case opPong:
		if !c.isClosing() { // waiting closeGrace for the peer's close frame: pongs do not extend it
			c.readBy.Store(c.server.clock() + int64(c.pongWait()))
		}
	case opClose:
		code, err := parseClose(payload)
		if err != nil {
			return err
		}
		c.Close(code, "")
		c.peerClosed.Store(true)
	case opText:
		c.handleMessage(payload)
		c.lastMessage = c.server.clock() // after Receive: a slow one is not silence
	default:
		c.lastMessage = c.server.clock()
		if !c.isClosing() {
			c.Close(CloseUnsupported, "binary frames are not supported")
		}
	}
	return nil
}

// handleMessage passes one text message the reader read to the consumer.
func (c *Conn) handleMessage(data []byte) {
	if c.isClosing() {
		return // draining until the peer answers our close frame
	}
	c.readBy.Store(c.server.clock() + int64(c.pongWait()))
	if err := c.consumer.Receive(c, data); err != nil {
		c.server.log.Error("websocket receive failed", "path", c.scope.Path, "err", err)
		c.Close(CloseInternalError, "internal error")
	}
}

// pongWait is how long the peer may be silent before it is dropped: two and a half pings.
func (c *Conn) pongWait() time.Duration { return c.server.opts.PingInterval * 5 / 2 }

// moveReadDeadline sets the socket's read deadline to readBy, or sooner to when the reader
// would park. Like the write deadline, it moves only when it would be earlier, or later by
// over an eighth of the wait, as moving it updates a runtime timer; so a reader parks between
// 7/8 of ParkAfter and ParkAfter after the last frame. It reads readBy again after setting: a
// writer that lowered it meanwhile set the socket's deadline itself, perhaps before this one
// overwrote it.
func (c *Conn) moveReadDeadline(src net.Conn, now time.Time, ns int64) {
	wait := c.pongWait() // readBy is never later than that from now
	if c.server.parking() {
		wait = c.server.opts.ParkAfter
	}
	for {
		by := c.readBy.Load()
		target := min(by, ns+int64(wait))
		if target < c.readDeadline || target-c.readDeadline > int64(wait/8) {
			_ = src.SetReadDeadline(now.Add(time.Duration(target - ns)))
			c.readDeadline = target
		}
		if c.readBy.Load() == by {
			return
		}
		c.readDeadline = 0 // set it again, from the lowered readBy
	}
}

// expectReadBy brings the reader's deadline forward to at (the sweep's clock), unless it is
// sooner already: to wait closeGrace for the peer's close frame, or to end the connection at
// once. It is called from goroutines other than the reader's.
func (c *Conn) expectReadBy(at int64) {
	for {
		by := c.readBy.Load()
		if by != 0 && by <= at {
			at = by
			break
		}
		if c.readBy.CompareAndSwap(by, at) {
			break
		}
	}
	_ = c.netConn.SetReadDeadline(time.Now().Add(time.Duration(at - c.server.clock())))
}

// park leaves the socket to the poller: the reader's buffer goes back to its pool, and the
// goroutine may end. It reports false when the reader must go on reading on this goroutine
// instead (parking is off or impossible, or the deadline has passed). waited is true when
// the reader sat out ParkAfter first: only such parks count towards a memory release, as
// only their goroutines lived long enough to pile up.
func (c *Conn) park(waited bool) bool {
	if !c.server.parking() || !c.frames.empty() || c.frames.msgOp != 0 {
		// A peer that stopped within a frame is not parked: its bytes would hold a buffer.
		return false
	}
	p, err := sharedPoller()
	if err != nil || !p.canPoll(c.netConn) {
		return false
	}
	c.frames.release()
	c.readDeadline = 0
	c.ws = nil // contrib/websocket recycles it once run returns
	c.server.parked.Add(1)
	c.reader.Store(readerParked)
	if err := p.arm(c, c.netConn); err != nil || c.server.clock() >= c.readBy.Load() {
		// Not parked after all (the socket is closing), or a close or abort brought the
		// deadline forward just now and found the reader running.
		return !c.unpark()
	}
	if waited {
		c.server.parks.Add(1)
	}
	return true
}

// unpark takes a parked reader back, so that its caller reads. It reports false when
// another did first.
func (c *Conn) unpark() bool {
	if !c.reader.CompareAndSwap(readerParked, readerRunning) {
		return false
	}
	c.server.parked.Add(-1)
	return true
}

// wakeReader starts a goroutine to read a parked socket: the poller found it readable, or
// the sweep or a closing writer found its deadline passed. A running reader is left alone.
func (c *Conn) wakeReader() {
	if c.unpark() {
		go c.readOn(c.netConn)
	}
}

// readOn reads on this goroutine until the reader parks, or ends the connection. A consumer
// that panics ends its connection with 1011, not the process.
func (c *Conn) readOn(src net.Conn) {
	code, parked := CloseInternalError, false // what a panic in read leaves them
	defer func() {
		if r := recover(); r != nil {
			c.server.log.Error("websocket handler panic", "panic", r, "path", c.scope.Path)
			c.Close(CloseInternalError, "internal error")
		}
		if !parked {
			c.end(code)
		}
	}()
	code, parked = c.read(src)
}
