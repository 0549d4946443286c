package channels

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/valyala/fasthttp"

	"chat/app/layer"
)

// ErrQueueFull is returned by Send when the client has more bytes waiting than the limit;
// the connection is then closed with 1013 so the client reconnects and catches up.
var ErrQueueFull = errors.New("channels: send queue full")

// ErrClosed is returned by Send on a connection that is closing.
var ErrClosed = errors.New("channels: connection closed")

// closeGrace is how long the reader waits for the peer to answer our close frame.
const closeGrace = time.Second

// Conn is one websocket connection as its consumer sees it: the scope, a channel on the
// layer (and through it the groups it joined) and a send queue drained by the writer
// goroutine.
type Conn struct {
	scope    *Scope
	server   *Server
	mailbox  *layer.Mailbox
	handlers []eventHandler
	consumer Consumer
	// The socket itself, not the wrapper the upgrade hands to run: the wrapper reads through
	// fasthttp's buffer and is recycled when run returns, while a parked reader's next
	// goroutine reads the socket directly.
	netConn net.Conn
	// The upgrade's wrapper while run's goroutine reads (tests read contrib/websocket's
	// copies of the handshake from it); the reader drops it when it parks or ends.
	ws *websocket.Conn

	// ConnectedAt is when the handshake arrived.
	ConnectedAt time.Time

	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	queue       [][]byte
	queued      int
	writing     bool // the writer runs, so the byte limit applies
	closing     bool
	closeCode   int
	closeReason string
	pong        []byte   // ping payload to answer, set by the reader
	out         [][]byte // encoded frames from event handlers this round (writer goroutine only)

	// The write deadline in force (Unix ns), set by the writer (or by sendOwedClose once it
	// ended).
	writeDeadline int64

	// The writer goroutine runs only while there is something to write: kick starts it, and it
	// ends when a round finds nothing, so an idle connection has one goroutine (the reader),
	// or none once its reader parks.
	writer       atomic.Int32  // writerIdle, writerRunning or writerEnded
	writerExited chan struct{} // a token each time a writer goroutine ends
	readerEnded  atomic.Bool
	pingDue      atomic.Bool
	pingAt       atomic.Int64 // when the server's sweep next pings (Server.clock); 0 before run
	upgradeBy    int64        // by when run must claim it (Server.clock); set in open under s.mu
	closeSent    atomic.Bool  // a close frame went out
	peerClosed   atomic.Bool  // the peer sent a close frame, which must be answered

	// The reader's side. frames and readDeadline belong to the goroutine reading, which
	// changes when a parked reader is woken (reader's compare-and-swap orders them).
	frames       frameReader
	readDeadline int64        // the socket's read deadline in force (Server.clock)
	lastMessage  int64        // when the peer last sent a message, not a control frame (Server.clock)
	readBy       atomic.Int64 // when the peer's silence ends the connection (Server.clock)
	reader       atomic.Int32 // readerRunning or readerParked
	// The poller's registration, guarded by its lock.
	pollID                   int32
	pollAdded, pollForgotten bool

	claimed atomic.Bool // run, or whoever ends a socket that never came, owns the connection

	// The upgrade request's fasthttp context, which fasthttp keeps until the upgraded handler
	// returns; run empties it (releaseUpgradeRequest).
	upgradeRequest *fasthttp.RequestCtx
}

// Writer states: at most one writer goroutine runs; once ended, none starts again.
const (
	writerIdle int32 = iota
	writerRunning
	writerEnded
)

// Scope returns the connection's scope.
func (c *Conn) Scope() *Scope { return c.scope }

// ChannelName is the connection's unique channel name on the layer.
func (c *Conn) ChannelName() string { return c.mailbox.Name }

// Layer returns the channel layer.
func (c *Conn) Layer() layer.Layer { return c.server.opts.Layer }

// Context is cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// eventHandler is one registered handler. A consumer registers a handful, so a slice
// searched in order costs less than a map, in memory held by every socket and in time.
type eventHandler struct {
	eventType string
	fn        HandlerFunc
}

// Handle registers the handler for layer events of type eventType (Channels maps
// "chat.message" to chat_message by name; Go registers it explicitly), replacing any
// registered before for that type. Call it in Connect: from then on the writer goroutine
// reads the handlers. Register the most frequent type first: dispatch tries them in order.
func (c *Conn) Handle(eventType string, fn HandlerFunc) {
	if i := c.handlerIndex(eventType); i >= 0 {
		c.handlers[i].fn = fn
		return
	}
	c.handlers = append(c.handlers, eventHandler{eventType, fn})
}

// handlerIndex is where the handler of eventType is in c.handlers, or -1.
func (c *Conn) handlerIndex(eventType string) int {
	for i := range c.handlers {
		if c.handlers[i].eventType == eventType {
			return i
		}
	}
	return -1
}

// GroupAdd adds the connection's channel to group; it is discarded from it on disconnect,
// when the runtime closes the channel.
func (c *Conn) GroupAdd(group string) error {
	// Not cancelled with the connection: the layers bound their own waits, and a context
	// derived from the connection's would leave a children map on it for the socket's life.
	return c.Layer().GroupAdd(context.WithoutCancel(c.ctx), group, c.mailbox.Name)
}

// Send queues a text frame. It never blocks: frames are written by the writer goroutine.
func (c *Conn) Send(frame []byte) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.writing && c.queued+len(frame) > c.server.opts.SendQueueBytes {
		c.mu.Unlock()
		c.server.slowCloses.Add(1)
		c.Close(CloseTryAgainLater, "too slow: reconnect to catch up")
		return ErrQueueFull
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.mu.Unlock()
	c.kick()
	return nil
}

// SendJSON encodes v and queues it as a text frame.
func (c *Conn) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(b)
}

// Close asks the writer to send a close frame with code and end the connection. Frames queued
// before it are written first. Calling it again has no effect.
func (c *Conn) Close(code int, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing, c.closeCode, c.closeReason = true, code, reason
	c.mu.Unlock()
	c.kick()
}

// kick starts the writer goroutine unless it runs (or has ended). The writer's own check
// before it ends pairs with this: either it sees what was just queued, or kick sees it idle.
func (c *Conn) kick() {
	if c.writer.CompareAndSwap(writerIdle, writerRunning) {
		go c.writeLoop()
	}
}

// pending reports whether a writer round would have anything to do.
func (c *Conn) pending() bool {
	if c.mailbox.Len() > 0 || c.pingDue.Load() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) > 0 || c.pong != nil || c.closing
}

// stopWriter, once the reader has ended, waits for a running writer to end and keeps any
// other from starting.
func (c *Conn) stopWriter() {
	c.readerEnded.Store(true)
	for {
		switch c.writer.Load() {
		case writerEnded:
			return
		case writerIdle:
			if c.writer.CompareAndSwap(writerIdle, writerEnded) {
				return
			}
		default:
			<-c.writerExited
		}
	}
}

// round is what the writer must do besides data frames.
type round struct {
	pong    []byte // answer a ping with this payload
	closing bool
	code    int
	reason  string
}

// takeQueue hands the writer everything queued, a pending pong, and whether to close.
func (c *Conn) takeQueue(buf [][]byte) ([][]byte, round) {
	c.mu.Lock()
	frames := append(buf[:0], c.queue...)
	clear(c.queue)
	if cap(c.queue) > 16 {
		c.queue = nil // a burst's array is let go; an idle connection holds none
	} else {
		c.queue = c.queue[:0]
	}
	c.queued = 0
	r := round{pong: c.pong, closing: c.closing, code: c.closeCode, reason: c.closeReason}
	c.pong = nil
	c.mu.Unlock()
	return frames, r
}

// Forward queues ev's data as a text frame from an event handler. Handlers run on the writer
// goroutine, so this needs no lock: the frame goes out in the same write as the round it came
// in. The frame is encoded once per event and shared by every connection that forwards it.
// Only event handlers may call it; everything else uses Send.
func (c *Conn) Forward(ev *layer.Event) { c.out = append(c.out, ev.Prepared(textFrame)) }

// textFrame encodes data as one text frame.
func textFrame(data []byte) []byte { return appendFrame(make([]byte, 0, len(data)+10), opText, data) }

// dispatch runs the handler registered for ev's type, on the writer goroutine. now is read
// once per round, not once per event.
func (c *Conn) dispatch(ev *layer.Event, now time.Time) {
	if ev.Expired(now) {
		return
	}
	i := c.handlerIndex(ev.Type)
	if i < 0 {
		c.server.noHandler.Add(1)
		c.server.log.Error("websocket event without handler", "type", ev.Type, "channel", c.mailbox.Name, "err", ErrNoHandler)
		c.Close(CloseInternalError, "internal error")
		return
	}
	if err := c.handlers[i].fn(c, ev); err != nil {
		c.server.log.Error("websocket event handler failed", "type", ev.Type, "err", err)
		c.Close(CloseInternalError, "internal error")
	}
}

// dispatchWaiting handles up to 256 events waiting in the mailbox, reading the clock once,
// and reports how many it took.
func (c *Conn) dispatchWaiting() int {
	var buf [32]*layer.Event // a round takes one or a few; the array stays on the stack
	n := 0
	for n < 256 {
		events := c.mailbox.PollAppend(buf[:0], min(len(buf), 256-n))
		if len(events) == 0 {
			break
		}
		now := time.Now()
		for i, ev := range events {
			c.dispatch(ev, now)
			events[i] = nil
		}
		n += len(events)
		if len(events) < len(buf) {
			break // the mailbox was emptied
		}
	}
	return n
}

// maxKeptWriteBuffer is the largest write buffer returned to writeBuffers; a bigger one
// (a burst of catch-up) is left to the garbage collector.
const maxKeptWriteBuffer = 64 << 10

// writeBuffers lends each round's write buffer: a connection holds one only while it writes,
// so an idle connection keeps none (it kept the largest round it ever had, a presence list of
// a big room say, until this pool).
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writerScratch is what a writer goroutine reuses from round to round: the queued frames it
// took and the frames event handlers forwarded. A writer borrows one while it runs, so an
// idle connection holds none, and a busy one does not allocate them each time it starts (they
// were a third of the server's garbage in B).
type writerScratch struct{ frames, out [][]byte }

var writerScratches = sync.Pool{New: func() any {
	return &writerScratch{frames: make([][]byte, 0, 8), out: make([][]byte, 0, 8)}
}}

// maxKeptScratch is the most frames a scratch returned to writerScratches holds.
const maxKeptScratch = 256

// borrowScratch gives the writer a scratch: c.out, and the frames slice it returns.
func (c *Conn) borrowScratch() (*writerScratch, [][]byte) {
	scratch := writerScratches.Get().(*writerScratch)
	c.out = scratch.out[:0]
	return scratch, scratch.frames[:0]
}

// returnScratch gives it back. The writer calls it before it changes its state: once it is
// idle, another writer may start and take c.out.
func (c *Conn) returnScratch(scratch *writerScratch, frames [][]byte) {
	if cap(c.out) <= maxKeptScratch && cap(frames) <= maxKeptScratch {
		scratch.out, scratch.frames = c.out[:0], frames[:0]
		writerScratches.Put(scratch)
	}
	c.out = nil
}

// writeLoop is the only goroutine that writes to the socket: data frames, pings, pongs and
// close frames alike, all encoded into one buffer and written with one call per round. It
// runs while rounds find work and ends on the first that finds none; kick starts it again.
func (c *Conn) writeLoop() {
	defer func() {
		// Only stopWriter waits for a token, and only after the reader ended: a writer that
		// sees readerEnded false here ended before stopWriter could see it running.
		if !c.readerEnded.Load() {
			return
		}
		select {
		case c.writerExited <- struct{}{}:
		default:
		}
	}()
	scratch, frames := c.borrowScratch()
	for {
		if c.readerEnded.Load() {
			c.returnScratch(scratch, frames)
			c.writer.Store(writerEnded)
			return
		}
		var worked, done bool
		frames, worked, done = c.writeRound(frames)
		if done {
			c.returnScratch(scratch, frames)
			c.writer.Store(writerEnded)
			return
		}
		if worked {
			continue
		}
		c.returnScratch(scratch, frames)
		c.writer.Store(writerIdle)
		// Something queued after the round looked, whose kick saw the writer running, is ours.
		if !c.pending() || !c.writer.CompareAndSwap(writerIdle, writerRunning) {
			return
		}
		scratch, frames = c.borrowScratch()
	}
}

// writeRound writes what is waiting: a pong, a ping, queued frames, the frames of the events
// in the mailbox, and a close frame. worked is false when there was nothing; done is true when
// the connection is finished for the writer (close sent, or the socket failed).
func (c *Conn) writeRound(frames [][]byte) (_ [][]byte, worked, done bool) {
	opts := c.server.opts
	// Whatever woke the writer, take the events already waiting too, so that a sender's ack
	// (queued) and its own broadcast (an event) go out in one write.
	events := c.dispatchWaiting()
	frames, r := c.takeQueue(frames)
	sendPing := c.pingDue.Swap(false)
	if events == 0 && len(frames) == 0 && len(c.out) == 0 && r.pong == nil && !sendPing && !r.closing {
		return frames, false, false
	}
	if len(c.out) == 1 && len(frames) == 0 && r.pong == nil && !sendPing && !r.closing {
		// One event's shared frame, the common case of a broadcast: written as it is,
		// without a buffer of this connection's own.
		err := c.write(c.out[0], opts.WriteTimeout)
		c.out[0] = nil
		c.out = c.out[:0]
		return frames, true, err != nil
	}
	pooled := writeBuffers.Get().(*[]byte)
	buf := (*pooled)[:0]
	if r.pong != nil {
		buf = appendFrame(buf, opPong, r.pong)
	}
	if sendPing {
		buf = appendFrame(buf, opPing, nil)
	}
	// Queued frames first: they include what Connect sent (catch-up), which must precede
	// the live events handled this round.
	for _, f := range frames {
		buf = appendFrame(buf, opText, f)
	}
	for _, f := range c.out {
		buf = append(buf, f...)
	}
	clear(frames)
	clear(c.out)
	c.out = c.out[:0]
	sendClose := r.closing && r.code != CloseAbnormal && !c.closeSent.Load() // 1006 is never sent
	if sendClose {
		buf = appendFrame(buf, opClose, closePayload(r.code, r.reason))
		c.closeSent.Store(true)
	}
	defer func() {
		if cap(buf) <= maxKeptWriteBuffer {
			*pooled = buf
			writeBuffers.Put(pooled)
		}
	}()
	if len(buf) > 0 {
		deadline := opts.WriteTimeout
		if r.closing {
			deadline = min(deadline, closeGrace)
		}
		if err := c.write(buf, deadline); err != nil {
			return frames, true, true
		}
	}
	if r.closing {
		// The reader now waits a moment for the peer's close frame, then ends.
		c.expectReadBy(c.server.clock() + int64(closeGrace))
		return frames, true, true
	}
	return frames, true, false
}

// write sends b with one system call, blocking at most about timeout; on failure it aborts
// the connection.
func (c *Conn) write(b []byte, timeout time.Duration) error {
	netConn := c.netConn
	// Moving a deadline updates a runtime timer (3 % of the server's core when every write
	// moved it): it is moved only when it would be earlier, or over an eighth of timeout
	// later, so a write may block between 7/8 of timeout and timeout.
	d := time.Now().Add(timeout)
	if ns := d.UnixNano(); ns < c.writeDeadline || ns-c.writeDeadline > int64(timeout/8) {
		_ = netConn.SetWriteDeadline(d)
		c.writeDeadline = ns
	}
	c.server.writes.Add(1) // before the write, so a client that got the bytes sees it counted
	if _, err := netConn.Write(b); err != nil {
		c.abort()
		return err
	}
	return nil
}

// tooSlow runs (on a sender's goroutine) when the connection's mailbox first drops an event:
// the client cannot keep up. It is closed with 1013 so it reconnects and catches up; a writer
// blocked on a full socket gets a short deadline, so a client that stopped reading entirely is
// found now rather than after WRITE_TIMEOUT.
func (c *Conn) tooSlow() {
	c.server.slowCloses.Add(1)
	c.Close(CloseTryAgainLater, "too slow: reconnect to catch up")
	_ = c.netConn.SetWriteDeadline(time.Now().Add(closeGrace))
}

// sendOwedClose sends the close frame the writer ended before it could: the answer to the
// peer's (RFC 6455 5.5.1), or ours for a protocol error the reader found. It runs on the
// reader's goroutine once the writer has ended, so it may write.
func (c *Conn) sendOwedClose() {
	if c.closeSent.Load() {
		return
	}
	c.mu.Lock()
	closing, code, reason := c.closing, c.closeCode, c.closeReason
	c.mu.Unlock()
	if !closing || code == CloseAbnormal {
		return
	}
	c.closeSent.Store(true)
	_ = c.write(appendFrame(nil, opClose, closePayload(code, reason)), closeGrace)
}

// abort ends a connection whose socket failed: the blocked reader wakes at once, and a
// parked one is woken to end it.
func (c *Conn) abort() {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.closeCode = true, CloseAbnormal
	}
	c.mu.Unlock()
	c.expectReadBy(c.server.clock())
	c.wakeReader()
}

func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// endCode picks the close code Disconnect sees: ours if we closed, the peer's if it did, the
// protocol error's if the peer broke the protocol, and 1006 if the socket failed.
func (c *Conn) endCode(err error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return c.closeCode
	}
	c.closing, c.closeCode = true, CloseAbnormal
	var pe *protocolError
	if errors.As(err, &pe) {
		c.closeCode, c.closeReason = pe.code, pe.reason
	}
	return c.closeCode
}
