package store_test

import (
	"errors"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

func storeSession(key string, userID int64, expires time.Time) *models.Session {
	return &models.Session{KeyHash: key, UserID: userID, ExpiresAt: expires, IP: "192.0.2.1", UserAgent: "test/1.0"}
}

func TestSessions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		// A fixed clock, in a non-UTC zone to check the store normalises it.
		zone := time.FixedZone("UTC+5", 5*3600)
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 123456789, zone)

		sess := &models.Session{KeyHash: "k1", UserID: alice.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua"}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if !sess.LastSeenAt.Equal(sess.CreatedAt) {
			t.Errorf("zero LastSeenAt not defaulted to CreatedAt: %v", sess.LastSeenAt)
		}
		if err := s.CreateSession(ctx, storeSession("k1", bob.ID, t0.Add(time.Hour))); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("CreateSession with a used key = %v, want ErrDuplicate", err)
		}

		got, err := s.SessionByKey(ctx, "k1", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != alice.ID || got.IP != "192.0.2.1" || got.UserAgent != "ua" ||
			!got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !got.ExpiresAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) ||
			got.ExpiresAt.Location() != time.UTC {
			t.Errorf("SessionByKey = %+v", got)
		}

		// Expiry is exclusive: at expires_at the session is gone.
		for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
			if _, err := s.SessionByKey(ctx, "k1", at); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("SessionByKey at %v = %v, want ErrNotFound", at, err)
			}
		}
		if _, err := s.SessionByKey(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByKey(missing) = %v, want ErrNotFound", err)
		}

		// Touch.
		t1 := t0.Add(10 * time.Minute)
		if err := s.TouchSession(ctx, "k1", t1); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.SessionByKey(ctx, "k1", t1); got == nil || !got.LastSeenAt.Equal(t1.Truncate(time.Microsecond)) {
			t.Errorf("LastSeenAt after touch = %+v, want %v", got, t1)
		}
		if err := s.TouchSession(ctx, "nope", t1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TouchSession(missing) = %v, want ErrNotFound", err)
		}

		// Delete the others of a user.
		for _, k := range []string{"k2", "k3"} {
			if err := s.CreateSession(ctx, storeSession(k, alice.ID, t0.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateSession(ctx, storeSession("b1", bob.ID, t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteUserSessions(ctx, alice.ID, "k1"); err != nil || n != 2 {
			t.Errorf("DeleteUserSessions(except k1) = %d, %v; want 2", n, err)
		}
		for key, want := range map[string]bool{"k1": true, "k2": false, "k3": false, "b1": true} {
			_, err := s.SessionByKey(ctx, key, t0)
			if (err == nil) != want {
				t.Errorf("after DeleteUserSessions, session %s: %v (want present=%v)", key, err, want)
			}
		}
		if n, err := s.DeleteUserSessions(ctx, alice.ID, ""); err != nil || n != 1 {
			t.Errorf("DeleteUserSessions(all) = %d, %v; want 1", n, err)
		}

		// Delete one.
		if err := s.DeleteSession(ctx, "b1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByKey(ctx, "b1", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted session still found: %v", err)
		}
		if err := s.DeleteSession(ctx, "b1"); err != nil {
			t.Errorf("deleting a missing session: %v", err)
		}

		// Delete expired.
		for i, exp := range []time.Duration{-time.Hour, -time.Second, 0, time.Second, time.Hour} {
			if err := s.CreateSession(ctx, storeSession(string(rune('p'+i)), bob.ID, t1.Add(exp))); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.DeleteExpiredSessions(ctx, t1); err != nil || n != 3 {
			t.Errorf("DeleteExpiredSessions = %d, %v; want 3 (expires_at <= now)", n, err)
		}
		if n, err := s.DeleteUserSessions(ctx, bob.ID, ""); err != nil || n != 2 {
			t.Errorf("sessions left after expiry sweep = %d, %v; want 2", n, err)
		}
	})
}

func TestSessionNeedsUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if err := s.CreateSession(ctx, storeSession("k", 12345, time.Now().Add(time.Hour))); err == nil {
			t.Error("session for a missing user was stored")
		}
	})
}
