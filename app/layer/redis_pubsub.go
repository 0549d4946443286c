package layer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncSub makes the group's subscription match this node's local membership: subscribed
// while the group has a local member, not after. Run after every membership change, it
// converges however changes interleave, because each run looks at the current state under
// subMu. It returns the subscription when the caller should wait for Redis to confirm it,
// and an error when a needed subscription could not be sent.
func (r *Redis) syncSub(ctx context.Context, group string) (*subscription, error) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.closed.Load() {
		return nil, ErrClosed
	}
	sub := r.subs[group]
	switch has := r.mem.hasMembers(group); {
	case has && sub == nil:
		sub = &subscription{}
		r.subs[group] = sub
	case !has && sub != nil:
		delete(r.subs, group)
		sub = nil
	}
	if err := r.applySub(ctx, group); err != nil {
		return nil, err
	}
	if sub != nil && !sub.ready {
		return sub, nil
	}
	return nil, nil
}

// applySub tells go-redis what r.subs wants for group, unless Redis is down: then the change
// waits for reconcile, rather than every GroupAdd and GroupDiscard waiting out a dial. It
// runs under subMu.
func (r *Redis) applySub(ctx context.Context, group string) error {
	want := r.subs[group] != nil
	if want == r.issued[group] {
		return nil
	}
	if err := r.unavailable(); err != nil {
		if want {
			return err
		}
		return nil
	}
	if !want {
		delete(r.issued, group)
		// go-redis forgets the channel even if the write fails, so it is not resubscribed.
		_ = r.ps.Unsubscribe(ctx, r.groupKey(group))
		return nil
	}
	// go-redis remembers the channel even if the write fails, and subscribes when it reconnects.
	r.issued[group] = true
	err := r.ps.Subscribe(ctx, r.groupKey(group))
	r.noteErr(err)
	return err
}

// reconcile applies the subscription changes that waited while Redis was down.
func (r *Redis) reconcile(ctx context.Context) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.closed.Load() {
		return
	}
	for g := range r.subs {
		_ = r.applySub(ctx, g)
	}
	for g := range r.issued {
		_ = r.applySub(ctx, g)
	}
}

func (r *Redis) isSubscribed(group string) bool {
	r.subMu.RLock()
	defer r.subMu.RUnlock()
	return r.subs[group] != nil
}

func (r *Redis) subscribedGroups() []string {
	r.subMu.RLock()
	defer r.subMu.RUnlock()
	out := make([]string, 0, len(r.subs))
	for g := range r.subs {
		out = append(out, g)
	}
	return out
}

func (r *Redis) pubsub() *redis.PubSub {
	r.subMu.RLock()
	defer r.subMu.RUnlock()
	return r.ps
}

// confirm waits until Redis has processed the subscription, then marks it ready so later
// members of the group do not wait.
func (r *Redis) confirm(ctx context.Context, sub *subscription) error {
	if err := r.barrier(ctx); err != nil {
		return err
	}
	r.subMu.Lock()
	sub.ready = true
	r.subMu.Unlock()
	return nil
}

// barrier sends PING on the pub/sub connection and waits for its PONG. Redis answers commands
// of a connection in order, so the PONG proves every SUBSCRIBE sent before it took effect; if
// go-redis reconnected in between, the new connection resubscribed everything before the
// PING. Only the receive loop reads PONGs, so it must never call barrier.
func (r *Redis) barrier(ctx context.Context) error {
	if err := r.unavailable(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	token, ch := r.expect("sub")
	defer r.forget(token)
	for attempt := 0; ; attempt++ {
		err := r.pubsub().Ping(ctx, token)
		if err == nil {
			break
		}
		// The health check may have just replaced the connection; PING the new one.
		if !errors.Is(err, redis.ErrClosed) || attempt == 2 || r.closed.Load() {
			return err
		}
	}
	select {
	case <-ch:
		return nil
	case <-r.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("redis did not confirm the subscription: %w", ctx.Err())
	}
}

// expect registers a fresh token whose arrival (as a PONG or a ping message) closes ch.
func (r *Redis) expect(kind string) (token string, ch chan struct{}) {
	token = kind + ":" + r.opts.Node + ":" + strconv.FormatUint(r.tokens.Add(1), 10)
	ch = make(chan struct{})
	r.waitMu.Lock()
	r.waiters[token] = ch
	r.waitMu.Unlock()
	return token, ch
}

func (r *Redis) forget(token string) {
	r.waitMu.Lock()
	delete(r.waiters, token)
	r.waitMu.Unlock()
}

func (r *Redis) arrived(token string) {
	r.waitMu.Lock()
	if ch := r.waiters[token]; ch != nil {
		close(ch)
		delete(r.waiters, token)
	}
	r.waitMu.Unlock()
}

// receive is the node's single reader of pub/sub. It reads with go-redis's low-level Receive
// rather than PubSub.Channel: that one would add a second buffer and goroutine, drop messages
// after a minute of backlog, and hide PONGs, which barrier needs. go-redis still reconnects
// and resubscribes by itself when a read fails; this loop only paces the retries.
func (r *Redis) receive() {
	defer r.receiver.Done()
	backoff := time.Duration(0)
	for {
		ps := r.pubsub()
		msg, err := ps.Receive(r.ctx)
		if r.closed.Load() {
			return
		}
		if err != nil {
			if backoff == 0 {
				// The subscription broke: other nodes' group messages may be lost from here
				// until it is back, so members resynchronise from the database.
				r.mem.overflowGroupMembers()
			}
			if r.pubsub() != ps {
				backoff = 0 // replaced by the health check: read the new one at once
				continue
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-r.done:
				return
			}
			continue
		}
		backoff = 0
		switch m := msg.(type) {
		case *redis.Message:
			r.handle(m.Channel, m.Payload)
		case *redis.Pong:
			r.arrived(m.Payload)
		}
	}
}

// handle acts on one published message. The event is decoded once and the same *Event goes
// to every local member.
func (r *Redis) handle(channel, payload string) {
	env, err := decodeEnvelope(payload)
	if err != nil {
		return // not ours to understand: another version, or not a layer message
	}
	ctx := r.ctx
	switch env.kind {
	case kindGroup:
		group, ok := strings.CutPrefix(channel, r.groupPfx)
		if !ok || env.origin == r.opts.Node {
			return // this node delivered it locally before publishing
		}
		_ = r.mem.GroupSend(ctx, group, env.ev)
		if !r.mem.hasMembers(group) {
			_, _ = r.syncSub(ctx, group) // a message still in flight, or members expired
		}
	case kindSend:
		r.mem.deliver(env.target, env.ev)
	case kindAdd:
		if r.mem.GroupAdd(ctx, env.group, env.target) == nil {
			_, _ = r.syncSub(ctx, env.group) // no barrier here: only this loop reads PONGs
		}
	case kindDiscard:
		if r.mem.GroupDiscard(ctx, env.group, env.target) == nil {
			_, _ = r.syncSub(ctx, env.group)
		}
	case kindClose:
		if ValidChannelName(env.target) {
			_ = r.closeLocal(ctx, env.target)
		}
	case kindPing:
		if env.origin == r.opts.Node {
			r.arrived(env.target)
		}
	case kindResync:
		if group, ok := strings.CutPrefix(channel, r.groupPfx); ok && env.origin != r.opts.Node {
			r.mem.overflowGroup(group)
		}
	}
}

// unavailable returns an ErrUnavailable error while Redis is known to be unreachable, so
// calls that need it fail at once instead of each waiting out go-redis's dial retries.
func (r *Redis) unavailable() error {
	if h := r.health.Load(); h.down {
		return fmt.Errorf("%w: %w", ErrUnavailable, h.err)
	}
	return nil
}

// noteErr marks Redis down when err says it could not be reached, and has the health loop
// probe at once, so a passing network error makes calls fail fast only until the probe.
func (r *Redis) noteErr(err error) {
	if !unreachable(err) || r.closed.Load() {
		return
	}
	for {
		old := r.health.Load()
		if old.down {
			break
		}
		h := &healthState{ok: old.ok, err: fmt.Errorf("layer: redis unreachable: %w", err), down: true}
		if r.health.CompareAndSwap(old, h) {
			break
		}
	}
	select {
	case r.probe <- struct{}{}:
	default:
	}
}

// unreachable tells a failure to reach Redis from an error Redis answered with, or the
// caller's own context ending.
func unreachable(err error) bool {
	var answered redis.Error
	return err != nil && !errors.As(err, &answered) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

func (r *Redis) healthLoop() {
	defer r.loops.Done()
	t := time.NewTimer(r.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		case <-r.probe:
		}
		_ = r.healthRound(r.ctx, r.opts.HealthInterval)
		next := r.opts.HealthInterval
		if r.health.Load().err != nil {
			next = min(next, retryInterval)
		}
		t.Reset(next)
	}
}

// healthRound publishes a ping to this node's own channel and waits up to wait for it to come
// back through the subscription, which tests the whole path a message from another node takes.
// When Redis accepted the ping but it never arrived, the pub/sub connection is broken in a
// way go-redis does not notice (a half-open socket, a lost subscription), so it is replaced.
// When Redis is unreachable, go-redis reconnects and resubscribes on its own once it is back.
func (r *Redis) healthRound(ctx context.Context, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	token, ch := r.expect("ping")
	defer r.forget(token)
	n, err := r.publishNow(ctx, r.nodeKey, kindPing, token, "", nil)
	if r.closed.Load() {
		return ErrClosed
	}
	if err != nil {
		// Whatever the error, even the round's own timeout, Redis is of no use now.
		err = fmt.Errorf("layer: redis health check: publishing a ping: %w", err)
		r.health.Store(&healthState{ok: r.health.Load().ok, err: err, down: true})
		return err
	}
	if old := r.health.Load(); old.down {
		// Reachable again: let calls through, and send what waited.
		r.health.Store(&healthState{ok: old.ok, err: old.err})
		r.reconcile(ctx)
	}
	r.resyncUnsent(ctx)
	if n == 0 {
		err = errors.New("nothing is subscribed to this node's channel")
	} else {
		select {
		case <-ch:
			r.health.Store(&healthState{ok: time.Now()})
			return nil
		case <-r.done:
			return ErrClosed
		case <-ctx.Done():
			err = errors.New("a ping published to this node's channel did not come back")
		}
	}
	err = fmt.Errorf("layer: redis health check: %w", err)
	r.health.Store(&healthState{ok: r.health.Load().ok, err: err})
	r.resetPubSub()
	return err
}

// resetPubSub replaces the pub/sub connection with a new one subscribed to everything this
// node needs; the receive loop moves over to it when the old one's read fails on Close.
func (r *Redis) resetPubSub() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.closed.Load() {
		return
	}
	channels := []string{r.nodeKey}
	clear(r.issued)
	for g, sub := range r.subs {
		channels = append(channels, r.groupKey(g))
		r.issued[g] = true
		sub.ready = false // the next GroupAdd confirms it on the new connection
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.HealthInterval)
	defer cancel()
	old := r.ps
	r.ps = r.client.Subscribe(ctx, channels...) // on error it subscribes when it connects
	_ = old.Close()
	r.resets.Add(1)
	// Whatever the old subscription failed to deliver is lost: members resynchronise.
	r.mem.overflowGroupMembers()
}
