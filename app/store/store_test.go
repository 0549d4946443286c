package store_test

import (
	"context"
	"path"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/migrations"
)

func TestMigrateAndPing(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, url string) {
		s, err := store.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
			t.Fatalf("SchemaVersion before Migrate = %d, %v; want 0", v, err)
		}
		n, err := s.Migrate(ctx)
		if err != nil || n != len(migrations.Steps) {
			t.Fatalf("Migrate = %d, %v; want %d", n, err, len(migrations.Steps))
		}
		if n, err := s.Migrate(ctx); err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0", n, err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != migrations.Latest() {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, migrations.Latest())
		}
		if want := path.Base(t.Name()); s.Dialect() != want {
			t.Errorf("Dialect() = %q, want %q", s.Dialect(), want)
		}
	})
}

func TestContextIsUsed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.CountUsers(c); err == nil {
			t.Error("CountUsers with a cancelled context succeeded")
		}
		if _, err := s.CreateUser(c, "x", "h"); err == nil {
			t.Error("CreateUser with a cancelled context succeeded")
		}
	})
}

// Everything written is there after Close and a fresh Open of the same database.
func TestDataSurvivesReopen(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, url string) {
		s := storetest.Open(t, url)
		u := mustUser(t, s, "alice")
		r := mustRoom(t, s, "lobby")
		a, b := msg(r, u, "one", ""), msg(r, u, "two", "c-2")
		mustSave(t, s, a, b)
		exp := time.Now().Add(time.Hour)
		if err := s.CreateSession(ctx, storeSession("k1", u.ID, exp)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}

		s2 := storetest.Open(t, url) // migrates again: must be a no-op
		if v, _ := s2.SchemaVersion(ctx); v != migrations.Latest() {
			t.Errorf("SchemaVersion after reopen = %d", v)
		}
		if got, err := s2.UserByName(ctx, "alice"); err != nil || got.ID != u.ID {
			t.Errorf("UserByName after reopen = %+v, %v", got, err)
		}
		if _, err := s2.SessionByKey(ctx, "k1", time.Now()); err != nil {
			t.Errorf("SessionByKey after reopen: %v", err)
		}
		msgs, err := s2.RecentMessages(ctx, r.ID, 10)
		if err != nil || len(msgs) != 2 || msgs[0].ID != a.ID || msgs[1].ID != b.ID || msgs[1].Body != "two" {
			t.Fatalf("RecentMessages after reopen = %+v, %v", msgs, err)
		}
		room, err := s2.RoomByName(ctx, "lobby")
		if err != nil || room.MessageCount != 2 {
			t.Errorf("room after reopen = %+v, %v", room, err)
		}
		// The client id is still known: a resend is still a duplicate.
		again := msg(r, u, "two (resent)", "c-2")
		if dup := mustSave(t, s2, again); !dup[0] || again.ID != b.ID {
			t.Errorf("resend after reopen: dup=%v id=%d, want true %d", dup[0], again.ID, b.ID)
		}
	})
}
