package channels

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"chat/app/layer"
)

// Options configure the websocket runtime.
type Options struct {
	Layer          layer.Layer
	AllowedHosts   []string      // Origin hosts allowed to connect; empty means the request's own host
	MaxFrameBytes  int64         // larger frames close the connection with 1009
	SendQueueBytes int           // bytes waiting for one client before it is closed with 1013
	PingInterval   time.Duration // keepalive ping period; silence for 2.5 periods drops the peer
	WriteTimeout   time.Duration // longest one write may block
	// ParkAfter is how long a reader waits on a silent socket before it parks: its goroutine
	// and buffer are let go, and the poller wakes a new one when the peer sends. 0 never
	// parks; neither do readers where there is no epoll (parking needs OwnSockets too).
	ParkAfter time.Duration
	// ReleaseAfterParks: once this many readers parked since the last release and the wave
	// has passed, the process returns its free memory to the system (0: never). A wave of
	// connections leaves their readers' stacks free but mapped, and the runtime keeps most
	// of that: nothing allocates on an idle server, so no collection lowers its goal.
	ReleaseAfterParks int
	Logger            *slog.Logger
}

// Stats are the runtime's counters.
type Stats struct {
	Open       int64  // connections open now
	Accepted   uint64 // handshakes accepted since start
	Denied     uint64 // handshakes refused (origin, Connect)
	SlowCloses uint64 // connections closed with 1013 because the client could not keep up
	NoHandler  uint64 // events that arrived with no handler for their type
	Writes     uint64 // socket writes; each carries every frame its round gathered
	Parked     int64  // connections whose reader is parked: no goroutine reads them
	Releases   uint64 // times free memory was returned to the system after readers parked
}

// Server runs websocket consumers on Fiber routes and keeps track of live connections so it
// can close them all on shutdown.
type Server struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	conns    map[*Conn]struct{}
	draining bool
	idle     chan struct{} // closed when draining and the last connection ended
	sweeping bool          // the sweep goroutine runs: while there are connections

	upgradeWait time.Duration // upgradeTimeout; tests shorten it
	epoch       time.Time     // the sweep's clock counts from here, monotonic (clock)
	ownsSockets bool          // OwnSockets ran: fasthttp leaves upgraded sockets to us

	accepted, denied, slowCloses, noHandler, writes atomic.Uint64
	parked                                          atomic.Int64
	parks, releases                                 atomic.Uint64 // parks ever; memory releases

	// The sweep's record of parks: at the last release, and at its previous tick.
	parksReleased, parksSwept uint64
	releasedAt                int64 // Server.clock of the last release
}

// releaseEvery is the least time between two memory releases: each costs a full collection.
const releaseEvery = 10 * time.Second

// maybeReleaseMemory returns free memory to the system once a wave of parks has passed: at
// least ReleaseAfterParks since the last release, and at most an eighth as many since the
// previous sweep (so a steady trickle does not hold it off forever). The sweep calls it each
// tick.
func (s *Server) maybeReleaseMemory(ns int64) {
	parks := s.parks.Load()
	recent := parks - s.parksSwept
	s.parksSwept = parks
	after := uint64(s.opts.ReleaseAfterParks)
	if after == 0 || parks-s.parksReleased < after || recent > after/8 ||
		(s.releases.Load() > 0 && ns-s.releasedAt < int64(releaseEvery)) {
		return
	}
	s.parksReleased, s.releasedAt = parks, ns
	s.releases.Add(1)
	// Two collections, on a goroutine of their own so the sweep's pings do not wait: what
	// the parked readers put back in pools (their read buffers) survives the first, which
	// only moves pools to their victim caches.
	go func() {
		runtime.GC()
		debug.FreeOSMemory()
	}()
}

// OwnSockets makes app's fasthttp server leave each upgraded socket open when the upgraded
// handler returns (KeepHijackedConns): the runtime closes it when the connection ends. Call
// it before app serves. Only then may readers park, since a parked reader's handler has
// returned while its connection lives on.
func (s *Server) OwnSockets(app *fiber.App) {
	app.Server().KeepHijackedConns = true
	s.ownsSockets = true
}

// parkingOn reports whether this server's readers may ever have parked: parking is set, the
// server owns its sockets and the system has epoll.
func (s *Server) parkingOn() bool {
	return s.ownsSockets && s.opts.ParkAfter > 0 && pollerSupported
}

// parking reports whether silent readers park now: after the epoll set failed they no longer
// do, though connections parked before may still be registered with it.
func (s *Server) parking() bool { return s.parkingOn() && !pollerFailed.Load() }

// NewServer makes a runtime over the given layer.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{opts: opts, log: opts.Logger, conns: map[*Conn]struct{}{}, upgradeWait: upgradeTimeout,
		epoch: time.Now()}
}

// clock is the sweep's time: nanoseconds since the server was made, from the monotonic
// clock, so a step of the wall clock neither delays every ping nor makes them all due.
func (s *Server) clock() int64 { return s.sinceEpoch(time.Now()) }

// sinceEpoch is t on the sweep's clock.
func (s *Server) sinceEpoch(t time.Time) int64 { return int64(t.Sub(s.epoch)) }

// localConn is the Fiber local under which the route hands the connection to the upgrade.
const localConn = "channels.conn"

// upgradeTimeout bounds how long an accepted handshake may wait for its upgraded socket
// before its channel and groups are released.
const upgradeTimeout = 10 * time.Second

// Route returns the Fiber handler that runs a consumer from factory for each websocket
// handshake on that route. Auth middleware must run before it to fill the scope.
func (s *Server) Route(factory Factory) fiber.Handler {
	upgrade := websocket.New(s.run, websocket.Config{
		// Origins stays open here because the allowed origin depends on the request's own
		// host; Route checks it itself, before the upgrade, and answers 403.
		Origins:          []string{"*"},
		HandshakeTimeout: upgradeTimeout,
		// Every socket holds its read buffer for life. A chat frame of about 200 bytes still
		// arrives in one read; frames up to about 1 KiB take one read more than with a 1 KiB
		// buffer, and longer ones took several reads either way.
		ReadBufferSize:  256,
		WriteBufferSize: 1024,
		// The writer goroutine encodes frames itself and writes to the socket directly, so
		// the library's own write buffer is needed only for the rare control frame it sends:
		// pooled, an idle connection holds none.
		WriteBufferPool: &sync.Pool{},
		RecoverHandler: func(conn *websocket.Conn) {
			if r := recover(); r != nil {
				s.log.Error("websocket handler panic", "panic", r)
			}
		},
	})
	return func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.NewError(fiber.StatusUpgradeRequired, "this address only takes websocket connections")
		}
		if !OriginAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host()), s.opts.AllowedHosts) {
			s.denied.Add(1)
			return fiber.NewError(fiber.StatusForbidden, "websocket origin not allowed")
		}
		scope, err := newScope(c)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "malformed URL")
		}
		conn, err := s.open(c.UserContext(), scope, factory(scope), c.Context().Conn())
		if err != nil {
			s.denied.Add(1)
			var deny *DenyError
			if errors.As(err, &deny) {
				return fiber.NewError(deny.Status, deny.Message)
			}
			if errors.Is(err, errDraining) {
				return fiber.NewError(fiber.StatusServiceUnavailable, "server is shutting down")
			}
			return fiber.NewError(fiber.StatusForbidden, err.Error())
		}
		c.Locals(localConn, conn)
		conn.upgradeRequest = c.Context()
		trimUpgradeRequest(c)
		// fasthttp runs the upgraded handler only after the 101 reply is written; if that
		// never happens, the sweep ends the connection after upgradeTimeout.
		if err := upgrade(c); err != nil {
			if conn.claim() {
				conn.finish(CloseAbnormal)
			}
			return err
		}
		s.accepted.Add(1)
		return nil
	}
}

var errDraining = errors.New("channels: draining")

// open makes the connection's channel and runs the consumer's Connect. socket is the
// connection the handshake came on.
func (s *Server) open(ctx context.Context, scope *Scope, consumer Consumer, socket net.Conn) (*Conn, error) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		return nil, errDraining
	}
	mailbox, err := s.opts.Layer.NewChannel(ctx, "specific")
	if err != nil {
		return nil, err
	}
	mailbox.MaxBytes = int64(s.opts.SendQueueBytes)
	cctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		scope:        scope,
		server:       s,
		netConn:      socket,
		mailbox:      mailbox,
		consumer:     consumer,
		ConnectedAt:  time.Now(),
		ctx:          cctx,
		cancel:       cancel,
		writerExited: make(chan struct{}, 1),
	}
	// Until the socket is upgraded the writer counts as running: what Connect sends waits in
	// the queue, and run starts the writer that takes it.
	c.writer.Store(writerRunning)
	mailbox.OnOverflow = c.tooSlow
	mailbox.Notify = c.kick
	err = consumer.Connect(c)
	scope.forgetConnectOnly()
	if err != nil {
		c.release()
		return nil, err
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing { // Connect called Close: Channels treats that as a denied handshake
		c.release()
		return nil, Deny(fiber.StatusForbidden, "connection refused")
	}
	// Register under the lock Shutdown takes, re-checking draining: a connection that slipped
	// in after Shutdown listed the open ones would never be told 1001.
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		consumer.Disconnect(c, CloseGoingAway)
		c.release()
		return nil, errDraining
	}
	// From here the upgrade has upgradeTimeout to bring the socket; Connect's time is its own.
	c.upgradeBy = s.clock() + int64(s.upgradeWait)
	s.conns[c] = struct{}{}
	if !s.sweeping {
		s.sweeping = true
		go s.sweep()
	}
	s.mu.Unlock()
	return c, nil
}

// sweepEvery is how often the sweep looks at the connections: an eighth of the ping period,
// so a ping goes out at most that late, and at least every second for the upgrade timeout.
func sweepEvery(pingInterval time.Duration) time.Duration {
	return min(max(pingInterval/8, 10*time.Millisecond), time.Second)
}

// sweep runs while there are connections. It asks each socket's writer for a ping once per
// PingInterval, and ends the connections whose upgraded socket never came within
// upgradeTimeout. One ticker for every connection replaces a timer each: about 0.2 KiB per
// socket, for a walk over the connections that takes microseconds per thousand.
func (s *Server) sweep() {
	interval := s.opts.PingInterval
	ticker := time.NewTicker(sweepEvery(interval))
	defer ticker.Stop()
	var due, stale, silent []*Conn
	for now := range ticker.C {
		ns := s.sinceEpoch(now)
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.sweeping = false
			s.mu.Unlock()
			return
		}
		for c := range s.conns {
			switch at := c.pingAt.Load(); {
			case at != 0 && ns >= at:
				c.pingAt.Store(ns + int64(interval))
				due = append(due, c)
			case at == 0 && ns > c.upgradeBy && !c.claimed.Load():
				stale = append(stale, c)
			}
			if c.reader.Load() == readerParked && ns >= c.readBy.Load() {
				// A parked reader has no deadline of its own: the peer fell silent past
				// pongWait, or never answered our close frame.
				silent = append(silent, c)
			}
		}
		s.mu.Unlock()
		for _, c := range silent {
			c.wakeReader()
		}
		s.maybeReleaseMemory(ns)
		for i, c := range due {
			c.pingDue.Store(true)
			c.kick()
			if i%pingYieldEvery == pingYieldEvery-1 {
				// Each kick starts an idle socket's writer goroutine. Yielding lets them run
				// and end, so that sockets that connected together, and so are due together,
				// do not keep a writer and its stack each alive at once (as GroupSend).
				runtime.Gosched()
			}
		}
		for _, c := range stale {
			if c.claim() {
				// On its own goroutine: Disconnect and the layer may wait seconds for a slow
				// database or Redis, and the sweep's pings must not.
				go c.finish(CloseAbnormal)
			}
		}
		clear(due)
		clear(stale)
		clear(silent)
		due, stale, silent = due[:0], stale[:0], silent[:0]
	}
}

// pingYieldEvery is how many writers the sweep starts between yields to the scheduler.
const pingYieldEvery = 256

// run is the upgraded handler: this goroutine reads, a second one writes while there is
// something to write. It returns when the connection ends or its reader parks; contrib/websocket
// then recycles ws, which is why the connection keeps the socket itself.
func (s *Server) run(ws *websocket.Conn) {
	c, _ := ws.Locals(localConn).(*Conn)
	if c == nil || !c.claim() {
		_ = ws.NetConn().Close() // owned sockets are closed by us, others by fasthttp anyway
		return
	}
	releaseUpgradeRequest(c.upgradeRequest)
	c.upgradeRequest = nil
	c.mu.Lock()
	c.writing = true
	c.mu.Unlock()
	now := s.clock()
	c.pingAt.Store(now + int64(s.opts.PingInterval))
	c.readBy.Store(now + int64(c.pongWait()))
	c.lastMessage = now
	c.frames.limit = s.opts.MaxFrameBytes
	if c.frames.limit <= 0 {
		c.frames.limit = math.MaxInt32
	}
	go c.writeLoop() // reserved for it in open
	// The first reads go through the wrapper: fasthttp's buffer may hold bytes the client
	// sent right behind its handshake. A reader parks only after a read found nothing there.
	c.ws = ws // the reader lets go of it when it parks or ends
	c.readOn(ws.NetConn())
}

// end finishes a connection whose reader ended: the writer stops, an owed close frame goes
// out, the consumer is told, and the socket is closed.
func (c *Conn) end(code int) {
	c.ws = nil
	c.frames.drop()
	c.stopWriter()
	c.sendOwedClose()
	// Forget before finish: once the connection is gone from the server's count, nothing of it
	// may be left in the poller (Shutdown's wait and the tests rely on it), even if the poller
	// failed since it parked.
	if p, err := sharedPoller(); err == nil && c.server.parkingOn() {
		p.forget(c, c.netConn)
	}
	c.finish(code)
	_ = c.netConn.Close()
	c.server.log.Info("websocket session", "path", c.scope.Path, "client", c.scope.Client,
		"code", code, "duration", time.Since(c.ConnectedAt).Round(time.Millisecond))
}

// disconnect tells the consumer. A Disconnect that panics is logged: the connection's
// channel, registration and socket are let go all the same, and a woken reader's goroutine
// has nothing above it to recover.
func (c *Conn) disconnect(code int) {
	defer func() {
		if r := recover(); r != nil {
			c.server.log.Error("websocket disconnect panic", "panic", r, "path", c.scope.Path)
		}
	}()
	c.consumer.Disconnect(c, code)
}

// releaseUpgradeRequest lets go of the memory of the upgrade request, about 4 KiB of parsed
// headers, cookies and query per socket, and of its locals, which fasthttp would otherwise keep
// for the socket's whole life: it returns the request's context to its pool only when the
// upgraded handler returns. Everything the connection needs was copied out before the upgrade
// (the scope, and contrib/websocket's own copies), and fasthttp's connection goroutine no
// longer touches the context once it has started this goroutine, so emptying it here is safe;
// the context goes back to the pool empty and the next request that takes it parses into fresh
// buffers. It replaces the request rather than Reset it: Reset keeps the buffers for reuse,
// which would neither free them nor leave alone what may still point into them (the websocket's
// subprotocol, say), while replaced buffers stay valid until nothing refers to them.
func releaseUpgradeRequest(rc *fasthttp.RequestCtx) {
	if rc == nil {
		return
	}
	rc.Request = fasthttp.Request{}
	rc.Response = fasthttp.Response{}
	rc.ResetUserValues()
}

// handshakeHeaders are the request headers of the websocket handshake, kept for the upgrade
// (which, as configured here, reads only some of them).
var handshakeHeaders = []string{
	fiber.HeaderHost, fiber.HeaderConnection, fiber.HeaderUpgrade, fiber.HeaderOrigin,
	fiber.HeaderSecWebSocketKey, fiber.HeaderSecWebSocketVersion,
	fiber.HeaderSecWebSocketExtensions, fiber.HeaderSecWebSocketProtocol,
}

// trimUpgradeRequest deletes the request's cookies, every header the upgrade does not read
// (but the proxy header, from which Fiber takes the client's address) and every local but the
// connection. contrib/websocket copies all of them into maps that live as long as the socket,
// about 1.5 KiB per socket of cookies, user agent and the like, plus the session's row the
// auth middleware left in the locals, and nothing reads those copies: the scope has already
// taken what the consumer may need. (An error page for a failed upgrade therefore renders
// without the user, which a websocket client never shows.)
func trimUpgradeRequest(c *fiber.Ctx) {
	var locals []any
	c.Context().VisitUserValuesAll(func(key, value any) {
		if key != localConn {
			locals = append(locals, key)
			// fasthttp closes a closable local when its request ends; this is where the
			// route's request ends for them, and RemoveUserValue does not close.
			if closer, ok := value.(io.Closer); ok {
				_ = closer.Close()
			}
		}
	})
	for _, key := range locals {
		c.Context().RemoveUserValue(key)
	}
	h := &c.Request().Header
	proxy := c.App().Config().ProxyHeader
	var drop []string
	h.VisitAll(func(k, _ []byte) {
		key := string(k)
		needed := strings.EqualFold(key, proxy) || slices.ContainsFunc(handshakeHeaders,
			func(name string) bool { return strings.EqualFold(name, key) })
		if !needed {
			drop = append(drop, key)
		}
	})
	for _, key := range drop {
		h.Del(key)
	}
	h.DelAllCookies()
}

// finish leaves the groups, drops the channel and tells the consumer.
func (c *Conn) finish(code int) {
	c.disconnect(code)
	c.release()
	s := c.server
	s.mu.Lock()
	delete(s.conns, c)
	if s.draining && len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}

// release frees the layer resources of a connection. Closing its channel discards it from
// every group it joined.
func (c *Conn) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Layer().CloseChannel(ctx, c.mailbox.Name)
	c.cancel()
}

// claim lets exactly one owner end the connection: the upgraded handler, or, when the socket
// never comes, the sweep, Shutdown or the route whose upgrade failed.
func (c *Conn) claim() bool { return c.claimed.CompareAndSwap(false, true) }

// Stats returns the runtime's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := int64(len(s.conns))
	s.mu.Unlock()
	return Stats{Open: open, Accepted: s.accepted.Load(), Denied: s.denied.Load(),
		SlowCloses: s.slowCloses.Load(), NoHandler: s.noHandler.Load(), Writes: s.writes.Load(),
		Parked: s.parked.Load(), Releases: s.releases.Load()}
}

// Shutdown refuses new handshakes, closes every connection with 1001 (going away) after its
// queued frames, and waits for them to end or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	var idle chan struct{}
	if len(s.conns) > 0 {
		s.idle = make(chan struct{})
		idle = s.idle
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(CloseGoingAway, "server shutting down")
		// One accepted whose upgraded handler has not started is ended here rather than by
		// the sweep. If the handler wins the claim, it sees closing.
		if c.claim() {
			go c.finish(CloseGoingAway)
		}
	}
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Each calls fn for every open connection (for admin views and targeted closes).
func (s *Server) Each(fn func(*Conn)) {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		fn(c)
	}
}
