// Package storetest gives tests real, isolated databases: a migrated SQLite file in
// t.TempDir(), and a PostgreSQL schema of their own (created at random, dropped at the end) so
// parallel test packages never collide.
//
// PostgreSQL is found through CHAT_TEST_POSTGRES_URL (default DefaultPostgresURL). When it is
// unreachable the test is skipped, unless CHAT_REQUIRE_SERVICES=1, which makes it fail.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"chat/app/store"
)

// DefaultPostgresURL is used when CHAT_TEST_POSTGRES_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresBaseURL returns CHAT_TEST_POSTGRES_URL or DefaultPostgresURL.
func PostgresBaseURL() string {
	if u := os.Getenv("CHAT_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// RequireServices reports whether CHAT_REQUIRE_SERVICES=1 (missing services fail tests).
func RequireServices() bool { return os.Getenv("CHAT_REQUIRE_SERVICES") == "1" }

var (
	probeOnce sync.Once
	probeErr  error
)

// postgresReachable pings the server once per test binary.
func postgresReachable() error {
	probeOnce.Do(func() {
		db, err := gorm.Open(postgres.Open(PostgresBaseURL()), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
		if err != nil {
			probeErr = err
			return
		}
		sqlDB, err := db.DB()
		if err != nil {
			probeErr = err
			return
		}
		defer sqlDB.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		probeErr = sqlDB.PingContext(ctx)
	})
	return probeErr
}

// PostgresURL creates a fresh random schema and returns a URL whose connections use it
// (search_path). The schema is dropped when the test ends. It skips the test (or fails it
// under CHAT_REQUIRE_SERVICES=1) when PostgreSQL is not reachable.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := PostgresBaseURL()
	if err := postgresReachable(); err != nil {
		msg := "postgres not reachable at " + redact(base) + ": set CHAT_TEST_POSTGRES_URL or start PostgreSQL (" + err.Error() + ")"
		if RequireServices() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	adminDB, err := admin.DB()
	if err != nil {
		t.Fatalf("storetest: open postgres: %v", err)
	}
	schema := "chat_test_" + randomHex(8)
	if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
		adminDB.Close()
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer adminDB.Close()
		if err := admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`).Error; err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", redact(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLitePath returns a database file path inside t.TempDir().
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "chat.db")
}

// Open opens databaseURL, migrates it and closes it when the test ends.
func Open(t testing.TB, databaseURL string) *store.Store {
	t.Helper()
	s, err := store.Open(databaseURL)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return s
}

// SQLite returns a migrated store on a fresh SQLite file.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, SQLitePath(t))
}

// Postgres returns a migrated store on a fresh PostgreSQL schema (skips as PostgresURL does).
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// Backend names a database a test can run against.
type Backend struct {
	Name string
	// URL makes a fresh, empty database for t and returns its URL.
	URL func(t testing.TB) string
}

// Backends lists SQLite and PostgreSQL; use with ForEach so PostgreSQL skips on its own.
var Backends = []Backend{
	{Name: "sqlite", URL: SQLitePath},
	{Name: "postgres", URL: PostgresURL},
}

// ForEach runs f as a subtest once per backend, each with a fresh migrated store.
func ForEach(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			f(t, Open(t, b.URL(t)))
		})
	}
}

// ForEachURL runs f as a subtest once per backend with the URL of a fresh, empty database
// (for tests that reopen the same database).
func ForEachURL(t *testing.T, f func(t *testing.T, databaseURL string)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			f(t, b.URL(t))
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
