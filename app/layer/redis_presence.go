package layer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Presence lives in Redis as one sorted set per group, <prefix>:presence:<group>, whose
// members are "channel|member" scored by the unix milliseconds at which the entry expires.
// The node that recorded an entry renews it every PresenceTTL/3; readers ignore (and prune)
// entries past their score, so the people of a node that died drop out after PresenceTTL.
// <prefix>:presence-groups lists the groups that may have entries, for PresenceCounts (a
// name that no group's own key can take, since group names have no ':').
// Scores come from the nodes' clocks, which must agree to well within PresenceTTL.

// presenceEntry joins channel and member; channel names cannot contain '|', so the first '|'
// splits them again whatever the member name holds.
func presenceEntry(channel, member string) string { return channel + "|" + member }

func entryMember(entry string) string {
	_, member, _ := strings.Cut(entry, "|")
	return member
}

// keyTTL lets Redis drop a presence key no live node renews any more.
func (r *Redis) keyTTL() time.Duration { return 2 * r.opts.PresenceTTL }

func (r *Redis) expiryScore() float64 {
	return float64(time.Now().Add(r.opts.PresenceTTL).UnixMilli())
}

// lockPresence locks the presence shards of the groups in present, in index order so two
// callers never deadlock, and returns them for unlockPresence.
func (r *Redis) lockPresence(present map[string]string) []int {
	var idx []int
	for g := range present {
		idx = append(idx, r.mem.shardIndex(g))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		r.presMu[i].Lock()
	}
	return idx
}

func (r *Redis) unlockPresence(idx []int) {
	for _, i := range idx {
		r.presMu[i].Unlock()
	}
}

// PresenceAdd records channel as present in group under member, locally (so the heartbeat
// renews it) and in Redis. If Redis cannot be reached the error is returned, and the entry
// reaches Redis with the next heartbeat after it is back.
func (r *Redis) PresenceAdd(ctx context.Context, group, channel, member string) error {
	if err := r.check2(group, channel); err != nil {
		return err
	}
	mu := &r.presMu[r.mem.shardIndex(group)]
	mu.Lock()
	defer mu.Unlock()
	old, had := r.mem.presenceOf(group, channel)
	if err := r.mem.PresenceAdd(ctx, group, channel, member); err != nil {
		return err
	}
	if err := r.unavailable(); err != nil {
		return err
	}
	key := r.presenceKey(group)
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if had && old != member {
			p.ZRem(ctx, key, presenceEntry(channel, old))
		}
		r.writePresence(ctx, p, group, []redis.Z{{Score: r.expiryScore(), Member: presenceEntry(channel, member)}})
		return nil
	})
	if r.noteErr(err); err != nil {
		return fmt.Errorf("layer: recording presence in %q: %w", group, err)
	}
	return nil
}

// writePresence queues the ZADD of entries with the key renewals. The set of groups is
// written after the entries, so a PresenceCounts that finds the group empty and forgets it
// (atomically, in forgetGroup) cannot run between the two and lose a group that has people.
func (r *Redis) writePresence(ctx context.Context, p redis.Pipeliner, group string, entries []redis.Z) {
	key := r.presenceKey(group)
	p.ZAdd(ctx, key, entries...)
	p.PExpire(ctx, key, r.keyTTL())
	p.SAdd(ctx, r.groupsKey, group)
	p.PExpire(ctx, r.groupsKey, r.keyTTL())
}

// PresenceRemove forgets channel's presence in group. An entry another node recorded is
// found by scanning the group's entries.
func (r *Redis) PresenceRemove(ctx context.Context, group, channel string) error {
	if err := r.check2(group, channel); err != nil {
		return err
	}
	mu := &r.presMu[r.mem.shardIndex(group)]
	mu.Lock()
	defer mu.Unlock()
	old, had := r.mem.presenceOf(group, channel)
	if err := r.mem.PresenceRemove(ctx, group, channel); err != nil {
		return err
	}
	if err := r.unavailable(); err != nil {
		return err // the entry, no longer renewed, expires
	}
	key := r.presenceKey(group)
	var err error
	if had {
		err = r.client.ZRem(ctx, key, presenceEntry(channel, old)).Err()
	} else {
		err = r.removeScanned(ctx, key, channel)
	}
	if r.noteErr(err); err != nil {
		return fmt.Errorf("layer: removing presence from %q: %w", group, err)
	}
	return nil
}

// removeScanned removes channel's entries from a presence set without knowing their member.
// Channel names hold no glob characters, so the MATCH pattern is literal up to the '*'.
func (r *Redis) removeScanned(ctx context.Context, key, channel string) error {
	iter := r.client.ZScan(ctx, key, 0, channel+"|*", 1000).Iterator()
	var found []any
	for i := 0; iter.Next(ctx); i++ {
		if i%2 == 0 { // ZSCAN yields member, score, member, score...
			found = append(found, iter.Val())
		}
	}
	if err := iter.Err(); err != nil || len(found) == 0 {
		return err
	}
	return r.client.ZRem(ctx, key, found...).Err()
}

// Presence lists the distinct members present in group on every node, sorted, and how many
// live channels they hold.
func (r *Redis) Presence(ctx context.Context, group string) (members []string, channels int, err error) {
	if err := r.check(group, ValidGroupName); err != nil {
		return nil, 0, err
	}
	if err := r.unavailable(); err != nil {
		return nil, 0, err
	}
	var live *redis.StringSliceCmd
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		live = r.livePresence(ctx, p, group)
		return nil
	})
	if r.noteErr(err); err != nil {
		return nil, 0, fmt.Errorf("layer: reading presence of %q: %w", group, err)
	}
	members = distinctMembers(live.Val())
	slices.Sort(members)
	return members, len(live.Val()), nil
}

// livePresence queues the pruning of a group's expired entries and the read of the rest.
func (r *Redis) livePresence(ctx context.Context, p redis.Pipeliner, group string) *redis.StringSliceCmd {
	key := r.presenceKey(group)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	p.ZRemRangeByScore(ctx, key, "-inf", "("+now)
	return p.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: now, Max: "+inf"})
}

func distinctMembers(entries []string) []string {
	members := make([]string, 0, len(entries))
	seen := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		m := entryMember(e)
		if _, dup := seen[m]; !dup {
			seen[m] = struct{}{}
			members = append(members, m)
		}
	}
	return members
}

// forgetGroup drops a group from the set of groups with presence only if its entries are
// really gone, atomically, so it cannot race with a node adding someone.
var forgetGroup = redis.NewScript(`
if redis.call('ZCARD', KEYS[1]) == 0 then
	return redis.call('SREM', KEYS[2], ARGV[1])
end
return 0`)

// PresenceCounts maps every group with anyone present, on any node, to its distinct members.
func (r *Redis) PresenceCounts(ctx context.Context) (map[string]int, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if err := r.unavailable(); err != nil {
		return nil, err
	}
	listed, err := r.client.SMembers(ctx, r.groupsKey).Result()
	if r.noteErr(err); err != nil {
		return nil, fmt.Errorf("layer: reading presence groups: %w", err)
	}
	groups := slices.Concat(listed, r.mem.presenceGroups())
	slices.Sort(groups)
	groups = slices.Compact(groups)
	live := make([]*redis.StringSliceCmd, len(groups))
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			live[i] = r.livePresence(ctx, p, g)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: reading presence: %w", err)
	}
	counts := make(map[string]int, len(groups))
	for i, g := range groups {
		if n := len(distinctMembers(live[i].Val())); n > 0 {
			counts[g] = n
		} else if ValidGroupName(g) {
			_ = forgetGroup.Run(ctx, r.client, []string{r.presenceKey(g), r.groupsKey}, g).Err()
		}
	}
	return counts, nil
}

func (r *Redis) heartbeatLoop() {
	defer r.loops.Done()
	t := time.NewTicker(r.opts.PresenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
			if r.unavailable() != nil {
				continue // the first round after Redis is back rewrites everything
			}
			ctx, cancel := context.WithTimeout(r.ctx, r.opts.PresenceTTL/3)
			r.noteErr(r.renewPresence(ctx))
			cancel()
		}
	}
}

// renewPresence pushes the expiry of this node's entries forward, one pipeline per shard. It
// uses ZADD without XX on purpose: entries lost while Redis was down or restarted come back.
// Every shard gets the same expiry, so a node's people in several groups drop out together.
func (r *Redis) renewPresence(ctx context.Context) error {
	var firstErr error
	score := r.expiryScore()
	for i := range r.presMu {
		r.presMu[i].Lock()
		entries := r.mem.shardPresence(i)
		var err error
		if len(entries) > 0 {
			_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for group, byChannel := range entries {
					zs := make([]redis.Z, 0, len(byChannel))
					for channel, member := range byChannel {
						zs = append(zs, redis.Z{Score: score, Member: presenceEntry(channel, member)})
					}
					r.writePresence(ctx, p, group, zs)
				}
				return nil
			})
		}
		r.presMu[i].Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// dropPresence removes this node's entries from Redis, so a node that shuts down cleanly
// does not leave its people listed for a PresenceTTL.
func (r *Redis) dropPresence(ctx context.Context) error {
	var firstErr error
	for i := range r.presMu {
		r.presMu[i].Lock()
		entries := r.mem.shardPresence(i)
		var err error
		if len(entries) > 0 {
			_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for group, byChannel := range entries {
					for channel, member := range byChannel {
						p.ZRem(ctx, r.presenceKey(group), presenceEntry(channel, member))
					}
				}
				return nil
			})
		}
		r.presMu[i].Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
