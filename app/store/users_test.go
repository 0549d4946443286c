package store_test

import (
	"errors"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
)

func TestUsers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if n, err := s.CountUsers(ctx); err != nil || n != 0 {
			t.Fatalf("CountUsers on empty = %d, %v", n, err)
		}
		before := time.Now().Add(-time.Second)
		u, err := s.CreateUser(ctx, "Alice", "h1")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.Username != "Alice" || u.PasswordHash != "h1" {
			t.Errorf("CreateUser = %+v", u)
		}
		if u.CreatedAt.Location() != time.UTC || u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("CreatedAt = %v, want UTC now", u.CreatedAt)
		}

		for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
			if _, err := s.CreateUser(ctx, name, "h2"); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("CreateUser(%q) again: %v, want ErrDuplicate", name, err)
			}
		}

		for _, name := range []string{"Alice", "alice", "ALICE"} {
			got, err := s.UserByName(ctx, name)
			if err != nil || got.ID != u.ID || got.Username != "Alice" || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Errorf("UserByName(%q) = %+v, %v; want %+v", name, got, err, u)
			}
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.Username != "Alice" || got.PasswordHash != "h1" {
			t.Errorf("UserByID = %+v, %v", got, err)
		}
		if _, err := s.UserByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByName(missing) = %v, want ErrNotFound", err)
		}
		if _, err := s.UserByID(ctx, u.ID+100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UserByID(missing) = %v, want ErrNotFound", err)
		}

		b := mustUser(t, s, "bob")
		mustUser(t, s, "Zoë")
		if b.ID <= u.ID {
			t.Errorf("ids not increasing: %d then %d", u.ID, b.ID)
		}
		if n, err := s.CountUsers(ctx); err != nil || n != 3 {
			t.Errorf("CountUsers = %d, %v; want 3", n, err)
		}
		if got, err := s.UserByName(ctx, "Zoë"); err != nil || got.Username != "Zoë" {
			t.Errorf("UserByName(Zoë) = %+v, %v", got, err)
		}
	})
}
