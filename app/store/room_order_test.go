package store_test

import (
	"fmt"
	"slices"
	"testing"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// TestRoomReadsByIDCursor checks every read of one room that takes an id cursor against the
// rows picked by id in Go, for every cursor from 0 to past the newest id: the ids of
// messages that exist, that were deleted, and that belong to another room. The reads order
// by seq on the index (room_id, seq) and bound the seq by the cursor's message when it
// exists, so a deleted or foreign cursor takes their other path.
func TestRoomReadsByIDCursor(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		r, other := mustRoom(t, s, "lobby"), mustRoom(t, s, "other")
		// Interleaved rooms, in several batches, so the room's ids have holes.
		var mine []*models.Message
		for i := range 18 {
			batch := []*models.Message{msg(r, u, fmt.Sprint("m", i), "")}
			if i%3 != 1 {
				batch = append(batch, msg(other, u, "noise", ""))
			}
			mustSave(t, s, batch...)
			mine = append(mine, batch[0])
		}
		// Delete the first, the newest and a few between: cursors name them.
		deleted := map[int64]bool{}
		for _, i := range []int{0, 4, 5, 11, 17} {
			if _, err := s.DeleteMessage(ctx, mine[i].ID); err != nil {
				t.Fatal(err)
			}
			deleted[mine[i].ID] = true
		}
		var live []int64 // ascending
		for _, m := range mine {
			if !deleted[m.ID] {
				live = append(live, m.ID)
			}
		}
		maxID := mine[len(mine)-1].ID + 3
		below := func(c int64) []int64 {
			return slices.DeleteFunc(slices.Clone(live), func(id int64) bool { return id >= c })
		}
		above := func(c int64) []int64 {
			return slices.DeleteFunc(slices.Clone(live), func(id int64) bool { return id <= c })
		}
		newest := func(ids []int64, n int) []int64 { return ids[max(0, len(ids)-n):] }
		oldest := func(ids []int64, n int) []int64 { return ids[:min(n, len(ids))] }
		ids := func(msgs []models.Message) []int64 {
			out := make([]int64, len(msgs))
			for i, m := range msgs {
				out[i] = m.ID
			}
			return out
		}
		reversed := func(ids []int64) []int64 { out := slices.Clone(ids); slices.Reverse(out); return out }
		f := store.MessageFilter{RoomID: r.ID}

		for c := int64(0); c <= maxID; c++ {
			what := fmt.Sprintf("cursor %d (deleted %v)", c, deleted[c])
			if got, err := s.MessagesBefore(ctx, r.ID, c, 4); err != nil || !equalIDs(ids(got), newest(below(c), 4)) {
				t.Errorf("%s: MessagesBefore = %v, %v; want %v", what, ids(got), err, newest(below(c), 4))
			}
			if got, err := s.MessagesAfter(ctx, r.ID, c, 4); err != nil || !equalIDs(ids(got), oldest(above(c), 4)) {
				t.Errorf("%s: MessagesAfter = %v, %v; want %v", what, ids(got), err, oldest(above(c), 4))
			}
			if c > 0 {
				p, err := s.AdminMessages(ctx, f, store.Cursor{Before: c}, 4)
				want := reversed(newest(below(c), 4))
				if err != nil || !slices.Equal(pageIDs(p), want) || p.HasNewer != (len(above(c-1)) > 0) || p.HasOlder != (len(below(c)) > 4) {
					t.Errorf("%s: AdminMessages(Before) = %v newer %v older %v, %v; want %v", what, pageIDs(p), p.HasNewer, p.HasOlder, err, want)
				}
				chunk, err := s.AdminExportMessages(ctx, f, c, 4)
				if err != nil || !slices.Equal(ids(chunk), want) {
					t.Errorf("%s: AdminExportMessages = %v, %v; want %v", what, ids(chunk), err, want)
				}
				n, err := s.AdminCountMessages(ctx, store.MessageFilter{RoomID: r.ID, MaxID: c})
				if want := int64(len(below(c + 1))); err != nil || n != want {
					t.Errorf("%s: AdminCountMessages(MaxID) = %d, %v; want %d", what, n, err, want)
				}
			}
			p, err := s.AdminMessages(ctx, f, store.Cursor{Forward: true, After: c}, 4)
			want := reversed(oldest(above(c), 4))
			if err != nil || !slices.Equal(pageIDs(p), want) || p.HasNewer != (len(above(c)) > 4) || p.HasOlder != (len(below(c+1)) > 0) {
				t.Errorf("%s: AdminMessages(After) = %v newer %v older %v, %v; want %v", what, pageIDs(p), p.HasNewer, p.HasOlder, err, want)
			}

			// The read marker counts what is newer than the message it names, or than the
			// newest before it when that one is gone. A marker only moves forward, so each
			// cursor has a reader of its own.
			reader := mustUser(t, s, fmt.Sprint("reader", c))
			if err := s.MarkRead(ctx, reader.ID, r.ID, c); err != nil {
				t.Fatal(err)
			}
			counts, err := s.UnreadCounts(ctx, reader.ID, []int64{r.ID})
			if want := int64(len(above(c))); err != nil || counts[r.ID] != want {
				t.Errorf("%s: UnreadCounts after MarkRead = %v, %v; want %d", what, counts, err, want)
			}
		}
	})
}
