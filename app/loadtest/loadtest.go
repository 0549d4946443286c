// Package loadtest is the `chat loadtest` command: it registers its own users through the
// real forms, opens authenticated websockets spread over loopback source addresses, drives
// R rooms x S members with K senders per room at a target rate, and reports delivery rate,
// loss, duplicates, latency percentiles and the CPU and memory both sides spent.
package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"
)

// Options describe one run.
type Options struct {
	URL         string        // the server, e.g. http://127.0.0.1:8080
	Rooms       int           // R
	Members     int           // S, connections per room
	Senders     int           // K, senders per room (each also a member)
	Rate        float64       // total messages per second over all senders
	Duration    time.Duration // measured time
	Warmup      time.Duration // traffic before measuring
	Idle        bool          // only hold the connections; then one broadcast to measure fan-out
	Users       int           // distinct accounts (0: one per sender plus up to 100 more)
	Password    string
	Sources     int    // loopback source addresses 127.0.0.2 .. to spread connections over
	ServerPID   int    // when set, the server's CPU time and RSS are measured from /proc
	RoomPrefix  string // room names are RoomPrefix + index
	MessageSize int    // pad message text to this many bytes
	Dialers     int    // handshakes in flight at once
	// ClientIDs is how messages carry a client_id, the key the server deduplicates resends
	// on: "time" (time-ordered, the UUIDv7 layout the page sends; the default), "random" (a
	// random UUID) or "none".
	ClientIDs string
}

// Report is what a run measured.
type Report struct {
	Connections       int
	ConnectFailures   int
	ConnectP50        time.Duration
	ConnectP99        time.Duration
	Sent              uint64 // messages sent in the measured window
	SendErrors        uint64 // error frames received by senders (rate limits, store failures)
	Expected          uint64 // deliveries expected in the window: sent x members of the room
	Received          uint64 // distinct deliveries received of those
	Duplicates        uint64
	Lost              int64
	DeliveriesPerSec  float64
	P50, P90, P99     time.Duration
	Max               time.Duration
	Window            time.Duration
	ServerCPU         time.Duration // server user+system CPU in the window
	ServerRSSBefore   int64         // bytes, before connecting
	ServerRSSAfter    int64         // bytes, at the end of the window
	ServerDiskWrites  int64         // bytes the server caused to be written to storage in the window, -1 if unknown
	ClientCPU         time.Duration
	ServerCPUPerDeliv time.Duration
	ClientCPUPerDeliv time.Duration
	Dropped           uint64      // connections that ended during the run
	CloseCodes        map[int]int // their close codes (1013: too slow to read)
}

type conn struct {
	ws     *websocket.Conn
	room   int
	sender int // index among all senders, or -1
	mu     sync.Mutex
	last   map[int]int64 // highest seq seen per sender
	hist   histogram
	recv   uint64
	dups   uint64
}

type run struct {
	opts    Options
	base    string
	host    string
	conns   []*conn
	t0, t1  atomic.Int64 // measured window, unix nanos
	sent    []atomic.Uint64
	errors  atomic.Uint64
	members []int

	finished   atomic.Bool   // set before closing, so readers' ends are not counted as drops
	dropped    atomic.Uint64 // connections that ended during the run
	closeMu    sync.Mutex
	closeCodes map[int]int // close codes of dropped connections
}

// Run executes a load test and writes a human-readable report to out.
func Run(ctx context.Context, o Options, out io.Writer) (*Report, error) {
	if o.Rooms <= 0 || o.Members <= 0 || o.Senders < 0 || o.Senders > o.Members {
		return nil, errors.New("need rooms > 0, members > 0 and 0 <= senders <= members")
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad -url %q", o.URL)
	}
	if o.Password == "" {
		o.Password = "loadtest-password"
	}
	if o.Dialers <= 0 {
		o.Dialers = 64
	}
	if o.RoomPrefix == "" {
		o.RoomPrefix = "load-"
	}
	switch o.ClientIDs {
	case "":
		o.ClientIDs = "time"
	case "random", "time", "none":
	default:
		return nil, fmt.Errorf("bad client-id kind %q: random, time or none", o.ClientIDs)
	}
	r := &run{opts: o, base: u.Scheme + "://" + u.Host, host: u.Host}
	rep := &Report{}
	rep.ServerRSSBefore, _ = readRSS(o.ServerPID)

	nSenders := o.Rooms * o.Senders
	users := o.Users
	if users <= 0 {
		users = nSenders + min(100, o.Rooms*o.Members)
	}
	prefix := fmt.Sprintf("lt%x-", rand.Uint32())
	fmt.Fprintf(out, "registering %d users through /register ...\n", users)
	accounts, err := registerUsers(ctx, r.base, prefix, o.Password, users, 8)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "opening %d websockets (%d rooms x %d members) ...\n", o.Rooms*o.Members, o.Rooms, o.Members)
	connectHist, failures := r.connectAll(ctx, accounts, nSenders)
	rep.Connections, rep.ConnectFailures = len(r.conns), failures
	rep.ConnectP50, rep.ConnectP99 = connectHist.quantile(0.5), connectHist.quantile(0.99)
	defer func() {
		r.finished.Store(true)
		for _, c := range r.conns {
			c.ws.Close()
		}
	}()
	if len(r.conns) == 0 {
		return rep, errors.New("no connection could be opened")
	}
	var readers sync.WaitGroup
	for _, c := range r.conns {
		readers.Add(1)
		go func() { defer readers.Done(); r.read(c) }()
	}
	// Let the join announcements settle before measuring.
	time.Sleep(min(2*time.Second, 200*time.Millisecond+time.Duration(len(r.conns))*50*time.Microsecond))

	if o.Idle {
		return r.idle(ctx, rep, out)
	}
	r.sent = make([]atomic.Uint64, o.Rooms)
	start := time.Now()
	r.t0.Store(start.Add(o.Warmup).UnixNano())
	r.t1.Store(start.Add(o.Warmup + o.Duration).UnixNano())
	fmt.Fprintf(out, "sending %.0f msg/s for %s (+%s warm-up) ...\n", o.Rate, o.Duration, o.Warmup)

	var cpu0, srv0 time.Duration
	var senders sync.WaitGroup
	stop := time.Unix(0, r.t1.Load())
	for _, c := range r.conns {
		if c.sender < 0 {
			continue
		}
		senders.Add(1)
		go func() { defer senders.Done(); r.send(ctx, c, nSenders, stop) }()
	}
	sleepUntil(ctx, time.Unix(0, r.t0.Load()))
	cpu0, srv0 = selfCPU(), serverCPU(o.ServerPID)
	disk0, known0 := diskWrites(o.ServerPID)
	sleepUntil(ctx, stop)
	cpu1, srv1 := selfCPU(), serverCPU(o.ServerPID)
	rep.ServerDiskWrites = -1
	if disk1, known1 := diskWrites(o.ServerPID); known0 && known1 && disk1 >= disk0 {
		rep.ServerDiskWrites = disk1 - disk0
	}
	rep.ServerRSSAfter, _ = readRSS(o.ServerPID)
	senders.Wait()
	r.drain(ctx)
	rep.Window = o.Duration
	rep.ClientCPU, rep.ServerCPU = cpu1-cpu0, srv1-srv0
	r.collect(rep)
	printReport(out, o, rep)
	return rep, nil
}

// connectAll opens every connection, Dialers at a time, spread over source addresses.
func (r *run) connectAll(ctx context.Context, accounts []account, nSenders int) (*histogram, int) {
	o := r.opts
	total := o.Rooms * o.Members
	type slot struct{ i, room, sender int }
	work := make(chan slot)
	var mu sync.Mutex
	hist := &histogram{}
	failures := 0
	r.conns = make([]*conn, 0, total)
	var wg sync.WaitGroup
	for w := 0; w < o.Dialers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				acc := accounts[s.i%len(accounts)]
				if s.sender >= 0 {
					acc = accounts[s.sender%len(accounts)]
				} else if len(accounts) > nSenders {
					acc = accounts[nSenders+s.i%(len(accounts)-nSenders)]
				}
				t := time.Now()
				ws, err := r.dial(ctx, s.i, s.room, acc)
				mu.Lock()
				if err != nil {
					failures++
					if failures <= 3 {
						fmt.Printf("connect failed: %v\n", err)
					}
				} else {
					hist.record(time.Since(t))
					r.conns = append(r.conns, &conn{ws: ws, room: s.room, sender: s.sender, last: map[int]int64{}})
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < total; i++ {
		room, member := i%o.Rooms, i/o.Rooms
		sender := -1
		if member < o.Senders {
			sender = room*o.Senders + member
		}
		select {
		case work <- slot{i, room, sender}:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	r.members = make([]int, o.Rooms)
	for _, c := range r.conns {
		r.members[c.room]++
	}
	return hist, failures
}

func (r *run) dial(ctx context.Context, i, room int, acc account) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}
	if n := r.opts.Sources; n > 0 {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(i%n/250), byte(2+i%n%250))}
		nd := &net.Dialer{LocalAddr: src, Timeout: 30 * time.Second}
		d.NetDialContext = nd.DialContext
	}
	h := http.Header{}
	h.Set("Origin", r.base)
	h.Set("Cookie", acc.cookie)
	u := "ws://" + r.host + "/ws/chat/" + url.PathEscape(r.opts.RoomPrefix+strconv.Itoa(room)) + "/"
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %v (HTTP %d)", u, err, resp.StatusCode)
		}
		return nil, err
	}
	return ws, nil
}

var (
	msgPrefix   = []byte(`{"type":"chat.message"`)
	bodyMarker  = []byte(`"message":"lt `)
	errorPrefix = []byte(`{"type":"error"`)
)

// read counts this connection's deliveries. It only scans the frame for the fields it needs,
// so the load generator stays cheaper than the server it measures.
func (r *run) read(c *conn) {
	buf := make([]byte, 0, 512)
	for {
		data, err := readFrame(c.ws, buf)
		if err != nil {
			if !r.finished.Load() {
				r.dropped.Add(1)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					r.noteClose(ce.Code)
				}
			}
			return
		}
		buf = data[:0]
		now := time.Now().UnixNano()
		if bytes.HasPrefix(data, errorPrefix) {
			if c.sender >= 0 {
				r.errors.Add(1)
			}
			continue
		}
		if !bytes.HasPrefix(data, msgPrefix) {
			continue
		}
		i := bytes.Index(data, bodyMarker)
		if i < 0 {
			continue
		}
		rest := data[i+len(bodyMarker):]
		sender, rest := parseInt(rest)
		seq, rest := parseInt(rest)
		sentAt, _ := parseInt(rest)
		if sentAt < r.t0.Load() || sentAt > r.t1.Load() {
			continue
		}
		c.mu.Lock()
		if last, ok := c.last[int(sender)]; ok && seq <= last {
			c.dups++
		} else {
			c.last[int(sender)] = seq
			c.recv++
			c.hist.record(time.Duration(now - sentAt))
		}
		c.mu.Unlock()
	}
}

// readFrame reads the next message into buf (grown as needed), without allocating per frame.
func readFrame(ws *websocket.Conn, buf []byte) ([]byte, error) {
	_, rd, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (r *run) noteClose(code int) {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closeCodes == nil {
		r.closeCodes = map[int]int{}
	}
	r.closeCodes[code]++
}

// parseInt reads a decimal number and skips the space after it.
func parseInt(b []byte) (int64, []byte) {
	var n int64
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	if i < len(b) && b[i] == ' ' {
		i++
	}
	return n, b[i:]
}

// send paces one sender at its share of the total rate until stop.
func (r *run) send(ctx context.Context, c *conn, nSenders int, stop time.Time) {
	interval := time.Duration(float64(time.Second) * float64(nSenders) / r.opts.Rate)
	next := time.Now().Add(time.Duration(rand.Int64N(int64(interval) + 1)))
	var seq int64
	pad := ""
	if r.opts.MessageSize > 40 {
		pad = " " + string(bytes.Repeat([]byte("x"), r.opts.MessageSize-40))
	}
	buf := make([]byte, 0, 128+len(pad))
	for ctx.Err() == nil {
		sleepUntil(ctx, next)
		now := time.Now()
		if now.After(stop) {
			return
		}
		seq++
		ts := now.UnixNano()
		buf = append(buf[:0], `{"message":"lt `...)
		buf = strconv.AppendInt(buf, int64(c.sender), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, ts, 10)
		buf = append(buf, pad...)
		buf = append(buf, '"')
		if r.opts.ClientIDs != "none" {
			buf = append(buf, `,"client_id":"`...)
			buf = append(buf, clientID(r.opts.ClientIDs)...)
			buf = append(buf, '"')
		}
		buf = append(buf, '}')
		if err := c.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
			return
		}
		if ts >= r.t0.Load() && ts <= r.t1.Load() {
			r.sent[c.room].Add(1)
		}
		next = next.Add(interval)
	}
}

// clientID is a UUID in text form: version 7 for "time" (its first 48 bits are the time in
// milliseconds, as the page makes them), else random (version 4).
func clientID(kind string) string {
	if kind == "time" {
		if id, err := uuid.NewV7(); err == nil {
			return id.String()
		}
	}
	return uuid.NewString()
}

// drain waits until deliveries stop growing, so the last messages of the window arrive.
func (r *run) drain(ctx context.Context) {
	var last uint64
	for i := 0; i < 50 && ctx.Err() == nil; i++ {
		time.Sleep(200 * time.Millisecond)
		var n uint64
		for _, c := range r.conns {
			c.mu.Lock()
			n += c.recv
			c.mu.Unlock()
		}
		if n == last && i >= 2 {
			return
		}
		last = n
	}
}

func (r *run) collect(rep *Report) {
	hist := &histogram{}
	for _, c := range r.conns {
		c.mu.Lock()
		hist.merge(&c.hist)
		rep.Received += c.recv
		rep.Duplicates += c.dups
		c.mu.Unlock()
	}
	for room := range r.sent {
		n := r.sent[room].Load()
		rep.Sent += n
		rep.Expected += n * uint64(r.members[room])
	}
	rep.SendErrors = r.errors.Load()
	rep.Dropped = r.dropped.Load()
	r.closeMu.Lock()
	rep.CloseCodes = maps.Clone(r.closeCodes)
	r.closeMu.Unlock()
	rep.Lost = int64(rep.Expected) - int64(rep.Received)
	rep.DeliveriesPerSec = float64(rep.Received) / rep.Window.Seconds()
	rep.P50, rep.P90, rep.P99, rep.Max = hist.quantile(0.5), hist.quantile(0.9), hist.quantile(0.99), hist.max
	if rep.Received > 0 {
		rep.ServerCPUPerDeliv = rep.ServerCPU / time.Duration(rep.Received)
		rep.ClientCPUPerDeliv = rep.ClientCPU / time.Duration(rep.Received)
	}
}

// idle holds the connections, measures memory per connection, then sends one message to a
// room and measures how long it takes to reach every member.
func (r *run) idle(ctx context.Context, rep *Report, out io.Writer) (*Report, error) {
	fmt.Fprintf(out, "holding %d connections for %s ...\n", len(r.conns), r.opts.Duration)
	sleepUntil(ctx, time.Now().Add(r.opts.Duration))
	rep.ServerRSSAfter, _ = readRSS(r.opts.ServerPID)
	// One broadcast from a member of room 0 to everyone in it.
	var from *conn
	for _, c := range r.conns {
		if c.room == 0 {
			from = c
			break
		}
	}
	now := time.Now()
	r.t0.Store(now.UnixNano() - 1)
	r.t1.Store(now.Add(time.Hour).UnixNano())
	r.sent = make([]atomic.Uint64, r.opts.Rooms)
	from.sender = 0
	msg := fmt.Sprintf(`{"message":"lt 0 1 %d"}`, time.Now().UnixNano())
	cpu0, srv0 := selfCPU(), serverCPU(r.opts.ServerPID)
	if err := from.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return rep, err
	}
	r.sent[0].Add(1)
	r.drain(ctx)
	rep.ClientCPU, rep.ServerCPU = selfCPU()-cpu0, serverCPU(r.opts.ServerPID)-srv0
	rep.Window = time.Since(now)
	r.collect(rep)
	printReport(out, r.opts, rep)
	return rep, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
