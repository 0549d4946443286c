package store_test

import (
	"testing"

	"chat/app/store"
	"chat/app/store/storetest"
)

func TestMarkReadAndUnreadCounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		a, b, never := mustRoom(t, s, "a"), mustRoom(t, s, "b"), mustRoom(t, s, "never")
		a1, a2, a3 := msg(a, bob, "1", ""), msg(a, bob, "2", ""), msg(a, bob, "3", "")
		b1 := msg(b, bob, "1", "")
		mustSave(t, s, a1, a2, a3, b1, msg(never, bob, "x", ""))

		if err := s.MarkRead(ctx, alice.ID, a.ID, a1.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkRead(ctx, alice.ID, b.ID, b1.ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.UnreadCounts(ctx, alice.ID, []int64{a.ID, b.ID, never.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[a.ID] != 2 {
			t.Errorf("UnreadCounts = %v, want {%d: 2}", got, a.ID)
		}

		// Never backwards.
		if err := s.MarkRead(ctx, alice.ID, a.ID, a3.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkRead(ctx, alice.ID, a.ID, a2.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UnreadCounts(ctx, alice.ID, []int64{a.ID}); len(got) != 0 {
			t.Errorf("UnreadCounts after reading all = %v (read mark moved back?)", got)
		}
		if got, err := s.UnreadCounts(ctx, alice.ID, nil); err != nil || len(got) != 0 {
			t.Errorf("UnreadCounts(no rooms) = %v, %v", got, err)
		}

		// A marker past the room's newest id (a restored database, a stale tab) reads
		// everything so far, and must not keep later reads from moving the marker on.
		c := mustRoom(t, s, "c")
		c1 := msg(c, bob, "1", "")
		mustSave(t, s, c1)
		if err := s.MarkRead(ctx, alice.ID, c.ID, c1.ID+1000); err != nil {
			t.Fatal(err)
		}
		c2, c3 := msg(c, bob, "2", ""), msg(c, bob, "3", "")
		mustSave(t, s, c2, c3)
		if got, _ := s.UnreadCounts(ctx, alice.ID, []int64{c.ID}); got[c.ID] != 2 {
			t.Errorf("UnreadCounts after a marker past the newest = %v, want {%d: 2}", got, c.ID)
		}
		if err := s.MarkRead(ctx, alice.ID, c.ID, c3.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.UnreadCounts(ctx, alice.ID, []int64{c.ID}); len(got) != 0 {
			t.Errorf("UnreadCounts after reading on from a marker past the newest = %v, want none", got)
		}
	})
}
