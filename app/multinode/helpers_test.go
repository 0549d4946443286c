package multinode

import (
	"fmt"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/config"
	"chat/app/faults"
	"chat/app/store/storetest"
)

// cluster is nodes in this process sharing one PostgreSQL schema and one private Redis.
type cluster struct {
	redis *faults.RedisServer
	dbURL string
	nodes []*apptest.Env
}

// nodeConfig is a node's settings on the cluster's database and Redis: no message rate
// limit (tests send steadily) and a catch-up limit high enough to replay a whole test.
func (c *cluster) nodeConfig(t testing.TB, name string) config.Config {
	cfg := apptest.Config(t)
	cfg.DatabaseURL = c.dbURL
	cfg.RedisURL = c.redis.URL
	cfg.NodeName = name
	cfg.MessageRate, cfg.MessageBurst = 0, 0
	cfg.CatchupLimit = 50000
	return cfg
}

// newCluster starts n nodes ("a", "b", ...); tune may change each node's settings.
func newCluster(t testing.TB, n int, tune func(*config.Config)) *cluster {
	t.Helper()
	c := &cluster{dbURL: storetest.PostgresURL(t)}
	c.redis = faults.StartRedis(t)
	for i := range n {
		cfg := c.nodeConfig(t, string(rune('a'+i)))
		if tune != nil {
			tune(&cfg)
		}
		c.nodes = append(c.nodes, apptest.Start(t, cfg))
	}
	return c
}

// storedIDs is the room's messages as the database has them, read through a fresh socket
// with since=0 on node e.
func storedIDs(t testing.TB, c *apptest.Client, room string) []int64 {
	t.Helper()
	return faults.IDs(faults.CatchUp(t, c, room, 0))
}

// watch opens room on c's node and records it.
func watch(t testing.TB, c *apptest.Client, room string) *faults.Stream {
	t.Helper()
	st := faults.Watch(c.MustDial(room, ""))
	t.Cleanup(st.Close)
	return st
}

// waitPresence waits for a presence frame listing exactly users.
func waitPresence(t testing.TB, st *faults.Stream, d time.Duration, users ...string) {
	t.Helper()
	want := fmt.Sprint(users)
	_, _, err := st.WaitType(d, 0, "presence", func(f apptest.Frame) bool {
		return fmt.Sprint(names(f)) == want
	})
	if err != nil {
		t.Fatalf("presence %v: %v; presence frames: %v", users, err, presenceLists(st))
	}
}

// lastPresence waits until the latest presence frame lists exactly users.
func lastPresence(t testing.TB, st *faults.Stream, d time.Duration, users ...string) {
	t.Helper()
	want := fmt.Sprint(users)
	ok := st.WaitFor(d, func(frames []apptest.Frame, _ bool) bool {
		for i := len(frames) - 1; i >= 0; i-- {
			if frames[i].Type() == "presence" {
				return fmt.Sprint(names(frames[i])) == want
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("latest presence is not %v; presence frames: %v", users, presenceLists(st))
	}
}

func names(f apptest.Frame) []string {
	raw, _ := f["users"].([]any)
	out := make([]string, 0, len(raw))
	for _, u := range raw {
		s, _ := u.(string)
		out = append(out, s)
	}
	return out
}

func presenceLists(st *faults.Stream) [][]string {
	var out [][]string
	for _, f := range st.OfType("presence") {
		out = append(out, names(f))
	}
	return out
}
