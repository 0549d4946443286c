package channels

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"

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
// layer, the groups it joined and a send queue drained by the writer goroutine.
type Conn struct {
	scope    *Scope
	server   *Server
	mailbox  *layer.Mailbox
	handlers map[string]HandlerFunc
	groups   []string
	consumer Consumer
	ws       *websocket.Conn
	socket   atomic.Pointer[websocket.Conn] // ws, for goroutines other than reader and writer

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
	out         [][]byte // frames from event handlers this round (writer goroutine only)
	wake        chan struct{}

	started    chan struct{}
	claimed    atomic.Bool
	readerDone chan struct{}
	writerDone chan struct{}
}

// Scope returns the connection's scope.
func (c *Conn) Scope() *Scope { return c.scope }

// ChannelName is the connection's unique channel name on the layer.
func (c *Conn) ChannelName() string { return c.mailbox.Name }

// Layer returns the channel layer.
func (c *Conn) Layer() layer.Layer { return c.server.opts.Layer }

// Context is cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// Handle registers the handler for layer events of type eventType (Channels maps
// "chat.message" to chat_message by name; Go registers it explicitly).
func (c *Conn) Handle(eventType string, fn HandlerFunc) { c.handlers[eventType] = fn }

// GroupAdd adds the connection's channel to group; it is discarded from it on disconnect.
func (c *Conn) GroupAdd(group string) error {
	if err := c.Layer().GroupAdd(c.ctx, group, c.mailbox.Name); err != nil {
		return err
	}
	c.groups = append(c.groups, group)
	return nil
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
	c.poke()
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
	c.poke()
}

func (c *Conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
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
	c.queue = c.queue[:0]
	c.queued = 0
	r := round{pong: c.pong, closing: c.closing, code: c.closeCode, reason: c.closeReason}
	c.pong = nil
	c.mu.Unlock()
	return frames, r
}

// Reply queues a text frame from an event handler. Handlers run on the writer goroutine,
// so this needs no lock: the frame goes out in the same write as the round it came in. Only
// event handlers may call it; everything else uses Send.
func (c *Conn) Reply(frame []byte) { c.out = append(c.out, frame) }

// dispatch runs the handler registered for ev's type, on the writer goroutine. now is read
// once per round, not once per event.
func (c *Conn) dispatch(ev *layer.Event, now time.Time) {
	c.mailbox.Taken(ev)
	if ev.Expired(now) {
		return
	}
	h, ok := c.handlers[ev.Type]
	if !ok {
		c.server.noHandler.Add(1)
		c.server.log.Error("websocket event without handler", "type", ev.Type, "channel", c.mailbox.Name, "err", ErrNoHandler)
		c.Close(CloseInternalError, "internal error")
		return
	}
	if err := h(c, ev); err != nil {
		c.server.log.Error("websocket event handler failed", "type", ev.Type, "err", err)
		c.Close(CloseInternalError, "internal error")
	}
}

// dispatchWaiting handles first (if any) and up to 256 more events already in the mailbox,
// reading the clock once.
func (c *Conn) dispatchWaiting(first *layer.Event) {
	var now time.Time
	if first != nil {
		now = time.Now()
		c.dispatch(first, now)
	}
	for i := 0; i < 256; i++ {
		select {
		case ev := <-c.mailbox.C:
			if now.IsZero() {
				now = time.Now()
			}
			c.dispatch(ev, now)
		default:
			return
		}
	}
}

// maxKeptWriteBuffer is the largest write buffer returned to writeBuffers; a bigger one
// (a burst of catch-up) is left to the garbage collector.
const maxKeptWriteBuffer = 64 << 10

// writeBuffers lends each round's write buffer: a connection holds one only while it writes,
// so an idle connection keeps none (it kept the largest round it ever had, a presence list of
// a big room say, until this pool).
var writeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// writeLoop is the only goroutine that writes to the socket: data frames, pings, pongs and
// close frames alike, all encoded into one buffer and written with one call per round. It
// selects on the layer mailbox directly, so receiving events costs no extra goroutine.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	opts := c.server.opts
	ping := time.NewTicker(opts.PingInterval)
	defer ping.Stop()
	netConn := c.ws.NetConn()
	var frames [][]byte
	for {
		sendPing := false
		var first *layer.Event
		select {
		case <-c.wake:
		case first = <-c.mailbox.C:
		case <-ping.C:
			sendPing = true
		case <-c.readerDone:
			return
		}
		// Whatever woke the writer, take the events already waiting too, so that a sender's
		// ack (queued) and its own broadcast (an event) go out in one write.
		c.dispatchWaiting(first)
		var r round
		frames, r = c.takeQueue(frames)
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
			buf = appendFrame(buf, opText, f)
		}
		clear(frames)
		clear(c.out)
		c.out = c.out[:0]
		if r.closing {
			buf = appendFrame(buf, opClose, closePayload(r.code, r.reason))
		}
		if len(buf) > 0 {
			deadline := opts.WriteTimeout
			if r.closing {
				deadline = min(deadline, closeGrace)
			}
			_ = netConn.SetWriteDeadline(time.Now().Add(deadline))
			if _, err := netConn.Write(buf); err != nil {
				c.abort()
				return
			}
			c.server.writes.Add(1)
		}
		if cap(buf) <= maxKeptWriteBuffer {
			*pooled = buf
			writeBuffers.Put(pooled)
		}
		if r.closing {
			// The reader now waits a moment for the peer's close frame, then ends.
			_ = c.ws.SetReadDeadline(time.Now().Add(closeGrace))
			return
		}
	}
}

// tooSlow runs (on a sender's goroutine) when the connection's mailbox first drops an event:
// the client cannot keep up. It is closed with 1013 so it reconnects and catches up; a writer
// blocked on a full socket gets a short deadline, so a client that stopped reading entirely is
// found now rather than after WRITE_TIMEOUT.
func (c *Conn) tooSlow() {
	c.server.slowCloses.Add(1)
	c.Close(CloseTryAgainLater, "too slow: reconnect to catch up")
	if ws := c.socket.Load(); ws != nil {
		_ = ws.NetConn().SetWriteDeadline(time.Now().Add(closeGrace))
	}
}

// abort ends a connection whose socket failed: the blocked reader wakes at once.
func (c *Conn) abort() {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.closeCode = true, CloseAbnormal
	}
	c.mu.Unlock()
	_ = c.ws.SetReadDeadline(time.Now())
}

// readLoop reads frames on the handler goroutine until the connection ends and returns the
// close code to report to Disconnect.
func (c *Conn) readLoop() int {
	opts := c.server.opts
	c.ws.SetReadLimit(opts.MaxFrameBytes)
	pongWait := opts.PingInterval * 5 / 2
	_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	// The library would answer pings and close frames from this goroutine; only the writer
	// may write, so hand both to it.
	c.ws.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pong = append([]byte{}, data...)
		c.mu.Unlock()
		c.poke()
		return nil
	})
	c.ws.SetCloseHandler(func(code int, text string) error {
		c.Close(code, "")
		return nil
	})
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			return c.endCode(err)
		}
		if c.isClosing() {
			continue // draining until the peer answers our close frame
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		if kind != websocket.TextMessage {
			c.Close(CloseUnsupported, "binary frames are not supported")
			continue
		}
		if err := c.consumer.Receive(c, data); err != nil {
			c.server.log.Error("websocket receive failed", "path", c.scope.Path, "err", err)
			c.Close(CloseInternalError, "internal error")
		}
	}
}

func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// endCode picks the close code Disconnect sees: ours if we closed, the peer's if it did.
func (c *Conn) endCode(err error) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if errors.Is(err, fws.ErrReadLimit) {
		// The websocket library has already sent 1009 to the peer.
		c.closing, c.closeCode = true, CloseTooBig
		return CloseTooBig
	}
	if c.closing {
		return c.closeCode
	}
	c.closing = true
	var ce *fws.CloseError
	if errors.As(err, &ce) {
		c.closeCode = ce.Code
	} else {
		c.closeCode = CloseAbnormal
	}
	return c.closeCode
}
