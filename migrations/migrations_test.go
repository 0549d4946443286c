package migrations_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"chat/app/store/storetest"
	"chat/migrations"
)

type backend struct {
	dialect string
	// open returns a new handle on the same fresh database each time it is called.
	open func(t *testing.T) *gorm.DB
}

// backends returns a fresh empty database per dialect: a SQLite file in t.TempDir() and a
// random PostgreSQL schema (skipped when PostgreSQL is not reachable).
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.db")
		dsn := "file:" + path + "?_foreign_keys=on&_busy_timeout=5000&_journal_mode=WAL"
		f(t, backend{dialect: migrations.SQLite, open: func(t *testing.T) *gorm.DB {
			return openGorm(t, sqlite.Open(dsn))
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresURL(t)
		f(t, backend{dialect: migrations.Postgres, open: func(t *testing.T) *gorm.DB {
			return openGorm(t, postgres.Open(dsn))
		}})
	})
}

func openGorm(t *testing.T, d gorm.Dialector) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Default.LogMode(logger.Silent), PrepareStmt: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db
}

func TestStepsAreOrdered(t *testing.T) {
	if len(migrations.Steps) == 0 {
		t.Fatal("no steps")
	}
	prev := 0
	for _, s := range migrations.Steps {
		if s.Version != prev+1 {
			t.Errorf("step %q has version %d, want %d (versions are consecutive)", s.Name, s.Version, prev+1)
		}
		if s.Name == "" || s.Up == nil {
			t.Errorf("step %d needs a name and an Up", s.Version)
		}
		prev = s.Version
	}
	if got := migrations.Latest(); got != prev {
		t.Errorf("Latest() = %d, want %d", got, prev)
	}
}

func TestApplyEmptyToHead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		if v, err := migrations.Current(db); err != nil || v != 0 {
			t.Fatalf("Current on empty db = %d, %v; want 0, nil", v, err)
		}
		start := time.Now().Add(-time.Minute)
		n, err := migrations.Apply(db, b.dialect)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if n != len(migrations.Steps) {
			t.Errorf("Apply ran %d steps, want %d", n, len(migrations.Steps))
		}
		if v, err := migrations.Current(db); err != nil || v != migrations.Latest() {
			t.Fatalf("Current = %d, %v; want %d", v, err, migrations.Latest())
		}

		// Each step recorded once, with its name and a time.
		type row struct {
			Version   int
			Name      string
			AppliedAt time.Time
		}
		var rows []row
		if err := db.Raw("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(migrations.Steps) {
			t.Fatalf("schema_migrations has %d rows, want %d", len(rows), len(migrations.Steps))
		}
		for i, r := range rows {
			s := migrations.Steps[i]
			if r.Version != s.Version || r.Name != s.Name {
				t.Errorf("row %d = (%d, %q), want (%d, %q)", i, r.Version, r.Name, s.Version, s.Name)
			}
			if r.AppliedAt.Before(start) || r.AppliedAt.After(time.Now().Add(time.Minute)) {
				t.Errorf("row %d applied_at = %v, not around now", i, r.AppliedAt)
			}
		}

		for _, table := range []string{"users", "sessions", "rooms", "messages", "room_reads"} {
			if !db.Migrator().HasTable(table) {
				t.Errorf("table %s missing", table)
			}
		}

		// A second run, even through another handle, is a no-op.
		for _, h := range []*gorm.DB{db, b.open(t)} {
			n, err := migrations.Apply(h, b.dialect)
			if err != nil || n != 0 {
				t.Errorf("second Apply = %d, %v; want 0, nil", n, err)
			}
		}
		var count int64
		db.Raw("SELECT count(*) FROM schema_migrations").Scan(&count)
		if count != int64(len(migrations.Steps)) {
			t.Errorf("schema_migrations has %d rows after re-apply, want %d", count, len(migrations.Steps))
		}
	})
}

func TestApplyRefusesNewerSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		if _, err := migrations.Apply(db, b.dialect); err != nil {
			t.Fatal(err)
		}
		future := migrations.Latest() + 1
		if err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			future, "from the future", time.Now().UTC()).Error; err != nil {
			t.Fatal(err)
		}
		n, err := migrations.Apply(db, b.dialect)
		if !errors.Is(err, migrations.ErrSchemaTooNew) {
			t.Fatalf("Apply on newer schema = %d, %v; want ErrSchemaTooNew", n, err)
		}
		if want := fmt.Sprintf("version %d", future); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
		if v, _ := migrations.Current(db); v != future {
			t.Errorf("Current = %d, want %d", v, future)
		}
	})
}

func TestApplyConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const workers = 4
		handles := make([]*gorm.DB, workers)
		for i := range handles {
			handles[i] = b.open(t)
		}
		var wg sync.WaitGroup
		applied := make([]int, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Go(func() { applied[i], errs[i] = migrations.Apply(handles[i], b.dialect) })
		}
		wg.Wait()
		total := 0
		for i := range workers {
			if errs[i] != nil {
				t.Errorf("worker %d: %v", i, errs[i])
			}
			total += applied[i]
		}
		if total != len(migrations.Steps) {
			t.Errorf("workers applied %d steps in all, want %d", total, len(migrations.Steps))
		}
		if v, err := migrations.Current(handles[0]); err != nil || v != migrations.Latest() {
			t.Errorf("Current = %d, %v; want %d", v, err, migrations.Latest())
		}
	})
}

// A failing step leaves nothing behind: not its DDL, not its record.
func TestFailedStepRollsBack(t *testing.T) {
	orig := migrations.Steps
	t.Cleanup(func() { migrations.Steps = orig })
	migrations.Steps = append(orig[:len(orig):len(orig)], migrations.Step{
		Version: len(orig) + 1,
		Name:    "broken",
		Up: func(tx *gorm.DB, dialect string) error {
			if err := tx.Exec("CREATE TABLE half_done (id INTEGER PRIMARY KEY)").Error; err != nil {
				return err
			}
			return errors.New("boom")
		},
	})
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		n, err := migrations.Apply(db, b.dialect)
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("Apply = %d, %v; want the step's error", n, err)
		}
		if n != len(orig) {
			t.Errorf("Apply ran %d steps before failing, want %d", n, len(orig))
		}
		if v, _ := migrations.Current(db); v != len(orig) {
			t.Errorf("Current = %d, want %d", v, len(orig))
		}
		if db.Migrator().HasTable("half_done") {
			t.Error("the failed step's table survived")
		}
	})
}

func TestApplyUnknownDialect(t *testing.T) {
	db := openGorm(t, sqlite.Open(filepath.Join(t.TempDir(), "x.db")))
	if _, err := migrations.Apply(db, "mysql"); err == nil {
		t.Fatal("Apply accepted dialect mysql")
	}
}

// The schema enforces what the store relies on.
func TestInitialSchemaConstraints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db, mustExec := migratedTo(t, b, len(migrations.Steps))
		now := time.Now().UTC()
		mustFail := func(why, q string, args ...any) {
			t.Helper()
			if err := db.Exec(q, args...).Error; err == nil {
				t.Errorf("%s: %s succeeded", why, q)
			}
		}
		mustExec("INSERT INTO users (username, password_hash, created_at) VALUES ('Alice', 'h', ?)", now)
		mustFail("case-insensitive unique username", "INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'h', ?)", now)
		var uid, rid int64
		db.Raw("SELECT id FROM users WHERE username = 'Alice'").Scan(&uid)
		mustExec("INSERT INTO rooms (name, created_at) VALUES ('lobby', ?)", now)
		db.Raw("SELECT id FROM rooms WHERE name = 'lobby'").Scan(&rid)

		mustExec("INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, 'a', ?, 1)", rid, uid, now)
		mustExec("INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, 'b', ?, 2)", rid, uid, now)
		mustExec("INSERT INTO messages (room_id, user_id, body, client_id, created_at, seq) VALUES (?, ?, 'c', 'c1', ?, 3)", rid, uid, now)
		mustFail("unique (user_id, client_id)", "INSERT INTO messages (room_id, user_id, body, client_id, created_at, seq) VALUES (?, ?, 'c', 'c1', ?, 4)", rid, uid, now)
		mustFail("unique (room_id, seq)", "INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, 'x', ?, 2)", rid, uid, now)
		mustFail("message needs an existing room", "INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, 'x', ?, 1)", rid+1000, uid, now)

		mustExec("INSERT INTO sessions (key_hash, user_id, created_at, last_seen_at, expires_at) VALUES ('k', ?, ?, ?, ?)", uid, now, now, now)
		mustExec("INSERT INTO room_reads (user_id, room_id, last_read_id) VALUES (?, ?, 1)", uid, rid)

		// Ids are never reused after a delete.
		var last int64
		db.Raw("SELECT max(id) FROM messages").Scan(&last)
		mustExec("DELETE FROM messages WHERE id = ?", last)
		mustExec("INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, 'd', ?, 4)", rid, uid, now)
		var next int64
		db.Raw("SELECT max(id) FROM messages").Scan(&next)
		if next <= last {
			t.Errorf("id %d reused (new id %d)", last, next)
		}

		// Deleting the user cascades.
		mustExec("DELETE FROM users WHERE id = ?", uid)
		for _, table := range []string{"sessions", "messages", "room_reads"} {
			var n int64
			db.Raw("SELECT count(*) FROM " + table).Scan(&n)
			if n != 0 {
				t.Errorf("%s has %d rows after deleting their user", table, n)
			}
		}
	})
}

// Step 3 numbers the messages already stored: per room, 1, 2, 3... in id order, and each
// room's last_seq is its highest; a room without messages stays at 0.
func TestRoomSeqBackfill(t *testing.T) {
	orig := migrations.Steps
	forEachBackend(t, func(t *testing.T, b backend) {
		db, exec := migratedTo(t, b, 2)
		now := time.Now().UTC()
		exec("INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'h', ?)", now)
		var uid int64
		db.Raw("SELECT id FROM users").Scan(&uid)
		rooms := map[string]int64{}
		for _, name := range []string{"a", "b", "empty"} {
			exec("INSERT INTO rooms (name, created_at) VALUES (?, ?)", name, now)
			var id int64
			db.Raw("SELECT id FROM rooms WHERE name = ?", name).Scan(&id)
			rooms[name] = id
		}
		// Interleaved: a1 b1 a2 a3 b2, then a2 deleted (its number is not reused by a3).
		for _, body := range []string{"a1", "b1", "a2", "a3", "b2"} {
			exec("INSERT INTO messages (room_id, user_id, body, created_at) VALUES (?, ?, ?, ?)", rooms[body[:1]], uid, body, now)
		}
		exec("DELETE FROM messages WHERE body = 'a2'")

		migrations.Steps = orig
		if n, err := migrations.Apply(db, b.dialect); err != nil || n != len(orig)-2 {
			t.Fatalf("Apply = %d, %v", n, err)
		}
		type row struct {
			Body string
			Seq  int64
		}
		var got []row
		db.Raw("SELECT body, seq FROM messages ORDER BY id").Scan(&got)
		if want := "[{a1 1} {b1 1} {a3 2} {b2 2}]"; fmt.Sprint(got) != want {
			t.Errorf("messages (body, seq) = %v, want %s", got, want)
		}
		for name, want := range map[string]int64{"a": 2, "b": 2, "empty": 0} {
			var last int64
			db.Raw("SELECT last_seq FROM rooms WHERE id = ?", rooms[name]).Scan(&last)
			if last != want {
				t.Errorf("room %s: last_seq = %d, want %d", name, last, want)
			}
		}
	})
}

func TestRoomReadsSeqBackfill(t *testing.T) {
	orig := migrations.Steps
	forEachBackend(t, func(t *testing.T, b backend) {
		db, exec := migratedTo(t, b, 3)
		now := time.Now().UTC()
		id := func(q string, args ...any) (v int64) {
			t.Helper()
			if err := db.Raw(q, args...).Row().Scan(&v); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return v
		}
		users := map[string]int64{}
		for _, name := range []string{"on-a2", "on-gone-a3", "on-b1", "none"} {
			exec("INSERT INTO users (username, password_hash, created_at) VALUES (?, 'h', ?)", name, now)
			users[name] = id("SELECT id FROM users WHERE username = ?", name)
		}
		exec("INSERT INTO rooms (name, created_at) VALUES ('a', ?), ('b', ?)", now, now)
		ra, rb := id("SELECT id FROM rooms WHERE name = 'a'"), id("SELECT id FROM rooms WHERE name = 'b'")
		msgs := map[string]int64{}
		for _, body := range []string{"a1", "b1", "a2", "a3", "a4"} {
			room := ra
			if body[0] == 'b' {
				room = rb
			}
			exec("INSERT INTO messages (room_id, user_id, body, created_at, seq) VALUES (?, ?, ?, ?, ?)",
				room, users["none"], body, now, map[string]int{"a1": 1, "b1": 1, "a2": 2, "a3": 3, "a4": 4}[body])
			msgs[body] = id("SELECT id FROM messages WHERE body = ?", body)
		}
		exec("DELETE FROM messages WHERE body = 'a3'")
		mark := func(user string, room, lastReadID int64) {
			exec("INSERT INTO room_reads (user_id, room_id, last_read_id) VALUES (?, ?, ?)", users[user], room, lastReadID)
		}
		mark("on-a2", ra, msgs["a2"])
		mark("on-gone-a3", ra, msgs["a3"])
		mark("on-b1", rb, msgs["b1"])
		mark("none", ra, 0)

		migrations.Steps = orig
		if n, err := migrations.Apply(db, b.dialect); err != nil || n != len(orig)-3 {
			t.Fatalf("Apply = %d, %v", n, err)
		}
		for user, want := range map[string]int64{"on-a2": 2, "on-gone-a3": 2, "on-b1": 1, "none": 0} {
			if got := id("SELECT last_read_seq FROM room_reads WHERE user_id = ?", users[user]); got != want {
				t.Errorf("%s: last_read_seq = %d, want %d", user, got, want)
			}
		}
		var indexes int64
		q := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'messages_room_id_id_idx'"
		if b.dialect == migrations.Postgres {
			q = "SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_room_id_id_idx' AND schemaname = current_schema()"
		}
		if err := db.Raw(q).Row().Scan(&indexes); err != nil || indexes != 0 {
			t.Errorf("index messages_room_id_id_idx: %d left, %v", indexes, err)
		}
	})
}

// migratedTo opens a fresh database of b with the first n steps applied, and an exec that
// fails the test on error. The test may set migrations.Steps to apply more; the full list is
// restored when it ends.
func migratedTo(t *testing.T, b backend, n int) (*gorm.DB, func(q string, args ...any)) {
	t.Helper()
	all := migrations.Steps
	t.Cleanup(func() { migrations.Steps = all })
	migrations.Steps = all[:n]
	db := b.open(t)
	if _, err := migrations.Apply(db, b.dialect); err != nil {
		t.Fatal(err)
	}
	return db, func(q string, args ...any) {
		t.Helper()
		if err := db.Exec(q, args...).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestRoomOrderBySeqAfterIndexDroppedByHand: docs/performance.md measured dropping the index
// by hand on a live database; such a database must still migrate.
func TestRoomOrderBySeqAfterIndexDroppedByHand(t *testing.T) {
	orig := migrations.Steps
	forEachBackend(t, func(t *testing.T, b backend) {
		db, exec := migratedTo(t, b, 3)
		exec("DROP INDEX messages_room_id_id_idx")
		migrations.Steps = orig
		if n, err := migrations.Apply(db, b.dialect); err != nil || n != len(orig)-3 {
			t.Fatalf("Apply = %d, %v", n, err)
		}
	})
}
