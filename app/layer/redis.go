package layer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis-backed layer; zero fields take defaults.
type RedisOptions struct {
	// URL locates Redis, as go-redis parses it (redis://[:password@]host:port/db?dial_timeout=1s
	// and other query options). Default redis://127.0.0.1:6379/0.
	URL string
	// Prefix starts every key and pub/sub channel name, so several deployments (or tests) can
	// share one Redis: letters, digits and "._:-" (default "chat").
	Prefix string
	// Node is this node's id inside channel names (prefix.node!random); it routes Send to the
	// node holding the channel, so it must be unique among running nodes: letters, digits,
	// '-' and '_', at most 32 (default: a random 8-character id).
	Node string
	// Capacity is how many events a channel holds (default 100), as in MemoryOptions.
	Capacity int
	// Expiry is how long an event may wait before Receive drops it (default 60s).
	Expiry time.Duration
	// GroupExpiry drops a local membership not renewed by GroupAdd for this long (default 24h).
	GroupExpiry time.Duration
	// PresenceTTL is how long a presence entry lives in Redis unless this node's heartbeat,
	// every PresenceTTL/3, renews it: a node that dies loses its people after this (default 30s).
	PresenceTTL time.Duration
	// HealthInterval is how often the node pings itself through Redis pub/sub (default 5s).
	HealthInterval time.Duration
}

func (o RedisOptions) withDefaults() RedisOptions {
	if o.URL == "" {
		o.URL = "redis://127.0.0.1:6379/0"
	}
	if o.Prefix == "" {
		o.Prefix = "chat"
	}
	if o.Node == "" {
		o.Node = strings.ToLower(rand.Text()[:8])
	}
	if o.Capacity <= 0 {
		o.Capacity = 100
	}
	if o.Expiry <= 0 {
		o.Expiry = 60 * time.Second
	}
	if o.GroupExpiry <= 0 {
		o.GroupExpiry = 24 * time.Hour
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = 30 * time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = 5 * time.Second
	}
	return o
}

func (o RedisOptions) validate() error {
	if len(o.Prefix) > 64 || !keyChars(o.Prefix) {
		return fmt.Errorf("layer: redis prefix %q: want up to 64 letters, digits or \"._:-\"", o.Prefix)
	}
	if len(o.Node) > 32 || !nameChars(o.Node) || strings.Contains(o.Node, ".") {
		return fmt.Errorf("layer: node id %q: want 1 to 32 letters, digits, '-' or '_'", o.Node)
	}
	return nil
}

// keyChars allows what SCAN's MATCH pattern takes literally, so Flush matches only our keys.
func keyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ':' && !nameChars(s[i:i+1]) {
			return false
		}
	}
	return s != ""
}

// ErrUnavailable is returned, at once, by calls that need Redis while the layer knows Redis
// is unreachable; the node keeps serving local channels meanwhile.
var ErrUnavailable = errors.New("layer: redis unavailable")

// retryInterval is how often the health check probes while the latest round failed, so the
// node notices soon that Redis is back.
const retryInterval = 250 * time.Millisecond

// subscribeTimeout bounds how long GroupAdd waits for Redis to confirm a new subscription
// when its ctx allows longer.
const subscribeTimeout = 5 * time.Second

// Redis is the Layer for several nodes (Channels' RedisChannelLayer), over Redis pub/sub.
//
// Every node keeps its channels, its connections' group memberships and their presence in
// a local Memory, and subscribes (one pub/sub connection) to its personal channel and to the
// groups it has local members in. GroupSend delivers to local members first, then PUBLISHes
// once for the other nodes; Send to another node's channel PUBLISHes to that node. Presence
// is shared through sorted sets whose entries expire unless their node renews them. So a node
// that dies leaves nothing behind but presence that expires.
//
// Differences from Memory: ErrChannelFull is reported only for local channels (a remote full
// mailbox drops the event, marks the mailbox overflowed and counts it in the holding node's
// Skipped); Sent, Skipped and Expired count this node's deliveries; Flush deletes every key of
// the prefix but empties only this node's local state.
type Redis struct {
	opts   RedisOptions
	mem    *Memory
	client *redis.Client

	nodeKey   string // this node's pub/sub channel
	groupPfx  string // pub/sub channel of a group, before its name
	presPfx   string // presence sorted set of a group, before its name
	groupsKey string // set of the groups that have presence (not <prefix>:presence:groups: a group may be called "groups")

	// unsent holds the groups a group send could not publish to: once Redis takes publishes
	// again, each gets a resync message (see resyncUnsent).
	unsentMu sync.Mutex
	unsent   map[string]struct{}

	subMu  sync.RWMutex
	ps     *redis.PubSub
	subs   map[string]*subscription // groups this node has local members in
	issued map[string]bool          // groups go-redis was told to subscribe to, and not since unsubscribe

	// presMu serializes, per group shard, a presence change in the local Memory with its
	// write to Redis and with the heartbeat, so a renewal never resurrects a removed entry.
	presMu [shardCount]sync.Mutex

	waitMu  sync.Mutex
	waiters map[string]chan struct{} // ping and pong tokens awaited
	tokens  atomic.Uint64

	health  atomic.Pointer[healthState]
	probe   chan struct{} // asks the health loop for a round now
	resets  atomic.Uint64 // pub/sub connections replaced by the health check
	resyncs atomic.Uint64 // resync messages published for groups a send could not reach

	groupSends atomic.Uint64
	bufs       sync.Pool // *[]byte envelope buffers

	closed    atomic.Bool
	done      chan struct{}
	ctx       context.Context // cancelled by Close: ends the loops' Redis calls
	cancel    context.CancelFunc
	closeOnce sync.Once
	loops     sync.WaitGroup // heartbeat and health check
	receiver  sync.WaitGroup // the pub/sub receive loop
}

var _ Layer = (*Redis)(nil)

// subscription is one group's pub/sub subscription; ready once Redis confirmed it.
type subscription struct{ ready bool }

// healthState is the outcome of the latest health round: ok is when a ping last came back,
// err is nil when the latest round succeeded, and down is set while Redis is unreachable
// (rather than reachable with a broken subscription), which makes calls fail fast.
type healthState struct {
	ok   time.Time
	err  error
	down bool
}

// NewRedis connects to Redis, subscribes to this node's channel and checks that a ping comes
// back through it, so a wrong URL fails at start rather than at the first message.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("layer: redis url: %w", err)
	}
	if ropts.ClientName == "" {
		ropts.ClientName = opts.Prefix + ":" + opts.Node // tells connections apart in CLIENT LIST
	}
	r := &Redis{
		opts: opts,
		mem: NewMemory(MemoryOptions{Capacity: opts.Capacity, Expiry: opts.Expiry,
			GroupExpiry: opts.GroupExpiry, Prefix: opts.Node}),
		client:    redis.NewClient(ropts),
		nodeKey:   opts.Prefix + ":node:" + opts.Node,
		groupPfx:  opts.Prefix + ":group:",
		presPfx:   opts.Prefix + ":presence:",
		groupsKey: opts.Prefix + ":presence-groups",
		subs:      make(map[string]*subscription),
		unsent:    make(map[string]struct{}),
		issued:    make(map[string]bool),
		probe:     make(chan struct{}, 1),
		waiters:   make(map[string]chan struct{}),
		done:      make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.health.Store(&healthState{err: errors.New("layer: redis health not checked yet")})
	fail := func(err error) (*Redis, error) {
		r.shutdown(false)
		return nil, fmt.Errorf("layer: redis at %s: %w", ropts.Addr, err)
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fail(err)
	}
	subs, err := r.client.PubSubNumSub(ctx, r.nodeKey).Result()
	if err != nil {
		return fail(err)
	}
	if subs[r.nodeKey] > 0 {
		return fail(fmt.Errorf("node id %q is already in use under prefix %q", opts.Node, opts.Prefix))
	}
	r.ps = r.client.Subscribe(ctx)
	if err := r.ps.Subscribe(ctx, r.nodeKey); err != nil { // the only SUBSCRIBE not in r.issued
		return fail(err)
	}
	r.receiver.Add(1)
	go r.receive()
	if err := r.barrier(ctx); err != nil {
		return fail(err)
	}
	if err := r.healthRound(ctx, max(r.opts.HealthInterval, startupHealthWait)); err != nil {
		return fail(err)
	}
	r.loops.Add(2)
	go r.healthLoop()
	go r.heartbeatLoop()
	return r, nil
}

// startupHealthWait is the least time NewRedis waits for its first ping to come back: a short
// HealthInterval detects outages sooner, but a busy machine may take longer than that to
// answer the first round, and a node that fails to start over it helps no one.
const startupHealthWait = 2 * time.Second

// Node returns this node's id, the part of its channel names that routes Send to it.
func (r *Redis) Node() string { return r.opts.Node }

func (r *Redis) groupKey(group string) string    { return r.groupPfx + group }
func (r *Redis) presenceKey(group string) string { return r.presPfx + group }

// channelNode returns the node id in a process-specific channel name (prefix.node!suffix), or
// "" for a name that carries none, which is then local to whichever node uses it.
func channelNode(channel string) string {
	head, _, ok := strings.Cut(channel, "!")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(head, '.'); i >= 0 {
		return head[i+1:]
	}
	return ""
}

// remote reports the node that holds channel when it is not this one.
func (r *Redis) remote(channel string) (string, bool) {
	node := channelNode(channel)
	return node, node != "" && node != r.opts.Node
}

func (r *Redis) check(name string, valid func(string) bool) error {
	return checkName(r.closed.Load(), name, valid)
}

func (r *Redis) check2(group, channel string) error {
	return checkGroupChannel(r.closed.Load(), group, channel)
}

// NewChannel makes a channel on this node named prefix.node!random.
func (r *Redis) NewChannel(ctx context.Context, prefix string) (*Mailbox, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	return r.mem.NewChannel(ctx, prefix)
}

// CloseChannel forgets a channel, its memberships and its presence; a channel of another
// node is closed there (if that node is gone, so is the channel: not an error).
func (r *Redis) CloseChannel(ctx context.Context, channel string) error {
	if err := r.check(channel, ValidChannelName); err != nil {
		return err
	}
	if node, ok := r.remote(channel); ok {
		_, err := r.forward(ctx, node, kindClose, channel, "")
		return err
	}
	return r.closeLocal(ctx, channel)
}

func (r *Redis) closeLocal(ctx context.Context, channel string) error {
	var groups []string
	var present map[string]string
	var locked []int
	for {
		groups, present = r.mem.channelState(channel)
		locked = r.lockPresence(present)
		// A PresenceAdd between the snapshot and the locks would escape the ZREM below.
		if _, again := r.mem.channelState(channel); maps.Equal(again, present) {
			break
		}
		r.unlockPresence(locked)
	}
	_ = r.mem.CloseChannel(ctx, channel)
	var err error
	if len(present) > 0 {
		// While Redis is down the entries stay there, unrenewed, until PresenceTTL.
		if err = r.unavailable(); err == nil {
			_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for g, member := range present {
					p.ZRem(ctx, r.presenceKey(g), presenceEntry(channel, member))
				}
				return nil
			})
			r.noteErr(err)
		}
	}
	r.unlockPresence(locked)
	for _, g := range groups {
		_, _ = r.syncSub(ctx, g)
	}
	if err != nil {
		return fmt.Errorf("layer: removing presence of %q: %w", channel, err)
	}
	return nil
}

// Send puts ev on channel: locally when the channel is on this node (creating it, as Memory
// does) or when its name carries no node id; otherwise it is published to the channel's node.
// A send to another node that is not running fails with ErrNoSuchChannel.
func (r *Redis) Send(ctx context.Context, channel string, ev *Event) error {
	if err := r.check(channel, ValidChannelName); err != nil {
		return err
	}
	node, ok := r.remote(channel)
	if !ok {
		return r.mem.Send(ctx, channel, ev)
	}
	if ev.expiresAt == 0 {
		ev.expiresAt = time.Now().UnixNano() + int64(r.opts.Expiry)
	}
	n, err := r.publish(ctx, r.opts.Prefix+":node:"+node, kindSend, channel, "", ev)
	if err != nil {
		return fmt.Errorf("layer: sending to %q: %w", channel, err)
	}
	if n == 0 {
		return fmt.Errorf("layer: node %q of channel %q is not running: %w", node, channel, ErrNoSuchChannel)
	}
	return nil
}

// Receive waits for the next unexpired event on a channel of this node.
func (r *Redis) Receive(ctx context.Context, channel string) (*Event, error) {
	if err := r.check(channel, ValidChannelName); err != nil {
		return nil, err
	}
	return r.mem.Receive(ctx, channel)
}

// GroupAdd adds channel to group, subscribing this node to the group when it is the group's
// first local member; it returns once Redis has confirmed the subscription, so an event
// published right after is not missed. A channel of another node is added there.
//
// If Redis cannot be reached the membership is still recorded (local group sends reach it,
// and the subscription is made when Redis is back), but the error is returned so the caller
// can decide whether a member that misses other nodes' events for now is acceptable.
func (r *Redis) GroupAdd(ctx context.Context, group, channel string) error {
	if err := r.check2(group, channel); err != nil {
		return err
	}
	if node, ok := r.remote(channel); ok {
		running, err := r.forward(ctx, node, kindAdd, channel, group)
		if err == nil && !running {
			err = fmt.Errorf("layer: node %q of channel %q is not running: %w", node, channel, ErrNoSuchChannel)
		}
		return err
	}
	if err := r.mem.GroupAdd(ctx, group, channel); err != nil {
		return err
	}
	sub, err := r.syncSub(ctx, group)
	if err == nil && sub != nil {
		err = r.confirm(ctx, sub)
	}
	if err != nil {
		return fmt.Errorf("layer: subscribing to group %q: %w", group, err)
	}
	return nil
}

// GroupDiscard removes channel from group, unsubscribing when no local member is left.
func (r *Redis) GroupDiscard(ctx context.Context, group, channel string) error {
	if err := r.check2(group, channel); err != nil {
		return err
	}
	if node, ok := r.remote(channel); ok {
		_, err := r.forward(ctx, node, kindDiscard, channel, group) // a node gone has no members
		return err
	}
	if err := r.mem.GroupDiscard(ctx, group, channel); err != nil {
		return err
	}
	_, _ = r.syncSub(ctx, group) // an unsubscribe that fails is not resubscribed on reconnect
	return nil
}

// forward asks the node holding channel to add, discard or close it; running is false when
// no such node listens. The node acts on it asynchronously, so unlike a local GroupAdd a
// forwarded one may miss a group event published right after it.
func (r *Redis) forward(ctx context.Context, node string, kind byte, channel, group string) (running bool, err error) {
	n, err := r.publish(ctx, r.opts.Prefix+":node:"+node, kind, channel, group, nil)
	if err != nil {
		return false, fmt.Errorf("layer: forwarding to node %q: %w", node, err)
	}
	return n > 0, nil
}

// GroupSend delivers ev to this node's members of group, then publishes it once for the other
// nodes. Local members get it even when Redis is down; the publish error is returned after.
func (r *Redis) GroupSend(ctx context.Context, group string, ev *Event) error {
	if err := r.check(group, ValidGroupName); err != nil {
		return err
	}
	r.groupSends.Add(1)
	if ev.expiresAt == 0 {
		ev.expiresAt = time.Now().UnixNano() + int64(r.opts.Expiry)
	}
	if err := r.mem.GroupSend(ctx, group, ev); err != nil {
		return err
	}
	if !r.mem.hasMembers(group) && r.isSubscribed(group) {
		_, _ = r.syncSub(ctx, group) // GroupExpiry pruned the last local member
	}
	if _, err := r.publish(ctx, r.groupKey(group), kindGroup, group, "", ev); err != nil {
		r.noteUnsent(group)
		return fmt.Errorf("layer: publishing to group %q: %w", group, err)
	}
	return nil
}

// maxUnsent bounds the groups remembered for a resync; past it the rest are not told (their
// members still see the gap at the group's next message).
const maxUnsent = 100_000

func (r *Redis) noteUnsent(group string) {
	r.unsentMu.Lock()
	if len(r.unsent) < maxUnsent {
		r.unsent[group] = struct{}{}
	}
	r.unsentMu.Unlock()
}

// resyncUnsent tells the other nodes' members of every group a send could not reach that
// they missed events: it publishes a resync message to the group, and each receiving node
// marks its local members as having missed events (a websocket closes with 1013, reconnects
// and catches up from the database). Without it, a node cut off from Redis while its
// subscribers elsewhere were not would leave them unaware of its last messages. The health
// loop calls it after each round in which Redis took a publish.
func (r *Redis) resyncUnsent(ctx context.Context) {
	r.unsentMu.Lock()
	groups := make([]string, 0, len(r.unsent))
	for g := range r.unsent {
		groups = append(groups, g)
	}
	r.unsentMu.Unlock()
	for _, g := range groups {
		if _, err := r.publishNow(ctx, r.groupKey(g), kindResync, g, "", nil); err != nil {
			return // the next round tries again
		}
		r.unsentMu.Lock()
		delete(r.unsent, g)
		r.unsentMu.Unlock()
		r.resyncs.Add(1)
	}
}

// publish encodes an envelope once, in a pooled buffer, and PUBLISHes it; n is how many
// subscribers Redis handed it to. While Redis is known to be down it fails at once.
func (r *Redis) publish(ctx context.Context, key string, kind byte, target, group string, ev *Event) (int64, error) {
	if err := r.unavailable(); err != nil {
		return 0, err
	}
	n, err := r.publishNow(ctx, key, kind, target, group, ev)
	r.noteErr(err)
	return n, err
}

// publishNow publishes even while Redis is thought down: the health check probes with it.
func (r *Redis) publishNow(ctx context.Context, key string, kind byte, target, group string, ev *Event) (int64, error) {
	bp, _ := r.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = appendEnvelope((*bp)[:0], kind, r.opts.Node, target, group, ev)
	n, err := r.client.Publish(ctx, key, *bp).Result()
	if cap(*bp) <= 64<<10 { // do not keep one huge event's buffer forever
		r.bufs.Put(bp)
	}
	return n, err
}

// Flush deletes every key under the prefix (all nodes' presence) and empties this node's
// channels, groups and presence. Other nodes keep their local state: their heartbeats
// write their presence again, and their subscriptions stay.
func (r *Redis) Flush(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	for i := range r.presMu {
		r.presMu[i].Lock()
	}
	err := r.mem.Flush(ctx)
	if err == nil {
		err = r.deleteKeys(ctx)
		r.noteErr(err)
	}
	for i := range r.presMu {
		r.presMu[i].Unlock()
	}
	for _, g := range r.subscribedGroups() {
		_, _ = r.syncSub(ctx, g)
	}
	if err != nil {
		return fmt.Errorf("layer: flushing redis keys: %w", err)
	}
	return nil
}

// deleteKeys removes the prefix's keys with SCAN, which unlike KEYS does not stall Redis.
func (r *Redis) deleteKeys(ctx context.Context) error {
	iter := r.client.Scan(ctx, 0, r.opts.Prefix+":*", 500).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.client.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// Stats reports this node's counters: GroupSends counts this node's GroupSend calls; Sent,
// Skipped and Expired count deliveries into this node's mailboxes, from any node.
func (r *Redis) Stats() Stats {
	st := r.mem.Stats()
	st.GroupSends = r.groupSends.Load()
	return st
}

// Healthy returns nil while the node's latest ping through Redis pub/sub came back; it is
// meant for a readiness probe. A pub/sub connection that is up but delivers nothing fails it.
func (r *Redis) Healthy() error {
	if r.closed.Load() {
		return ErrClosed
	}
	h := r.health.Load()
	if h.err != nil {
		return h.err
	}
	if age := time.Since(h.ok); age > 3*r.opts.HealthInterval {
		return fmt.Errorf("layer: no redis health ping came back for %v", age.Round(time.Millisecond))
	}
	return nil
}

// Close stops the node: its presence entries are removed from Redis, its loops end, and
// every later call fails with ErrClosed. Closing twice is not an error.
func (r *Redis) Close() error {
	r.shutdown(true)
	return nil
}

// shutdown closes the layer; without cleanup it leaves Redis as a killed process would.
func (r *Redis) shutdown(cleanup bool) {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.cancel()
		close(r.done)
		r.loops.Wait() // the heartbeat must not renew what the cleanup removes
		if cleanup && r.unavailable() == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = r.dropPresence(ctx)
			cancel()
		}
		r.subMu.Lock()
		if r.ps != nil {
			_ = r.ps.Close()
		}
		r.subMu.Unlock()
		r.receiver.Wait()
		_ = r.client.Close()
		_ = r.mem.Close()
	})
}
