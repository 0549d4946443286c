package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

func TestGetOrCreateRoomConcurrent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const n = 20
		ids := make([]int64, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r, err := s.GetOrCreateRoom(ctx, "lobby")
				errs[i] = err
				if err == nil {
					ids[i] = r.ID
				}
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("goroutine %d got room %d, goroutine 0 got %d", i, ids[i], ids[0])
			}
		}
		rooms, err := s.ListRooms(ctx, 100)
		if err != nil || len(rooms) != 1 {
			t.Fatalf("ListRooms = %+v, %v; want one room", rooms, err)
		}
		if r := rooms[0]; r.Name != "lobby" || r.MessageCount != 0 || r.LastMessageAt != nil || r.CreatedAt.IsZero() {
			t.Errorf("room = %+v", r)
		}
	})
}

func TestRoomNames(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		names := []string{"咖啡", "café", "cafe", "Café", "CAFE", "кофе", "☕"}
		ids := map[int64]string{}
		for _, name := range names {
			r := mustRoom(t, s, name)
			if r.Name != name {
				t.Errorf("room %q stored as %q", name, r.Name)
			}
			if other, ok := ids[r.ID]; ok {
				t.Errorf("%q and %q share room %d", name, other, r.ID)
			}
			ids[r.ID] = name
			if again := mustRoom(t, s, name); again.ID != r.ID {
				t.Errorf("GetOrCreateRoom(%q) twice: ids %d, %d", name, r.ID, again.ID)
			}
			if got, err := s.RoomByName(ctx, name); err != nil || got.ID != r.ID {
				t.Errorf("RoomByName(%q) = %+v, %v", name, got, err)
			}
		}
		if _, err := s.RoomByName(ctx, "tea"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RoomByName(missing) = %v, want ErrNotFound", err)
		}
		if _, err := s.GetOrCreateRoom(ctx, ""); err == nil {
			t.Error("GetOrCreateRoom(\"\") succeeded")
		}
		if rooms, _ := s.ListRooms(ctx, 0); len(rooms) != len(names) {
			t.Errorf("ListRooms = %d rooms, want %d", len(rooms), len(names))
		}
	})
}

func TestListRoomsOrder(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		a, b := mustRoom(t, s, "a"), mustRoom(t, s, "b")
		mustRoom(t, s, "c")
		mustRoom(t, s, "d")
		t0 := time.Now().UTC()
		m1 := msg(b, u, "first", "")
		m1.CreatedAt = t0
		m2 := msg(a, u, "second", "")
		m2.CreatedAt = t0.Add(time.Second)
		mustSave(t, s, m1)
		mustSave(t, s, m2)

		rooms, err := s.ListRooms(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		// Active rooms by last message (a then b), then idle rooms newest first (d then c).
		want := []string{"a", "b", "d", "c"}
		if len(rooms) != len(want) {
			t.Fatalf("ListRooms = %d rooms, want %d", len(rooms), len(want))
		}
		for i, r := range rooms {
			if r.Name != want[i] {
				t.Errorf("ListRooms[%d] = %q, want %q (all: %v)", i, r.Name, want[i], roomNames(rooms))
			}
		}
		if !rooms[0].LastMessageAt.Equal(m2.CreatedAt) || rooms[0].MessageCount != 1 {
			t.Errorf("room a = %+v, want last message at %v", rooms[0], m2.CreatedAt)
		}
		if rooms, _ := s.ListRooms(ctx, 2); len(rooms) != 2 || rooms[0].ID != a.ID || rooms[1].ID != b.ID {
			t.Errorf("ListRooms(2) = %v", roomNames(rooms))
		}

		// A message with an older timestamp does not move last_message_at back.
		old := msg(a, u, "late arrival", "")
		old.CreatedAt = t0.Add(-time.Hour)
		mustSave(t, s, old)
		if r, _ := s.RoomByName(ctx, "a"); !r.LastMessageAt.Equal(m2.CreatedAt) || r.MessageCount != 2 {
			t.Errorf("room a after an older message = %+v", r)
		}
	})
}

func roomNames(rooms []models.Room) []string {
	names := make([]string, len(rooms))
	for i, r := range rooms {
		names[i] = r.Name
	}
	return names
}
