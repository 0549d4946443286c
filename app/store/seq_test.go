package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// Each room numbers its messages 1, 2, 3... in the order they are stored, across batches; a
// repeat of a client id takes no number and reports the stored message's.
func TestMessageSeqs(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice := mustUser(t, s, "alice")
		a, b := mustRoom(t, s, "a"), mustRoom(t, s, "b")
		batch := []*models.Message{
			msg(b, alice, "b1", ""),
			msg(a, alice, "a1", "c-1"),
			msg(a, alice, "a1 again", "c-1"),
			msg(b, alice, "b2", ""),
			msg(a, alice, "a2", ""),
		}
		mustSave(t, s, batch...)
		if got := seqsOf(batch); fmt.Sprint(got) != "[1 1 1 2 2]" {
			t.Errorf("seqs = %v, want [1 1 1 2 2]", got)
		}
		next := []*models.Message{msg(a, alice, "a3", ""), msg(b, alice, "b3", "")}
		mustSave(t, s, next...)
		if got := seqsOf(next); fmt.Sprint(got) != "[3 3]" {
			t.Errorf("second batch seqs = %v, want [3 3]", got)
		}
		// A resend of a stored message gets its number back and leaves no unused number, alone
		// or in a batch with new messages of the same room.
		resend := msg(a, alice, "a1", "c-1")
		if dup := mustSave(t, s, resend); !dup[0] || resend.Seq != 1 {
			t.Errorf("resend = dup %v seq %d, want the stored seq 1", dup[0], resend.Seq)
		}
		mixed := []*models.Message{msg(a, alice, "a4", ""), msg(a, alice, "a1 once more", "c-1"), msg(a, alice, "a5", "c-5")}
		dup := mustSave(t, s, mixed...)
		if got := seqsOf(mixed); fmt.Sprint(got, dup) != "[4 1 5] [false true false]" {
			t.Errorf("mixed batch seqs %v duplicates %v, want [4 1 5] [false true false]", got, dup)
		}
		for room, want := range map[string]int64{"a": 5, "b": 3} {
			r, err := s.RoomByName(ctx, room)
			if err != nil || r.MessageCount != want || r.LastSeq != want {
				t.Errorf("room %s = %+v, %v; want %d messages and last_seq %d", room, r, err, want, want)
			}
		}
		// Reads carry the number.
		got, err := s.RecentMessages(ctx, a.ID, 10)
		if err != nil || fmt.Sprint(seqsOfValues(got)) != "[1 2 3 4 5]" {
			t.Errorf("RecentMessages seqs = %v, %v; want [1 2 3 4 5]", seqsOfValues(got), err)
		}
	})
}

// MessagesAfterSeq says how far its answer is complete, past deleted numbers and at the limit.
func TestMessagesAfterSeq(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice := mustUser(t, s, "alice")
		room, empty := mustRoom(t, s, "room"), mustRoom(t, s, "empty")
		var batch []*models.Message
		for i := range 6 {
			batch = append(batch, msg(room, alice, fmt.Sprint("m", i+1), ""))
		}
		mustSave(t, s, batch...)
		for _, seq := range []int{2, 6} { // a hole and the tail
			if _, err := s.DeleteMessage(ctx, batch[seq-1].ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			after   int64
			limit   int
			want    string
			through int64
		}{
			{0, 10, "[1 3 4 5]", 6},
			{0, 2, "[1 3]", 3},
			{1, 10, "[3 4 5]", 6},
			{5, 10, "[]", 6},
			{6, 10, "[]", 6},
		} {
			got, through, err := s.MessagesAfterSeq(ctx, room.ID, tt.after, tt.limit)
			if err != nil || fmt.Sprint(seqsOfValues(got)) != tt.want || through != tt.through {
				t.Errorf("MessagesAfterSeq(after %d, limit %d) = %v through %d, %v; want %s through %d",
					tt.after, tt.limit, seqsOfValues(got), through, err, tt.want, tt.through)
			}
		}
		if got, through, err := s.MessagesAfterSeq(ctx, empty.ID, 0, 10); err != nil || len(got) != 0 || through != 0 {
			t.Errorf("empty room = %d messages through %d, %v; want none through 0", len(got), through, err)
		}
		if _, _, err := s.MessagesAfterSeq(ctx, empty.ID+1000, 0, 10); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown room: %v, want ErrNotFound", err)
		}
	})
}

// Two stores on one database (two nodes) write into the same rooms at once while a third
// follows each room the way a page does: it asks for what follows its contiguous seq and
// trusts through. The follower must end with every message, and each room's seqs must be
// 1..n with no hole and in id order, so a page that sees seq n+1 knows n exists or existed.
func TestSeqsAcrossWriters(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, url string) {
		nodes := []*store.Store{storetest.Open(t, url), storetest.Open(t, url)}
		reader := storetest.Open(t, url)
		u := mustUser(t, nodes[0], "alice")
		rooms := []*models.Room{mustRoom(t, nodes[0], "r1"), mustRoom(t, nodes[0], "r2")}

		const writersPerNode, batches, size = 3, 15, 4
		var writers sync.WaitGroup
		done := make(chan struct{})
		for n, node := range nodes {
			for w := range writersPerNode {
				writers.Go(func() {
					for b := range batches {
						batch := make([]*models.Message, size)
						for i := range batch {
							batch[i] = msg(rooms[(w+b+i)%len(rooms)], u, fmt.Sprintf("n%d w%d b%d i%d", n, w, b, i), "")
						}
						if _, err := node.SaveMessages(ctx, batch); err != nil {
							t.Errorf("node %d writer %d: %v", n, w, err)
							return
						}
					}
				})
			}
		}
		followed := make([]map[int64]bool, len(rooms))
		var follower sync.WaitGroup
		for i, r := range rooms {
			followed[i] = map[int64]bool{}
			follower.Go(func() {
				const page = 7
				var contiguous int64
				for finished := false; ; {
					select {
					case <-done:
						finished = true
					default:
					}
					got, through, err := reader.MessagesAfterSeq(ctx, r.ID, contiguous, page)
					if err != nil {
						t.Error(err)
						return
					}
					for _, m := range got {
						followed[i][m.ID] = true
					}
					contiguous = through
					if finished && len(got) < page {
						return // a full read after the writers finished
					}
				}
			})
		}
		writers.Wait()
		close(done)
		follower.Wait()

		total := 0
		for i, r := range rooms {
			all, err := reader.MessagesAfter(ctx, r.ID, 0, 10000)
			if err != nil {
				t.Fatal(err)
			}
			total += len(all)
			for k, m := range all { // by id
				if m.Seq != int64(k+1) {
					t.Fatalf("room %s: message %d (id %d) has seq %d, want %d", r.Name, k, m.ID, m.Seq, k+1)
				}
			}
			var missed []int64
			for _, m := range all {
				if !followed[i][m.ID] {
					missed = append(missed, m.Seq)
				}
			}
			if len(missed) > 0 {
				t.Errorf("room %s: the follower never saw seqs %v", r.Name, missed)
			}
			got, _ := reader.RoomByName(ctx, r.Name)
			if got.LastSeq != int64(len(all)) || got.MessageCount != int64(len(all)) {
				t.Errorf("room %s: last_seq %d, message_count %d, want %d", r.Name, got.LastSeq, got.MessageCount, len(all))
			}
		}
		if want := 2 * writersPerNode * batches * size; total != want {
			t.Errorf("%d messages stored, want %d", total, want)
		}
	})
}

func seqsOf(msgs []*models.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

func seqsOfValues(msgs []models.Message) []int64 {
	out := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.Seq)
	}
	return slices.Clip(out)
}

// One batch claims numbers, counts and last-message times for each of its rooms, with few
// rooms and with many (which SQLite claims in one statement), and a batch naming a room that
// does not exist stores nothing and changes no room.
func TestSeqClaimsAcrossRooms(t *testing.T) {
	for _, n := range []int{3, 40} {
		t.Run(fmt.Sprint(n, " rooms"), func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, s *store.Store) {
				checkClaimsAcrossRooms(t, s, n)
			})
		})
	}
}

func checkClaimsAcrossRooms(t *testing.T, s *store.Store, n int) {
	alice := mustUser(t, s, "alice")
	var rooms []*models.Room
	for k := range n {
		rooms = append(rooms, mustRoom(t, s, fmt.Sprint("r", k)))
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var batch []*models.Message
	for i := range 3 * n {
		m := msg(rooms[i%n], alice, fmt.Sprint("m", i), "")
		m.CreatedAt = t0.Add(time.Duration(i*(3*n-i)) * time.Second) // rises, then falls
		batch = append(batch, m)
	}
	mustSave(t, s, batch...)
	for i, m := range batch {
		if want := int64(i/n + 1); m.Seq != want {
			t.Fatalf("message %d of room %d has seq %d, want %d", i, i%n, m.Seq, want)
		}
	}
	lastAt := make([]time.Time, n)
	for k, room := range rooms {
		newest := batch[k].CreatedAt // the newest of the room's three (i = k, k+n, k+2n)
		for i := k; i < len(batch); i += n {
			if batch[i].CreatedAt.After(newest) {
				newest = batch[i].CreatedAt
			}
		}
		r, err := s.RoomByName(ctx, room.Name)
		if err != nil || r.LastSeq != 3 || r.MessageCount != 3 || r.LastMessageAt == nil || !r.LastMessageAt.Equal(newest) {
			t.Errorf("room %s = %+v, %v; want 3 messages, last_seq 3, last message at %v", room.Name, r, err, newest)
		}
		lastAt[k] = newest
	}

	// A second batch over every room: a newer message moves last_message_at on, an older one
	// (a clock that went back, say) does not move it back.
	later, earlier := t0.Add(time.Hour), t0.Add(-time.Hour)
	var second []*models.Message
	for k, room := range rooms {
		m := msg(room, alice, "second", "")
		m.CreatedAt = later
		if k%2 == 1 {
			m.CreatedAt = earlier
		}
		second = append(second, m)
	}
	mustSave(t, s, second...)
	for k, room := range rooms {
		r, err := s.RoomByName(ctx, room.Name)
		want := later
		if k%2 == 1 {
			want = lastAt[k]
		}
		if err != nil || r.LastSeq != 4 || r.MessageCount != 4 || second[k].Seq != 4 || r.LastMessageAt == nil || !r.LastMessageAt.Equal(want) {
			t.Errorf("room %s after a second batch = %+v, %v (message seq %d); want 4 messages, last_seq 4, last message at %v",
				room.Name, r, err, second[k].Seq, want)
		}
	}

	missing := &models.Room{ID: rooms[n-1].ID + 1000, Name: "missing"}
	var bad []*models.Message
	for _, room := range rooms[:n-1] {
		bad = append(bad, msg(room, alice, "x", ""))
	}
	bad = append(bad, msg(missing, alice, "y", ""))
	if _, err := s.SaveMessages(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a batch with an unknown room: %v, want ErrNotFound", err)
	}
	next := []*models.Message{msg(rooms[1], alice, "after", ""), msg(rooms[0], alice, "after", "")}
	mustSave(t, s, next...)
	if got := seqsOf(next); fmt.Sprint(got) != "[5 5]" {
		t.Errorf("seqs after the failed batch = %v, want [5 5]", got)
	}
	if r, _ := s.RoomByName(ctx, rooms[2].Name); r.LastSeq != 4 || r.MessageCount != 4 {
		t.Errorf("room %s after the failed batch = %+v, want 4 messages and last_seq 4", rooms[2].Name, r)
	}
}
