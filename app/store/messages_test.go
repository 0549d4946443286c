package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

func TestSaveMessagesBatch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		lobby, other := mustRoom(t, s, "lobby"), mustRoom(t, s, "other")

		before := time.Now().UTC().Add(-time.Second)
		batch := []*models.Message{
			msg(lobby, alice, "one", ""),
			msg(other, bob, "two", ""),
			msg(lobby, bob, "three", "b-1"),
			msg(lobby, alice, "four", ""),
			msg(other, alice, "five", "a-1"),
		}
		dup := mustSave(t, s, batch...)
		for i, m := range batch {
			if dup[i] {
				t.Errorf("message %d marked duplicate", i)
			}
			if m.ID == 0 || (i > 0 && m.ID <= batch[i-1].ID) {
				t.Errorf("message %d id %d: ids must increase in slice order", i, m.ID)
			}
			if m.CreatedAt.Location() != time.UTC || m.CreatedAt.Before(before) || m.CreatedAt.Nanosecond()%1000 != 0 {
				t.Errorf("message %d CreatedAt = %v, want UTC now in microseconds", i, m.CreatedAt)
			}
		}

		got, err := s.MessageByID(ctx, batch[2].ID)
		if err != nil {
			t.Fatal(err)
		}
		want := *batch[2]
		want.Username, want.RoomName = "bob", "lobby"
		if !sameMessage(*got, want) {
			t.Errorf("MessageByID = %+v, want %+v", *got, want)
		}
		if _, err := s.MessageByID(ctx, batch[4].ID+100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MessageByID(missing) = %v, want ErrNotFound", err)
		}

		// Counters: once per room, whatever the batch size.
		for name, n := range map[string]int64{"lobby": 3, "other": 2} {
			r, err := s.RoomByName(ctx, name)
			if err != nil || r.MessageCount != n || r.LastMessageAt == nil || !r.LastMessageAt.Equal(batch[0].CreatedAt) {
				t.Errorf("room %s = %+v, %v; want count %d, last message at %v", name, r, err, n, batch[0].CreatedAt)
			}
		}

		// An empty batch is a no-op.
		if dup, err := s.SaveMessages(ctx, nil); err != nil || len(dup) != 0 {
			t.Errorf("SaveMessages(nil) = %v, %v", dup, err)
		}
	})
}

func TestSaveMessagesKeepsGivenTime(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, r := mustUser(t, s, "alice"), mustRoom(t, s, "lobby")
		at := time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.FixedZone("UTC-7", -7*3600))
		m := msg(r, u, "hi", "")
		m.CreatedAt = at
		mustSave(t, s, m)
		if !m.CreatedAt.Equal(at.Truncate(time.Microsecond)) || m.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v in UTC", m.CreatedAt, at)
		}
		got, _ := s.MessageByID(ctx, m.ID)
		if got == nil || !got.CreatedAt.Equal(m.CreatedAt) {
			t.Errorf("stored CreatedAt = %+v, want %v", got, m.CreatedAt)
		}
	})
}

func TestSaveMessagesIdempotent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		lobby := mustRoom(t, s, "lobby")

		first := msg(lobby, alice, "hello", "c-1")
		mustSave(t, s, first)

		// Across batches: the resend gets the stored row.
		resend := msg(lobby, alice, "hello (edited by a buggy client)", "c-1")
		if dup := mustSave(t, s, resend); !dup[0] {
			t.Error("resend not marked duplicate")
		}
		if resend.ID != first.ID || resend.Body != "hello" || !resend.CreatedAt.Equal(first.CreatedAt) {
			t.Errorf("resend = %+v, want the stored %+v", resend, first)
		}

		// Within one batch, mixed with new messages; another user may reuse the client id.
		batch := []*models.Message{
			msg(lobby, alice, "x", "c-2"),
			msg(lobby, alice, "x again", "c-2"),
			msg(lobby, alice, "no client id", ""),
			msg(lobby, alice, "no client id", ""),
			msg(lobby, bob, "bob's c-2", "c-2"),
			msg(lobby, alice, "hello again", "c-1"),
		}
		dup := mustSave(t, s, batch...)
		wantDup := []bool{false, true, false, false, false, true}
		for i := range batch {
			if dup[i] != wantDup[i] {
				t.Errorf("batch[%d] duplicate = %v, want %v", i, dup[i], wantDup[i])
			}
		}
		if batch[1].ID != batch[0].ID || batch[1].Body != "x" || !batch[1].CreatedAt.Equal(batch[0].CreatedAt) {
			t.Errorf("in-batch duplicate = %+v, want %+v", batch[1], batch[0])
		}
		if batch[5].ID != first.ID || batch[5].Body != "hello" {
			t.Errorf("batch duplicate of an old message = %+v, want id %d", batch[5], first.ID)
		}
		if batch[2].ID == batch[3].ID || batch[4].ID == batch[0].ID {
			t.Error("distinct messages share an id")
		}
		if batch[4].ID <= batch[3].ID || batch[3].ID <= batch[2].ID || batch[2].ID <= batch[0].ID {
			t.Errorf("stored ids not ascending: %d %d %d %d", batch[0].ID, batch[2].ID, batch[3].ID, batch[4].ID)
		}

		msgs, err := s.RecentMessages(ctx, lobby.ID, 100)
		if err != nil || len(msgs) != 5 {
			t.Fatalf("RecentMessages = %d messages, %v; want 5", len(msgs), err)
		}
		if r, _ := s.RoomByName(ctx, "lobby"); r.MessageCount != 5 {
			t.Errorf("message_count = %d, want 5 (duplicates not counted)", r.MessageCount)
		}
	})
}

func TestSaveMessagesIsAtomic(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, r := mustUser(t, s, "alice"), mustRoom(t, s, "lobby")
		good := msg(r, u, "good", "g-1")
		bad := &models.Message{RoomID: r.ID + 1000, UserID: u.ID, Body: "no such room"}
		if _, err := s.SaveMessages(ctx, []*models.Message{good, bad}); err == nil {
			t.Fatal("SaveMessages with a missing room succeeded")
		}
		if good.ID != 0 || !good.CreatedAt.IsZero() || good.Body != "good" {
			t.Errorf("failed batch modified its message: %+v", good)
		}
		if msgs, _ := s.RecentMessages(ctx, r.ID, 10); len(msgs) != 0 {
			t.Errorf("failed batch stored %d messages", len(msgs))
		}
		if room, _ := s.RoomByName(ctx, "lobby"); room.MessageCount != 0 || room.LastMessageAt != nil {
			t.Errorf("failed batch changed the room: %+v", room)
		}
		// The client id was not taken by the failed batch.
		if dup := mustSave(t, s, good); dup[0] {
			t.Error("client id of a rolled-back message counted as duplicate")
		}
	})
}

func TestMessagePaging(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, r, noise := mustUser(t, s, "alice"), mustRoom(t, s, "lobby"), mustRoom(t, s, "noise")
		var all []*models.Message
		for i := range 25 {
			batch := []*models.Message{msg(r, u, fmt.Sprint("m", i), ""), msg(noise, u, "noise", "")}
			mustSave(t, s, batch...)
			all = append(all, batch[0])
		}
		ids := func(msgs []models.Message) []int64 {
			out := make([]int64, len(msgs))
			for i, m := range msgs {
				out[i] = m.ID
				if m.RoomID != r.ID || m.Username != "alice" || m.RoomName != "lobby" {
					t.Errorf("message %+v: wrong room or missing names", m)
				}
			}
			return out
		}
		wantIDs := func(from, to int) []int64 {
			var out []int64
			for _, m := range all[from:to] {
				out = append(out, m.ID)
			}
			return out
		}

		recent, err := s.RecentMessages(ctx, r.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(recent), wantIDs(15, 25); !equalIDs(got, want) {
			t.Errorf("RecentMessages(10) = %v, want %v (oldest first)", got, want)
		}
		if recent[9].Body != "m24" {
			t.Errorf("newest body = %q", recent[9].Body)
		}

		// History paging back to the very first message.
		var back []int64
		before := recent[0].ID
		for pages := 0; ; pages++ {
			page, err := s.MessagesBefore(ctx, r.ID, before, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if pages > 10 {
				t.Fatal("MessagesBefore does not end")
			}
			back = append(ids(page), back...)
			before = page[0].ID
		}
		if want := wantIDs(0, 15); !equalIDs(back, want) {
			t.Errorf("MessagesBefore pages = %v, want %v", back, want)
		}

		// Catch-up from the start, then from the newest.
		var fwd []int64
		after := int64(0)
		for {
			page, err := s.MessagesAfter(ctx, r.ID, after, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			fwd = append(fwd, ids(page)...)
			after = page[len(page)-1].ID
		}
		if want := wantIDs(0, 25); !equalIDs(fwd, want) {
			t.Errorf("MessagesAfter pages = %v, want %v", fwd, want)
		}

		if msgs, err := s.RecentMessages(ctx, mustRoom(t, s, "empty").ID, 10); err != nil || len(msgs) != 0 {
			t.Errorf("RecentMessages(empty room) = %v, %v", msgs, err)
		}
	})
}

func TestEditAndDeleteMessage(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, r := mustUser(t, s, "alice"), mustRoom(t, s, "lobby")
		a, b := msg(r, u, "typo", "c-a"), msg(r, u, "keep", "")
		mustSave(t, s, a, b)

		edited := time.Now().Add(time.Minute)
		if err := s.UpdateMessageBody(ctx, a.ID, "fixed", edited); err != nil {
			t.Fatal(err)
		}
		got, _ := s.MessageByID(ctx, a.ID)
		if got == nil || got.Body != "fixed" || got.EditedAt == nil || !got.EditedAt.Equal(edited.Truncate(time.Microsecond)) {
			t.Errorf("after edit = %+v", got)
		}
		if err := s.UpdateMessageBody(ctx, b.ID+100, "x", edited); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateMessageBody(missing) = %v, want ErrNotFound", err)
		}

		del, err := s.DeleteMessage(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if del.ID != a.ID || del.Body != "fixed" || del.Username != "alice" || del.RoomName != "lobby" || del.ClientID != "c-a" {
			t.Errorf("DeleteMessage returned %+v", del)
		}
		if _, err := s.MessageByID(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted message still found: %v", err)
		}
		if _, err := s.DeleteMessage(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteMessage = %v, want ErrNotFound", err)
		}
		if room, _ := s.RoomByName(ctx, "lobby"); room.MessageCount != 1 {
			t.Errorf("message_count after delete = %d, want 1", room.MessageCount)
		}
		if msgs, _ := s.RecentMessages(ctx, r.ID, 10); len(msgs) != 1 || msgs[0].ID != b.ID {
			t.Errorf("messages after delete = %+v", msgs)
		}
		// A new message never reuses the deleted id.
		c := msg(r, u, "new", "")
		mustSave(t, s, c)
		if c.ID <= b.ID {
			t.Errorf("new id %d not above %d", c.ID, b.ID)
		}
	})
}

// Many writers at once (the race detector watches): every message stored once, ids unique,
// counters exact.
func TestSaveMessagesConcurrent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		rooms := []*models.Room{mustRoom(t, s, "r1"), mustRoom(t, s, "r2"), mustRoom(t, s, "r3")}
		const writers, batches, size = 8, 10, 5
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int64]bool{}
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					batch := make([]*models.Message, size)
					for i := range batch {
						// Rooms in varying order within a batch: exercises PostgreSQL's room locks.
						batch[i] = msg(rooms[(w+b+i)%len(rooms)], u, "m", fmt.Sprintf("w%d-b%d-i%d", w, b, i%4))
					}
					if _, err := s.SaveMessages(ctx, batch); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					mu.Lock()
					for _, m := range batch {
						seen[m.ID] = true
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// i%4 makes the 5th message of each batch a duplicate of the 1st.
		const stored = writers * batches * (size - 1)
		if len(seen) != stored {
			t.Errorf("%d distinct ids, want %d", len(seen), stored)
		}
		var total int64
		for _, r := range rooms {
			got, _ := s.RoomByName(ctx, r.Name)
			total += got.MessageCount
			var n int
			after := int64(0)
			for {
				page, err := s.MessagesAfter(ctx, r.ID, after, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				n += len(page)
				after = page[len(page)-1].ID
			}
			if int64(n) != got.MessageCount {
				t.Errorf("room %s: %d messages, message_count %d", r.Name, n, got.MessageCount)
			}
		}
		if total != stored {
			t.Errorf("message_count total %d, want %d", total, stored)
		}
	})
}

func sameMessage(a, b models.Message) bool {
	return a.ID == b.ID && a.RoomID == b.RoomID && a.UserID == b.UserID && a.Body == b.Body &&
		a.ClientID == b.ClientID && a.CreatedAt.Equal(b.CreatedAt) && a.Username == b.Username &&
		a.RoomName == b.RoomName && (a.EditedAt == nil) == (b.EditedAt == nil)
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
