package faults

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"chat/app/apptest"
)

// TestKillMidTrafficLosesNothing is the durability promise. Six members in three rooms send
// steadily with client ids; the server is killed with SIGKILL in the middle and started again
// on the same SQLite file. Then every message any member saw (as a chat.message) or had
// confirmed (ack) is stored exactly once; each member's view, completed by a reconnect with
// ?since=<last id>, is exactly its room's stored messages; and resending every unconfirmed
// message with its client id stores what was missing and doubles nothing.
func TestKillMidTrafficLosesNothing(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "chat.db")
	p := StartProc(t, chatBin, "", "DATABASE_URL="+db, "REDIS_URL=", "MESSAGE_RATE=0", "MESSAGE_BURST=0",
		"CATCHUP_LIMIT=50000")
	site := p.Site()
	rooms := []string{"red", "green", "blue"}
	var members []*Member
	for i := range 6 {
		m := NewMember(t, site.NewUser(fmt.Sprintf("user%d", i)), rooms[i%len(rooms)])
		m.MustConnect()
		members = append(members, m)
	}
	text := func(clientID string) string { return "durable " + clientID }

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() {
			tick := time.NewTicker(15 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := m.NextClientID()
				_ = m.SendID(id, text(id)) // fails once the server is dead: then it is unconfirmed
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	p.Kill()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, m := range members {
		<-m.Current().Done()
	}

	// What the members knew when the server died.
	seen := map[string]bool{}   // user/client_id of every chat.message any member received
	acked := map[string]int64{} // user/client_id -> id of every ack
	for _, m := range members {
		for _, f := range m.View() {
			seen[key(f.Str("user"), f.Str("client_id"))] = true
		}
		for cid, id := range m.Acked() {
			acked[key(m.Client().Username, cid)] = id
		}
	}
	if len(acked) == 0 || len(seen) == 0 {
		t.Fatalf("no traffic before the kill: %d acked, %d seen", len(acked), len(seen))
	}

	p.Restart()
	stored := storedByKey(t, members, rooms)
	for k := range seen {
		if n := len(stored[k]); n != 1 {
			t.Errorf("message %s was seen before the kill but is stored %d times", k, n)
		}
	}
	for k, id := range acked {
		if ids := stored[k]; len(ids) != 1 || ids[0] != id {
			t.Errorf("message %s was acknowledged as %d before the kill but is stored as %v", k, id, ids)
		}
	}
	var sent, unconfirmed, storedUnconfirmed int
	for _, m := range members {
		for _, cid := range m.Sent() {
			sent++
			k := key(m.Client().Username, cid)
			if _, ok := acked[k]; !ok {
				unconfirmed++
				if len(stored[k]) > 0 {
					storedUnconfirmed++
				}
			}
		}
	}
	t.Logf("before the kill: %d sent, %d acknowledged, %d seen; %d unconfirmed of which %d were stored",
		sent, len(acked), len(seen), unconfirmed, storedUnconfirmed)

	// Each member reconnects with since=<last id> and its view becomes its room's messages.
	roomIDs := map[string][]int64{}
	for _, room := range rooms {
		roomIDs[room] = IDs(CatchUp(t, members[0].Client(), room, 0))
	}
	for _, m := range members {
		m.MustConnect()
		if _, _, err := m.Current().WaitType(10*time.Second, 0, "catchup", nil); err != nil {
			t.Fatalf("%s: %v", m.Client().Username, err)
		}
		if err := CompareView(m.View(), roomIDs[m.Room]); err != nil {
			t.Errorf("%s in %s, after the reconnect: %v", m.Client().Username, m.Room, err)
		}
	}

	// Resending every unconfirmed message with its client id stores each once: the ones
	// stored before the kill come back as duplicates of their row.
	type resend struct {
		m        *Member
		cid      string
		wasThere bool
	}
	var resends []resend
	for _, m := range members {
		for _, cid := range m.Sent() {
			k := key(m.Client().Username, cid)
			if _, ok := acked[k]; ok {
				continue
			}
			resends = append(resends, resend{m, cid, len(stored[k]) > 0})
			if err := m.SendID(cid, text(cid)); err != nil {
				t.Fatalf("resend: %v", err)
			}
		}
	}
	for _, r := range resends {
		f, _, err := r.m.Current().WaitType(15*time.Second, 0, "ack", func(f apptest.Frame) bool {
			return f.Str("client_id") == r.cid
		})
		if err != nil {
			t.Fatalf("resend of %s: %v", r.cid, err)
		}
		if dup, _ := f["duplicate"].(bool); dup != r.wasThere {
			t.Errorf("resend of %s: duplicate=%v, but stored before the resend: %v", r.cid, dup, r.wasThere)
		}
	}
	final := storedByKey(t, members, rooms)
	for _, m := range members {
		for _, cid := range m.Sent() {
			if n := len(final[key(m.Client().Username, cid)]); n != 1 {
				t.Errorf("after the resends, %s/%s is stored %d times", m.Client().Username, cid, n)
			}
		}
	}
	total := 0
	for k, ids := range final {
		total += len(ids)
		if len(ids) != 1 {
			t.Errorf("%s is stored %d times", k, len(ids))
		}
	}
	if total != sent {
		t.Errorf("%d messages stored, %d sent", total, sent)
	}
}

func key(user, clientID string) string { return user + "/" + clientID }

// storedByKey reads every room from the database (a socket with since=0) and maps
// user/client_id to the ids stored under it.
func storedByKey(t *testing.T, members []*Member, rooms []string) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	for _, room := range rooms {
		for _, f := range CatchUp(t, members[0].Client(), room, 0) {
			k := key(f.Str("user"), f.Str("client_id"))
			out[k] = append(out[k], f.ID())
		}
	}
	return out
}
