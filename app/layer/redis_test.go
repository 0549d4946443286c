package layer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis for tests: CHAT_TEST_REDIS_URL, or a local default. Without it the tests skip,
// unless CHAT_REQUIRE_SERVICES=1 says a missing Redis is a failure (as in CI).
var redisProbe struct {
	once sync.Once
	url  string
	err  error
}

func testRedisURL(tb testing.TB) string {
	tb.Helper()
	redisProbe.once.Do(func() {
		redisProbe.url = os.Getenv("CHAT_TEST_REDIS_URL")
		if redisProbe.url == "" {
			redisProbe.url = "redis://127.0.0.1:6379/0"
		}
		opts, err := redis.ParseURL(redisProbe.url)
		if err != nil {
			redisProbe.err = err
			return
		}
		opts.MaxRetries, opts.DialerRetries = -1, 1 // answer at once when nothing listens
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		redisProbe.err = c.Ping(ctx).Err()
	})
	if redisProbe.err != nil {
		msg := fmt.Sprintf("redis not reachable at %s: set CHAT_TEST_REDIS_URL or start redis-server (%v)",
			redisProbe.url, redisProbe.err)
		if os.Getenv("CHAT_REQUIRE_SERVICES") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return redisProbe.url
}

// testClient is a plain client on the test Redis, closed at the end of the test.
func testClient(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(testRedisURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a fresh key prefix and deletes its keys when the test ends (after the
// layers using it closed, since cleanups run last-registered first).
func testPrefix(tb testing.TB) string {
	tb.Helper()
	prefix := "chattest:" + strings.ToLower(rand.Text()[:12])
	c := testClient(tb)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := c.Keys(ctx, prefix+":*").Result() // test Redis only: KEYS is fine here
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			tb.Errorf("cleaning keys of %s: %v", prefix, err)
		}
	})
	return prefix
}

// newRedisLayer makes a node on the test Redis; a zero Prefix gets a fresh one.
func newRedisLayer(tb testing.TB, opts RedisOptions) *Redis {
	tb.Helper()
	if opts.URL == "" {
		opts.URL = testRedisURL(tb)
	}
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := NewRedis(ctx, opts)
	if err != nil {
		tb.Fatalf("NewRedis: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// twoNodes makes two nodes sharing a fresh prefix.
func twoNodes(t *testing.T, opts RedisOptions) (a, b *Redis) {
	t.Helper()
	opts.Prefix = testPrefix(t)
	opts.Node = "nodea"
	a = newRedisLayer(t, opts)
	opts.Node = "nodeb"
	b = newRedisLayer(t, opts)
	return a, b
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// await receives one event from box or fails.
func await(t *testing.T, box *Mailbox, what string) *Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := box.Next(ctx)
	if err != nil {
		t.Fatalf("%s: nothing arrived", what)
	}
	return ev
}

func joined(t *testing.T, l Layer, group string) *Mailbox {
	t.Helper()
	box := newChannel(t, l)
	if err := l.GroupAdd(context.Background(), group, box.Name); err != nil {
		t.Fatalf("GroupAdd: %v", err)
	}
	return box
}

func TestRedisSuite(t *testing.T) {
	testRedisURL(t)
	runLayerSuite(t, func(t *testing.T) Layer { return newRedisLayer(t, RedisOptions{}) })
}

func TestRedisExpiryOption(t *testing.T) {
	checkExpiryOption(t, newRedisLayer(t, RedisOptions{Expiry: expiryOption}))
}

func TestRedisOptions(t *testing.T) {
	o := RedisOptions{}.withDefaults()
	if o.URL != "redis://127.0.0.1:6379/0" || o.Prefix != "chat" || o.Capacity != 100 ||
		o.Expiry != time.Minute || o.GroupExpiry != 24*time.Hour || o.PresenceTTL != 30*time.Second ||
		o.HealthInterval != 5*time.Second {
		t.Errorf("defaults = %+v", o)
	}
	if len(o.Node) != 8 || o.validate() != nil {
		t.Errorf("default node %q is not a valid 8-character id", o.Node)
	}
	for _, bad := range []RedisOptions{
		{Prefix: "has space"}, {Prefix: "glob*"}, {Prefix: "br[ack]et"}, {Prefix: strings.Repeat("p", 65)},
		{Node: "dotted.node"}, {Node: "bang!"}, {Node: strings.Repeat("n", 33)},
	} {
		if _, err := NewRedis(context.Background(), bad); err == nil {
			t.Errorf("NewRedis(%+v) accepted invalid options", bad)
		}
	}
	if _, err := NewRedis(context.Background(), RedisOptions{URL: "http://nope"}); err == nil {
		t.Error("NewRedis accepted a URL that is not redis://")
	}
}

func TestRedisStartFailsWithoutRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	start := time.Now()
	r, err := NewRedis(context.Background(), RedisOptions{URL: "redis://" + addr + "/0"})
	if err == nil {
		r.Close()
		t.Fatal("NewRedis succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the address", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %v", d)
	}
}

func TestRedisDuplicateNodeRejected(t *testing.T) {
	prefix := testPrefix(t)
	newRedisLayer(t, RedisOptions{Prefix: prefix, Node: "twin"})
	r, err := NewRedis(context.Background(), RedisOptions{URL: testRedisURL(t), Prefix: prefix, Node: "twin"})
	if err == nil {
		r.Close()
		t.Fatal("a second node with the same id started")
	}
}

func TestRedisEnvelope(t *testing.T) {
	binary := []byte{0, 1, 2, 0xff, 0xfe, '"', '\\', '\n', 0x80}
	for _, ev := range []*Event{
		{Type: "chat.message", Data: []byte(`{"type":"chat.message","text":"héllo \u2603"}`), Seq: 42, expiresAt: time.Now().UnixNano()},
		{Type: "", Data: []byte{}, Seq: -7, expiresAt: 0},
		{Type: "bin", Data: binary, Seq: 1 << 62},
	} {
		for _, kind := range []byte{kindGroup, kindSend} {
			p := appendEnvelope(nil, kind, "nodea", "room.1", "", ev)
			env, err := decodeEnvelope(string(p))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := env.ev
			if env.kind != kind || env.origin != "nodea" || env.target != "room.1" || got.Type != ev.Type ||
				got.Seq != ev.Seq || got.expiresAt != ev.expiresAt || !bytes.Equal(got.Data, ev.Data) || got.Data == nil {
				t.Errorf("round trip of %+v as %c = %+v, %+v", ev, kind, env, got)
			}
			for n := range len(p) - len(ev.Data) { // every truncation before Data is an error
				if _, err := decodeEnvelope(string(p[:n])); err == nil {
					t.Errorf("truncated envelope (%d of %d bytes) decoded", n, len(p))
				}
			}
		}
	}
	for _, kind := range []byte{kindAdd, kindDiscard, kindClose, kindPing} {
		p := appendEnvelope(nil, kind, "nodeb", "specific.nodeb!abc", "room", nil)
		env, err := decodeEnvelope(string(p))
		wantGroup := ""
		if kind == kindAdd || kind == kindDiscard {
			wantGroup = "room"
		}
		if err != nil || env.kind != kind || env.origin != "nodeb" || env.target != "specific.nodeb!abc" ||
			env.group != wantGroup || env.ev != nil {
			t.Errorf("round trip of kind %c = %+v, %v", kind, env, err)
		}
	}
	for _, bad := range []string{"", "\x01", "\x02g", "\x01z\x00\x00", "\x01g\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"} {
		if _, err := decodeEnvelope(bad); err == nil {
			t.Errorf("decodeEnvelope(%q) succeeded", bad)
		}
	}
}

func TestRedisCrossNodeGroupSend(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{})
	aBoxes := []*Mailbox{joined(t, a, "room"), joined(t, a, "room")}
	bBoxes := []*Mailbox{joined(t, b, "room"), joined(t, b, "room")}
	all := slices.Concat(aBoxes, bBoxes)

	for i, from := range []*Redis{a, b} {
		sent := &Event{Type: "chat.message", Data: []byte(fmt.Sprintf(`{"type":"chat.message","n":%d,"raw":"\u0000"}`, i)), Seq: int64(100 + i)}
		if err := from.GroupSend(ctx, "room", sent); err != nil {
			t.Fatalf("GroupSend from %s: %v", from.Node(), err)
		}
		var remote []*Event
		for j, box := range all {
			got := await(t, box, fmt.Sprintf("member %d, send from %s", j, from.Node()))
			if got.Type != sent.Type || got.Seq != sent.Seq || !bytes.Equal(got.Data, sent.Data) ||
				got.expiresAt != sent.expiresAt {
				t.Errorf("member %d got %+v, sent %+v", j, got, sent)
			}
			local := strings.Contains(box.Name, "."+from.Node()+"!")
			if local && got != sent {
				t.Errorf("local member %d got a copy, not the sent event", j)
			}
			if !local {
				remote = append(remote, got)
			}
		}
		if len(remote) != 2 || remote[0] != remote[1] {
			t.Error("the receiving node did not hand one decoded event to all its members")
		}
		time.Sleep(50 * time.Millisecond) // let any duplicate arrive
		for j, box := range all {
			if n := len(pending(box)); n != 0 {
				t.Errorf("member %d got %d extra events from %s: want each exactly once", j, n, from.Node())
			}
		}
	}
	for _, n := range []*Redis{a, b} {
		if st := n.Stats(); st.GroupSends != 1 || st.Sent != 4 || st.Skipped != 0 || st.Groups != 1 {
			t.Errorf("%s Stats = %+v, want GroupSends 1, Sent 4 (2 members x 2 sends), Groups 1", n.Node(), st)
		}
	}
}

func TestRedisCrossNodeSend(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{Capacity: 2})
	box := newChannel(t, b)

	expired, fresh := expiredEvent("stale"), event("fresh")
	fresh.Seq = 9
	for _, ev := range []*Event{expired, fresh} {
		if err := a.Send(ctx, box.Name, ev); err != nil {
			t.Fatalf("Send to the other node's channel: %v", err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := b.Receive(rctx, box.Name)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if got.Type != fresh.Type || got.Seq != 9 || !bytes.Equal(got.Data, fresh.Data) || got.expiresAt != fresh.expiresAt {
		t.Errorf("received %+v, sent %+v (expiry must travel with the event)", got, fresh)
	}
	// The receive loop counts a delivery just after the mailbox took it.
	eventually(t, time.Second, "receiving node did not count 2 deliveries", func() bool { return b.Stats().Sent == 2 })
	if st := b.Stats(); st.Expired != 1 {
		t.Errorf("receiving node Stats = %+v, want Expired 1 (the stale event)", st)
	}
	if st := a.Stats(); st.Sent != 0 {
		t.Errorf("sending node counted %d deliveries into its own mailboxes", st.Sent)
	}

	// A full mailbox on the other node drops the event and tells its consumer.
	for i := range 3 {
		if err := a.Send(ctx, box.Name, event(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "the third send was not dropped", func() bool { return b.Stats().Skipped == 1 })
	if !box.Overflowed() || box.Len() != 2 {
		t.Errorf("remote full mailbox: overflowed %v, holds %d; want true, 2", box.Overflowed(), box.Len())
	}

	// A closed channel does not come back as an orphan mailbox.
	if err := b.CloseChannel(ctx, box.Name); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, box.Name, event("late")); err != nil {
		t.Fatalf("Send to a closed channel of a running node: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if st := b.Stats(); st.Channels != 0 {
		t.Errorf("a send to a closed channel recreated it: Channels = %d", st.Channels)
	}

	if err := a.Send(ctx, "specific.gone!abc", event("x")); !errors.Is(err, ErrNoSuchChannel) {
		t.Errorf("Send to a node that is not running: err = %v, want ErrNoSuchChannel", err)
	}
	if _, err := a.Receive(ctx, newChannel(t, b).Name); !errors.Is(err, ErrNoSuchChannel) {
		t.Errorf("Receive on another node's channel: err = %v, want ErrNoSuchChannel", err)
	}
}

func TestRedisForwardsMembershipToChannelNode(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{})
	box := newChannel(t, b)
	if err := a.GroupAdd(ctx, "room", box.Name); err != nil {
		t.Fatalf("GroupAdd of another node's channel: %v", err)
	}
	eventually(t, 5*time.Second, "node b did not take the membership", func() bool { return b.isSubscribed("room") })
	if a.isSubscribed("room") || a.Stats().Groups != 0 {
		t.Error("the membership stayed on the node that asked for it")
	}
	if err := a.GroupSend(ctx, "room", event("hi")); err != nil {
		t.Fatal(err)
	}
	await(t, box, "group send to a forwarded member")

	if err := a.GroupDiscard(ctx, "room", box.Name); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node b kept the membership", func() bool { return b.Stats().Groups == 0 })
	if err := a.CloseChannel(ctx, box.Name); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node b kept the channel", func() bool { return b.Stats().Channels == 0 })
	if err := a.GroupAdd(ctx, "room", "specific.gone!abc"); !errors.Is(err, ErrNoSuchChannel) {
		t.Errorf("GroupAdd of a channel on a node that is not running: err = %v, want ErrNoSuchChannel", err)
	}
	if err := a.GroupDiscard(ctx, "room", "specific.gone!abc"); err != nil {
		t.Errorf("GroupDiscard of a channel on a node that is not running: %v", err)
	}
	if err := a.CloseChannel(ctx, "specific.gone!abc"); err != nil {
		t.Errorf("CloseChannel of a channel on a node that is not running: %v", err)
	}
}

func TestRedisCrossNodePresence(t *testing.T) {
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	prefix := testPrefix(t)
	opts := RedisOptions{Prefix: prefix, PresenceTTL: ttl}
	opts.Node = "nodea"
	a := newRedisLayer(t, opts)
	opts.Node = "nodeb"
	b := newRedisLayer(t, opts)
	opts.Node = "nodec"
	c := newRedisLayer(t, opts)
	add := func(l Layer, group, member string) {
		t.Helper()
		if err := l.PresenceAdd(ctx, group, newChannel(t, l).Name, member); err != nil {
			t.Fatal(err)
		}
	}
	add(a, "room", "ann")
	add(b, "room", "ann") // a second tab, on the other node
	add(b, "room", "bob")
	add(b, "lobby", "bob")
	add(c, "room", "carol")
	check := func(when string, wantRoom []string, wantCounts map[string]int) {
		t.Helper()
		for _, n := range []*Redis{a, b, c} {
			if n.closed.Load() {
				continue
			}
			members, err := presenceMembers(ctx, n, "room")
			if err != nil || !slices.Equal(members, wantRoom) {
				t.Errorf("%s: %s Presence members = %v, %v; want %v", when, n.Node(), members, err, wantRoom)
			}
			counts, err := n.PresenceCounts(ctx)
			if err != nil || !mapsEqual(counts, wantCounts) {
				t.Errorf("%s: %s PresenceCounts = %v, %v; want %v", when, n.Node(), counts, err, wantCounts)
			}
		}
	}
	check("all up", []string{"ann", "bob", "carol"}, map[string]int{"room": 3, "lobby": 1})

	time.Sleep(3 * ttl) // the heartbeat keeps live nodes' entries past their first expiry
	check("after the heartbeat renewed", []string{"ann", "bob", "carol"}, map[string]int{"room": 3, "lobby": 1})

	c.Close() // a clean shutdown removes its entries at once
	check("c closed", []string{"ann", "bob"}, map[string]int{"room": 2, "lobby": 1})

	b.shutdown(false) // killed: its entries stay until they expire
	check("b killed", []string{"ann", "bob"}, map[string]int{"room": 2, "lobby": 1})
	killed := time.Now()
	// A kill can land mid-heartbeat, leaving one group's entries a round younger than
	// another's, so wait for all of them to go rather than for the first.
	eventually(t, 2*time.Second+ttl, "a killed node's people stayed present", func() bool {
		members, err := presenceMembers(ctx, a, "room")
		if err != nil || !slices.Equal(members, []string{"ann"}) {
			return false
		}
		counts, err := a.PresenceCounts(ctx)
		return err == nil && mapsEqual(counts, map[string]int{"room": 1})
	})
	if d := time.Since(killed); d > ttl+time.Second {
		t.Errorf("a killed node's people took %v to drop out, want about the TTL %v", d, ttl)
	}
	check("b expired", []string{"ann"}, map[string]int{"room": 1})
	if n, _ := testClient(t).SIsMember(ctx, prefix+":presence-groups", "lobby").Result(); n {
		t.Error("PresenceCounts kept a group with nobody present in the set of groups")
	}
}

// numSub is how many connections Redis has subscribed to a group of prefix.
func numSub(t *testing.T, prefix, group string) int64 {
	t.Helper()
	key := prefix + ":group:" + group
	n, err := testClient(t).PubSubNumSub(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n[key]
}

func TestRedisSubscribesOnlyWhileLocalMembers(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{GroupExpiry: 300 * time.Millisecond})
	prefix := a.opts.Prefix
	if got := numSub(t, prefix, "room"); got != 0 {
		t.Fatalf("NUMSUB before any member = %d", got)
	}
	first, second := joined(t, a, "room"), joined(t, a, "room")
	// GroupAdd returns after Redis confirmed the subscription, so no polling here.
	if got := numSub(t, prefix, "room"); got != 1 {
		t.Fatalf("NUMSUB with two members on one node = %d, want 1", got)
	}
	third := joined(t, b, "room")
	if got := numSub(t, prefix, "room"); got != 2 {
		t.Fatalf("NUMSUB with members on two nodes = %d, want 2", got)
	}
	if err := a.GroupDiscard(ctx, "room", first.Name); err != nil {
		t.Fatal(err)
	}
	if !a.isSubscribed("room") {
		t.Fatal("node unsubscribed while it still had a local member")
	}
	if err := a.CloseChannel(ctx, second.Name); err != nil { // the last member leaves by closing
		t.Fatal(err)
	}
	if a.isSubscribed("room") {
		t.Error("node still subscribed after its last local member left")
	}
	eventually(t, 5*time.Second, "Redis still counts node a's subscription", func() bool { return numSub(t, prefix, "room") == 1 })

	// Memberships that expire (GroupExpiry) unsubscribe too, when a group event next comes.
	time.Sleep(400 * time.Millisecond)
	if err := a.GroupSend(ctx, "room", event("to expired members")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "node b stayed subscribed after its membership expired", func() bool {
		return !b.isSubscribed("room") && numSub(t, prefix, "room") == 0
	})
	if n := len(pending(third)); n != 0 {
		t.Errorf("an expired member got %d events", n)
	}
}

func TestRedisHealth(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{HealthInterval: 50 * time.Millisecond})
	if err := a.Healthy(); err != nil {
		t.Fatalf("Healthy right after NewRedis: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.Healthy(); err != nil {
		t.Fatalf("Healthy after some rounds: %v", err)
	}

	// A subscription lost behind go-redis's back: the connection is fine, nothing arrives.
	box := joined(t, a, "room")
	if err := a.pubsub().Unsubscribe(ctx, a.nodeKey, a.groupKey("room")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the health check did not replace the deaf connection", func() bool {
		return a.resets.Load() > 0 && a.Healthy() == nil
	})
	if err := b.GroupSend(ctx, "room", event("after repair")); err != nil {
		t.Fatal(err)
	}
	await(t, box, "group send after the health check repaired the subscription")
	if err := b.Send(ctx, box.Name, event("direct")); err != nil {
		t.Fatal(err)
	}
	await(t, box, "direct send after the repair")

	a.Close()
	if err := a.Healthy(); !errors.Is(err, ErrClosed) {
		t.Errorf("Healthy after Close = %v, want ErrClosed", err)
	}
}

// TestRedisPubSubReconnects kills the node's pub/sub connection in Redis and checks that
// go-redis reconnects and resubscribes by itself (the health check is too slow to help).
func TestRedisPubSubReconnects(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{HealthInterval: time.Hour})
	box := joined(t, a, "room")
	c := testClient(t)
	list, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for line := range strings.Lines(list) {
		if strings.Contains(line, " name="+a.opts.Prefix+":"+a.Node()+" ") {
			id = strings.TrimPrefix(strings.Fields(line)[0], "id=")
		}
	}
	if id == "" {
		t.Fatalf("no pub/sub connection of node a in CLIENT LIST:\n%s", list)
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node a never got group events again", func() bool {
		if err := b.GroupSend(ctx, "room", event("ping")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		return len(pending(box)) > 0
	})
	if n := a.resets.Load(); n != 0 {
		t.Errorf("the health check replaced the connection %d times; go-redis was to reconnect", n)
	}
	if err := b.Send(ctx, box.Name, event("direct")); err != nil {
		t.Fatal(err)
	}
	await(t, box, "direct send after the reconnect (node channel resubscribed)")
}

// tcpProxy stands between a node and Redis so a test can make Redis vanish and come back
// on the same address without touching the shared Redis.
type tcpProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: make(map[net.Conn]struct{})}
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				down.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // stopped meanwhile
				p.mu.Unlock()
				down.Close()
				up.Close()
				return
			}
			p.conns[down], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, down); up.Close(); down.Close() }()
			go func() { _, _ = io.Copy(down, up); up.Close(); down.Close() }()
		}
	}()
}

// stop closes the listener and every proxied connection, as a Redis that died would.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	eventually(t, 5*time.Second, "could not listen on "+p.addr+" again", func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	})
	p.serve(ln)
}

// TestRedisUnreachable takes Redis away from one node: local traffic keeps flowing, calls
// that need Redis fail, Healthy says so, and everything resumes when Redis is back.
func TestRedisUnreachable(t *testing.T) {
	ctx := context.Background()
	base := testRedisURL(t)
	ropts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, ropts.Addr)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.addr
	prefix := testPrefix(t)
	const ttl = 300 * time.Millisecond
	a := newRedisLayer(t, RedisOptions{URL: u.String(), Prefix: prefix, Node: "nodea",
		HealthInterval: 100 * time.Millisecond, PresenceTTL: ttl})
	b := newRedisLayer(t, RedisOptions{Prefix: prefix, Node: "nodeb", PresenceTTL: ttl})
	a1, b1 := joined(t, a, "room"), joined(t, b, "room")
	// b1's owner, like a websocket, is told when the mailbox misses events.
	var b1Missed atomic.Bool
	b1.OnOverflow = func() { b1Missed.Store(true) }
	if err := a.GroupSend(ctx, "room", event("before")); err != nil {
		t.Fatal(err)
	}
	await(t, a1, "local member before the outage")
	await(t, b1, "remote member before the outage")

	proxy.stop()
	ev := event("during")
	if err := a.GroupSend(ctx, "room", ev); err == nil {
		t.Error("GroupSend with Redis unreachable returned no error")
	}
	if got := await(t, a1, "local member during the outage"); got != ev {
		t.Errorf("local member got %q, want the event sent during the outage", got.Data)
	}
	eventually(t, 5*time.Second, "Healthy did not notice the outage", func() bool { return a.Healthy() != nil })
	if err := a.Send(ctx, a1.Name, event("direct")); err != nil {
		t.Errorf("local Send during the outage: %v", err)
	}
	await(t, a1, "local direct send during the outage")
	// A first local member of a new group cannot subscribe: the error says so, but the
	// membership works locally and is subscribed once Redis is back.
	a2 := newChannel(t, a)
	if err := a.GroupAdd(ctx, "room.2", a2.Name); err == nil {
		t.Error("GroupAdd needing a new subscription returned no error during the outage")
	}
	if err := a.GroupSend(ctx, "room.2", event("local only")); err == nil {
		t.Error("GroupSend to room.2 returned no error during the outage")
	}
	await(t, a2, "member added during the outage, local send")
	if err := a.PresenceAdd(ctx, "room", a1.Name, "ann"); err == nil {
		t.Error("PresenceAdd returned no error during the outage")
	}
	if _, err := presenceMembers(ctx, a, "room"); err == nil {
		t.Error("Presence returned no error during the outage")
	}

	if b1Missed.Load() {
		t.Fatal("node b's member was marked as missing events before node a could say so")
	}

	proxy.restart(t)
	eventually(t, 15*time.Second, "Healthy did not recover", func() bool { return a.Healthy() == nil })
	// Node b's subscription never broke, so only node a knows that b1 missed "during": once
	// Redis takes its publishes again, it tells b, and b1's owner learns it (a websocket then
	// closes with 1013 and catches up from the database).
	eventually(t, 15*time.Second, "node b's member was never told it missed node a's send", b1Missed.Load)
	if n := a.resyncs.Load(); n != 2 {
		t.Errorf("node a published %d resyncs, want 2 (room and room.2)", n)
	}
	b1 = joined(t, b, "room") // as the websocket reconnects
	b2 := joined(t, b, "room.2")
	for _, tc := range []struct {
		from  *Redis
		group string
		to    *Mailbox
	}{{b, "room", a1}, {b, "room.2", a2}, {a, "room", b1}, {a, "room.2", b2}} {
		if err := tc.from.GroupSend(ctx, tc.group, event("after")); err != nil {
			t.Errorf("GroupSend from %s to %s after recovery: %v", tc.from.Node(), tc.group, err)
		}
		await(t, tc.to, fmt.Sprintf("%s member after recovery, from %s", tc.group, tc.from.Node()))
	}
	// The heartbeat writes the presence recorded during the outage.
	eventually(t, 2*time.Second, "presence recorded during the outage never reached Redis", func() bool {
		members, err := presenceMembers(ctx, b, "room")
		return err == nil && slices.Equal(members, []string{"ann"})
	})
}

func TestRedisFlushOnlyItsPrefix(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t, RedisOptions{})
	other := testPrefix(t)
	c := testClient(t)
	if err := c.Set(ctx, other+":keep", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	box := joined(t, a, "room")
	if err := a.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
		t.Fatal(err)
	}
	if err := b.PresenceAdd(ctx, "room", newChannel(t, b).Name, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := c.Keys(ctx, a.opts.Prefix+":*").Result(); len(keys) != 0 {
		t.Errorf("keys left under the prefix after Flush: %v", keys)
	}
	if n, _ := c.Exists(ctx, other+":keep").Result(); n != 1 {
		t.Error("Flush deleted a key of another prefix")
	}
	if a.isSubscribed("room") {
		t.Error("node stayed subscribed to a group Flush emptied")
	}
}

// TestRedisCloseLeavesNoKeys checks that a node shutting down cleanly takes its state along.
func TestRedisCloseLeavesNoKeys(t *testing.T) {
	ctx := context.Background()
	a := newRedisLayer(t, RedisOptions{})
	box := joined(t, a, "room")
	if err := a.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	keys, err := testClient(t).Keys(ctx, a.opts.Prefix+":presence:room").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("presence key left after Close: %v, %v", keys, err)
	}
	if got := numSub(t, a.opts.Prefix, "room"); got != 0 {
		t.Errorf("NUMSUB after Close = %d", got)
	}
}

// TestRedisCloseStopsGoroutines closes nodes, one of them cut off from Redis, and checks
// that Close is prompt and leaves no goroutine behind.
func TestRedisCloseStopsGoroutines(t *testing.T) {
	ctx := context.Background()
	prefix := testPrefix(t)
	ropts, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, ropts.Addr)
	u, _ := url.Parse(testRedisURL(t))
	u.Host = proxy.addr
	before := runtime.NumGoroutine()

	a := newRedisLayer(t, RedisOptions{Prefix: prefix, Node: "nodea", HealthInterval: 50 * time.Millisecond})
	b := newRedisLayer(t, RedisOptions{URL: u.String(), Prefix: prefix, Node: "nodeb", HealthInterval: 50 * time.Millisecond})
	for _, l := range []*Redis{a, b} {
		box := joined(t, l, "room")
		if err := l.PresenceAdd(ctx, "room", box.Name, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.GroupSend(ctx, "room", event("x")); err != nil {
		t.Fatal(err)
	}
	proxy.stop()
	eventually(t, 5*time.Second, "node b did not notice the outage", func() bool { return b.Healthy() != nil })
	for _, l := range []*Redis{a, b} {
		start := time.Now()
		l.Close()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Close of %s took %v", l.Node(), d)
		}
	}
	eventually(t, 5*time.Second, "goroutines left after Close", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestRedisKeyLayout pins the names other tools (and operators) see in Redis, with a group
// called "groups" that must not collide with the set of groups.
func TestRedisKeyLayout(t *testing.T) {
	ctx := context.Background()
	l := newRedisLayer(t, RedisOptions{Node: "n1"})
	p := l.opts.Prefix
	box := joined(t, l, "groups")
	if err := l.PresenceAdd(ctx, "groups", box.Name, "ann"); err != nil {
		t.Fatal(err)
	}
	c := testClient(t)
	types := map[string]string{}
	keys, err := c.Keys(ctx, p+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		types[k] = c.Type(ctx, k).Val()
	}
	want := map[string]string{p + ":presence:groups": "zset", p + ":presence-groups": "set"}
	if len(types) != len(want) || types[p+":presence:groups"] != "zset" || types[p+":presence-groups"] != "set" {
		t.Errorf("keys = %v, want %v", types, want)
	}
	chans, err := c.PubSubChannels(ctx, p+":*").Result()
	slices.Sort(chans)
	if wantChans := []string{p + ":group:groups", p + ":node:n1"}; err != nil || !slices.Equal(chans, wantChans) {
		t.Errorf("pub/sub channels = %v, %v; want %v", chans, err, wantChans)
	}
	counts, err := l.PresenceCounts(ctx)
	if err != nil || !mapsEqual(counts, map[string]int{"groups": 1}) {
		t.Errorf("PresenceCounts = %v, %v; want groups: 1", counts, err)
	}
	if entries := c.ZRange(ctx, p+":presence:groups", 0, -1).Val(); !slices.Equal(entries, []string{box.Name + "|ann"}) {
		t.Errorf("presence entries = %v, want [%s|ann]", entries, box.Name)
	}
}
