// Package store is the chat's only door to the database: every query lives here, one file per
// table (users.go, sessions.go, rooms.go, messages.go), in the style of gotify's database/.
// It speaks SQLite (the default, a file next to the binary) and PostgreSQL through GORM; the
// schema itself is owned by package migrations.
//
// Times are stored in UTC, truncated to microseconds (PostgreSQL's precision), and returned
// in UTC.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"chat/migrations"
)

// DefaultPath is the SQLite file used when Open is given an empty database URL.
const DefaultPath = "chat.db"

// DialectSQLite and DialectPostgres are the values Dialect returns.
const (
	DialectSQLite   = migrations.SQLite
	DialectPostgres = migrations.Postgres
)

// ErrNotFound is returned when the requested row does not exist (or, for sessions, has expired).
var ErrNotFound = errors.New("store: not found")

// ErrDuplicate is returned when an insert would violate a unique constraint.
var ErrDuplicate = errors.New("store: duplicate")

// Store is the chat database. It is safe for concurrent use.
type Store struct {
	// writer takes every INSERT/UPDATE/DELETE; reader serves SELECTs. On PostgreSQL they are
	// the same pool; on SQLite see Open.
	writer  *gorm.DB
	reader  *gorm.DB
	dialect string
	q       queries

	writerSQL *sql.DB               // the writer's pool, for SaveMessages' prepared statements
	hot       preparedSet[hotStmts] // prepared on first SaveMessages
	readerSQL *sql.DB               // the reader's pool, for the lookups' prepared statements
	lookup    preparedSet[lookups]  // prepared on first lookup

	checkpointer    *sql.DB       // SQLite file: the connection that checkpoints the WAL
	walRestartAt    atomic.Int64  // WAL pages past which the writer restarts it (walRestartPages)
	walRestartDue   atomic.Bool   // the WAL grew past walRestartAt: SaveMessages restarts it
	walRestartNot   atomic.Int64  // unix nanoseconds before which no restart is asked for again
	stopCheckpoints chan struct{} // closed by Close
	checkpointsDone chan struct{}
}

// checkpointEvery is how often the WAL is checkpointed on SQLite. SQLite would otherwise
// checkpoint inside a committing transaction every 1,000 pages, and a checkpoint syncs the
// database file: the publisher then stalls for the length of an fsync, and every message
// waiting behind it sees that as latency.
const checkpointEvery = 200 * time.Millisecond

// walRestartPages is how long the WAL may grow (in 4 KiB pages) before the writer restarts
// it. A PASSIVE checkpoint copies what the WAL held when it began; SQLite starts the WAL over
// only when a transaction begins with every page copied, which a steady stream of commits
// never allows, so the file grew without end (330 MB in 12 s of scenario B at 10,000 msg/s).
const walRestartPages = 16384

// walSizeLimit is the size a restarted WAL file is cut back to, should it have grown past it.
const walSizeLimit = 128 << 20

// Open connects to databaseURL: "" means the SQLite file chat.db in the working directory; a
// plain path, "sqlite:path", "sqlite://path" or "file:path" is SQLite; "postgres://" or
// "postgresql://" is PostgreSQL. It does not migrate; call Migrate.
func Open(databaseURL string) (*Store, error) {
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return openPostgres(databaseURL)
	default:
		return openSQLite(databaseURL)
	}
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:      logger.Default.LogMode(logger.Silent),
		PrepareStmt: true,
		NowFunc:     now,
		// Models are plain structs without associations; nothing to save alongside.
		SkipDefaultTransaction: true,
	}
}

func openPostgres(databaseURL string) (*Store, error) {
	db, err := gorm.Open(postgres.Open(databaseURL), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	sqlDB.SetMaxOpenConns(20)
	sqlDB.SetMaxIdleConns(10)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	sqlDB.SetConnMaxLifetime(time.Hour)
	return newStore(db, db, DialectPostgres), nil
}

// openSQLite opens the file twice.
//
// Why one writer: SQLite allows any number of readers but only one writer per database file at
// a time, whatever the number of connections. If several pooled connections try to write, all
// but one get SQLITE_BUSY and sleep in the busy handler (or fail outright when a read
// transaction tries to upgrade to a write one, which the busy handler cannot fix). So the
// writer pool has exactly one connection and begins every transaction with BEGIN IMMEDIATE
// (_txlock=immediate): writers queue in Go on database/sql's pool instead of spinning inside
// SQLite, and a transaction never starts as a reader and fails to upgrade. In WAL mode readers
// do not block the writer nor the writer the readers, so reads get their own pool with several
// connections, opened query_only so a misplaced write fails loudly instead of competing for
// the lock. busy_timeout still covers other processes (a second server, the sqlite3 shell).
//
// synchronous=NORMAL in WAL mode syncs at checkpoints, not at every commit: a power cut may
// lose the last transactions but never corrupts the file.
func openSQLite(databaseURL string) (*Store, error) {
	path, userQuery := sqlitePath(databaseURL)
	memory := path == ":memory:" || userQuery.Get("mode") == "memory"
	base := "file:" + escapeSQLitePath(path)

	writerParams := url.Values{}
	for k, v := range userQuery {
		writerParams[k] = v
	}
	setDefault(writerParams, "_busy_timeout", "5000")
	setDefault(writerParams, "_foreign_keys", "on")
	setDefault(writerParams, "_txlock", "immediate")
	if !memory {
		setDefault(writerParams, "_journal_mode", "WAL")
		setDefault(writerParams, "_synchronous", "NORMAL")
	}

	writer, err := gorm.Open(sqlite.Open(base+"?"+writerParams.Encode()), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	wdb, err := writer.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// Open the writer's connection now: it switches the file to WAL before any reader connects.
	if err := wdb.Ping(); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}

	if memory {
		// An in-memory database lives in its one connection: readers share the writer.
		return newStore(writer, writer, DialectSQLite), nil
	}

	readerParams := url.Values{}
	for k, v := range userQuery {
		readerParams[k] = v
	}
	setDefault(readerParams, "_busy_timeout", "5000")
	setDefault(readerParams, "_foreign_keys", "on")
	setDefault(readerParams, "_query_only", "true")
	reader, err := gorm.Open(sqlite.Open(base+"?"+readerParams.Encode()), gormConfig())
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	rdb, err := reader.DB()
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	rdb.SetConnMaxIdleTime(10 * time.Minute)

	// Checkpoints move off the writer (see checkpointEvery) onto a connection of their own: a
	// read-only one cannot checkpoint. If the writer's connection were ever reopened it would
	// checkpoint by itself again, which is only slower.
	ckptParams := url.Values{}
	for k, v := range userQuery {
		ckptParams[k] = v
	}
	setDefault(ckptParams, "_busy_timeout", "5000")
	ckpt, err := sql.Open("sqlite3", base+"?"+ckptParams.Encode())
	if err == nil {
		ckpt.SetMaxOpenConns(1)
		_, err = wdb.Exec("PRAGMA wal_autocheckpoint = 0")
	}
	if err == nil {
		_, err = wdb.Exec(fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit))
	}
	if err != nil {
		_ = rdb.Close()
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	s := newStore(writer, reader, DialectSQLite)
	s.checkpointer = ckpt
	s.walRestartAt.Store(walRestartPages)
	s.stopCheckpoints, s.checkpointsDone = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop(ckpt)
	return s, nil
}

// checkpointLoop checkpoints the WAL every checkpointEvery.
func (s *Store) checkpointLoop(ckpt *sql.DB) {
	defer close(s.checkpointsDone)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-tick.C:
			s.checkpoint(ckpt)
		}
	}
}

// checkpoint copies the WAL into the database file without blocking the writer (PASSIVE),
// and when the WAL still holds walRestartAt pages or more, asks the writer to restart it.
func (s *Store) checkpoint(ckpt *sql.DB) {
	var busy, pages, copied int
	if err := ckpt.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &pages, &copied); err != nil {
		return
	}
	if int64(pages) >= s.walRestartAt.Load() && time.Now().UnixNano() >= s.walRestartNot.Load() {
		s.walRestartDue.Store(true)
	}
}

// walRestartWait bounds how long a restart waits for readers to leave the WAL; a restart
// that could not finish (a long read, from another process say) is not tried again for
// walRestartBackoff, so such a reader costs the writer at most this per backoff.
const (
	walRestartWait    = 100 * time.Millisecond
	walRestartBackoff = 10 * time.Second
)

// restartWAL runs on the writer's connection between two transactions: a RESTART checkpoint
// copies the few pages added since the last PASSIVE one and waits for readers to leave the
// WAL, so the next transaction starts it over. It pauses the writer for about two fsyncs,
// once per walRestartPages pages. Run from the writer, the pause ends the moment the
// checkpoint does; run from the checkpointing connection, it held the writer's lock and the
// writer found out only at its next busy-handler poll.
func (s *Store) restartWAL(ctx context.Context) {
	conn, err := s.writerSQL.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var timeout, busy, pages, copied int
	err = conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout)
	if err == nil {
		_, err = conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", walRestartWait.Milliseconds()))
	}
	if err == nil {
		err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &pages, &copied)
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", timeout))
	}
	if err != nil || busy != 0 {
		s.walRestartNot.Store(time.Now().Add(walRestartBackoff).UnixNano())
	}
}

// sqlitePath strips the accepted prefixes and splits off a query string.
func sqlitePath(databaseURL string) (string, url.Values) {
	s := databaseURL
	switch {
	case s == "":
		s = DefaultPath
	case strings.HasPrefix(s, "sqlite://"):
		s = strings.TrimPrefix(s, "sqlite://")
	case strings.HasPrefix(s, "sqlite3://"):
		s = strings.TrimPrefix(s, "sqlite3://")
	case strings.HasPrefix(s, "sqlite:"):
		s = strings.TrimPrefix(s, "sqlite:")
	case strings.HasPrefix(s, "file:"):
		s = strings.TrimPrefix(s, "file:")
	default:
		// A plain path: take it literally, '?' and all.
		return s, url.Values{}
	}
	var q url.Values
	if i := strings.IndexByte(s, '?'); i >= 0 {
		q, _ = url.ParseQuery(s[i+1:])
		s = s[:i]
	}
	if q == nil {
		q = url.Values{}
	}
	if s == "" {
		s = DefaultPath
	}
	return s, q
}

// escapeSQLitePath escapes the characters that are special in an SQLite URI filename.
func escapeSQLitePath(p string) string {
	if p == ":memory:" {
		return p
	}
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

func setDefault(v url.Values, key, value string) {
	if _, ok := v[key]; !ok {
		v.Set(key, value)
	}
}

func newStore(writer, reader *gorm.DB, dialect string) *Store {
	wdb, _ := writer.DB() // cannot fail: Open got them from the same handles already
	rdb, _ := reader.DB()
	return &Store{writer: writer, reader: reader, dialect: dialect, q: newQueries(dialect), writerSQL: wdb, readerSQL: rdb}
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Migrate applies pending schema migrations and returns how many ran.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	return migrations.Apply(s.writer.WithContext(ctx), s.dialect)
}

// SchemaVersion returns the schema version recorded in the database (0 when empty).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return migrations.Current(s.reader.WithContext(ctx))
}

// Ping checks that the database answers on both the write and the read path.
func (s *Store) Ping(ctx context.Context) error {
	// The reader answers for the database: SQLite's single writer connection may be busy for
	// seconds behind a lock, which is load, not an outage, and must not fail a health check.
	sqlDB, err := s.reader.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the database; the Store must not be used afterwards.
func (s *Store) Close() error {
	if s.dialect == DialectSQLite {
		// Let SQLite refresh its planner statistics (cheap; recommended before closing).
		_ = s.writer.Exec("PRAGMA optimize").Error
	}
	s.hot.close(s.hotTargets)
	s.lookup.close(s.lookupTargets)
	var errs []error
	if ckpt := s.checkpointer; ckpt != nil {
		s.checkpointer = nil // a second Close has nothing to stop
		close(s.stopCheckpoints)
		<-s.checkpointsDone
		errs = append(errs, ckpt.Close())
	}
	// Readers close first: only a read-write connection can checkpoint, so with the writer
	// closing last SQLite folds the WAL into the database and removes it, leaving one clean file.
	pools := s.pools()
	slices.Reverse(pools)
	for i, db := range pools {
		if s.dialect == DialectSQLite && i == len(pools)-1 {
			_ = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error
		}
		if p, ok := db.ConnPool.(*gorm.PreparedStmtDB); ok {
			p.Close()
		}
		sqlDB, err := db.DB()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, sqlDB.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) pools() []*gorm.DB {
	if s.reader == s.writer {
		return []*gorm.DB{s.writer}
	}
	return []*gorm.DB{s.writer, s.reader}
}

// now is the store's clock: UTC, microsecond precision (what PostgreSQL keeps).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// dbTime normalises a time for storage: UTC (so SQLite's text timestamps compare in order)
// and microseconds.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// isUniqueViolation reports whether err is a unique or primary key violation.
func isUniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// clampLimit turns a caller's limit into a sane LIMIT: <= 0 means def, and never above maxLimit.
func clampLimit(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, maxLimit)
}

// maxLimit bounds any one read; CATCHUP_LIMIT must stay below it (catch-up asks for one more row).
const maxLimit = 100000

// rebind turns '?' placeholders into PostgreSQL's $1, $2, ... (SQL used on the raw pool skips
// GORM's own rebinding). The queries here hold no '?' inside string literals.
func rebind(dialect, q string) string {
	if dialect != DialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
