package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chat/models"
)

func TestSQLitePath(t *testing.T) {
	cases := []struct{ in, path, query string }{
		{"", "chat.db", ""},
		{"data/chat.db", "data/chat.db", ""},
		{"/var/lib/chat/chat.db", "/var/lib/chat/chat.db", ""},
		{"sqlite:chat2.db", "chat2.db", ""},
		{"sqlite://chat2.db", "chat2.db", ""},
		{"sqlite:///abs/chat.db", "/abs/chat.db", ""},
		{"file:x.db?_busy_timeout=100", "x.db", "_busy_timeout=100"},
		{"sqlite::memory:", ":memory:", ""},
		{"weird?name.db", "weird?name.db", ""},
	}
	for _, c := range cases {
		p, q := sqlitePath(c.in)
		if p != c.path || q.Encode() != c.query {
			t.Errorf("sqlitePath(%q) = %q, %q; want %q, %q", c.in, p, q.Encode(), c.path, c.query)
		}
	}
}

// Every accepted spelling opens a SQLite file at the expected place.
func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct{ url, file string }{
		{"", DefaultPath},
		{"plain.db", "plain.db"},
		{"sqlite:colon.db", "colon.db"},
		{"sqlite://slashes.db", "slashes.db"},
		{"sqlite://" + filepath.Join(dir, "abs.db"), "abs.db"},
		{"file:file.db", "file.db"},
		{"odd #name%.db", "odd #name%.db"},
	} {
		s, err := Open(c.url)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.url, err)
		}
		if s.Dialect() != DialectSQLite {
			t.Errorf("Open(%q).Dialect() = %q", c.url, s.Dialect())
		}
		if _, err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("Open(%q).Migrate: %v", c.url, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, c.file)); err != nil {
			t.Errorf("Open(%q) did not create %s: %v", c.url, c.file, err)
		}
	}
}

func TestSQLitePragmas(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pragma := func(name string, db string) string {
		t.Helper()
		h := s.writer
		if db == "reader" {
			h = s.reader
		}
		var v string
		if err := h.Raw("PRAGMA " + name).Row().Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct{ db, name, want string }{
		{"writer", "journal_mode", "wal"},
		{"writer", "busy_timeout", "5000"},
		{"writer", "foreign_keys", "1"},
		{"writer", "synchronous", "1"}, // NORMAL
		{"reader", "journal_mode", "wal"},
		{"reader", "busy_timeout", "5000"},
		{"reader", "foreign_keys", "1"},
		{"reader", "query_only", "1"},
	} {
		if got := pragma(c.name, c.db); got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", c.db, c.name, got, c.want)
		}
	}
	w, _ := s.writer.DB()
	r, _ := s.reader.DB()
	if n := w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", n)
	}
	if n := r.Stats().MaxOpenConnections; n < 2 {
		t.Errorf("reader MaxOpenConnections = %d, want several", n)
	}
	if err := s.reader.Exec("CREATE TABLE nope (x)").Error; err == nil {
		t.Error("the reader pool accepted a write")
	}
}

func TestOpenSQLiteMemory(t *testing.T) {
	s, err := Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "alice", "h"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v", n, err)
	}
}

func TestRebind(t *testing.T) {
	if got := rebind(DialectPostgres, "a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Errorf("rebind = %q", got)
	}
	if got := rebind(DialectSQLite, "a = ?"); got != "a = ?" {
		t.Errorf("rebind sqlite = %q", got)
	}
}

// The WAL is checkpointed in the background while the store stays open: SQLite's own
// checkpoints inside a commit are off, and the rows still reach the database file.
func TestCheckpointsRunInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.db")
	s := openMigrated(t, path)
	ctx := context.Background()
	var auto int
	if err := s.writerSQL.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want 0 (checkpoints off the commit path)", auto, err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	u, r := aliceInLobby(t, s)
	batch := make([]*models.Message, 500)
	for i := range batch {
		batch[i] = &models.Message{RoomID: r.ID, UserID: u.ID, Body: strings.Repeat("x", 200)}
	}
	if _, err := s.SaveMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The database file grows once a checkpoint has copied the pages out of the WAL.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if after.Size() > before.Size()+50_000 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (was %d) 10 s after the writes: no checkpoint ran", after.Size(), before.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under a steady stream of commits a PASSIVE checkpoint never finds the WAL fully copied when a
// transaction begins, so SQLite never starts it over; once it holds walRestartAt pages the
// writer restarts it, and the file stays near that size instead of growing with every commit
// (without the restart, this test's WAL file reached 63.5 MiB).
func TestWALRestartsUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s := openMigrated(t, path)
	ctx := context.Background()
	s.walRestartAt.Store(256) // 1 MiB
	u, r := aliceInLobby(t, s)
	body := strings.Repeat("x", 1000)
	var largest int64
	// About 60 MB of WAL over about 2 s: commits that come faster than a checkpoint copies,
	// spread over several of checkpointEvery's ticks.
	for range 400 {
		time.Sleep(5 * time.Millisecond)
		batch := make([]*models.Message, 64)
		for i := range batch {
			batch[i] = &models.Message{RoomID: r.ID, UserID: u.ID, Body: body}
		}
		if _, err := s.SaveMessages(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	if largest > 16<<20 {
		t.Fatalf("the WAL file grew to %.1f MiB with restarts at 1 MiB", float64(largest)/(1<<20))
	}
	// Every message is there after the restarts.
	var n int64
	if err := s.reader.WithContext(ctx).Raw("SELECT COUNT(*) FROM messages").Scan(&n).Error; err != nil || n != 400*64 {
		t.Fatalf("%d messages stored, %v; want %d", n, err, 400*64)
	}
}

// openMigrated opens a migrated SQLite store at path, closed when the test ends.
func openMigrated(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// aliceInLobby creates the user alice and the room lobby.
func aliceInLobby(t *testing.T, s *Store) (*models.User, *models.Room) {
	t.Helper()
	u, err := s.CreateUser(context.Background(), "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.GetOrCreateRoom(context.Background(), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	return u, r
}
