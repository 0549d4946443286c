// Package migrations holds the chat database schema as one ordered, append-only list of
// versioned steps, in the style of miniflux's internal/database/migrations.go.
//
// Rules for editing this file:
//   - Never change or reorder a step that has shipped; append a new one instead.
//   - A step never uses today's model structs (they will change); it carries its own frozen
//     SQL, one string per dialect where SQLite and PostgreSQL differ.
//   - Run one SQL statement per Exec: prepared statements (PrepareStmt) and PostgreSQL's
//     extended protocol accept a single statement at a time.
package migrations

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Dialect names accepted by Apply and passed to each step.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ErrSchemaTooNew is returned (wrapped, with both versions) when the database was migrated by a
// newer binary than this one.
var ErrSchemaTooNew = errors.New("migrations: database schema is newer than this binary")

// Step is one versioned schema change; Up runs inside a transaction that also records it.
type Step struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB, dialect string) error
}

// Steps is the ordered, append-only list of every schema change.
var Steps = []Step{
	{Version: 1, Name: "initial schema", Up: initialSchema},
	{Version: 2, Name: "admin: user roles and audit log", Up: adminSchema},
	{Version: 3, Name: "per-room message sequence numbers", Up: roomSeq},
	{Version: 4, Name: "room reads by seq; drop messages (room_id, id)", Up: roomOrderBySeq},
}

// advisoryLockKey is the pg_advisory_xact_lock key that serialises migration runs on
// PostgreSQL ("chatmigr" in ASCII). Advisory locks are per database, not per schema.
const advisoryLockKey int64 = 0x636861746d696772

// Latest returns the version of the last known step.
func Latest() int {
	if len(Steps) == 0 {
		return 0
	}
	return Steps[len(Steps)-1].Version
}

// Current returns the newest version recorded in schema_migrations, or 0 for an empty database.
func Current(db *gorm.DB) (int, error) {
	exists, err := tableExists(db)
	if err != nil {
		return 0, fmt.Errorf("migrations: look for schema_migrations: %w", err)
	}
	if !exists {
		return 0, nil
	}
	return current(db)
}

// Apply brings the database up to Latest, running each pending step in its own transaction,
// and returns how many steps it ran.
func Apply(db *gorm.DB, dialect string) (applied int, err error) {
	if dialect != SQLite && dialect != Postgres {
		return 0, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
	if err := validate(Steps); err != nil {
		return 0, err
	}

	err = db.Transaction(func(tx *gorm.DB) error {
		if err := lock(tx, dialect, false); err != nil {
			return err
		}
		return tx.Exec(createTable[dialect]).Error
	})
	if err != nil {
		return 0, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}

	latest := Latest()
	cur, err := current(db)
	if err != nil {
		return 0, err
	}
	if cur > latest {
		return 0, fmt.Errorf("%w: database is at version %d, this binary knows up to %d",
			ErrSchemaTooNew, cur, latest)
	}
	for _, step := range Steps {
		if step.Version <= cur {
			continue // applied before this run started
		}
		ran := false
		err := db.Transaction(func(tx *gorm.DB) error {
			// Take the lock, then re-read the version inside the same transaction: another
			// process may have run this step while we waited.
			if err := lock(tx, dialect, true); err != nil {
				return err
			}
			cur, err := current(tx)
			if err != nil {
				return err
			}
			if cur > latest {
				return fmt.Errorf("%w: database is at version %d, this binary knows up to %d",
					ErrSchemaTooNew, cur, latest)
			}
			if step.Version <= cur {
				return nil
			}
			if err := step.Up(tx, dialect); err != nil {
				return err
			}
			ran = true
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				step.Version, step.Name, time.Now().UTC().Truncate(time.Microsecond)).Error
		})
		if err != nil {
			if errors.Is(err, ErrSchemaTooNew) {
				return applied, err
			}
			return applied, fmt.Errorf("migrations: step %d %q: %w", step.Version, step.Name, err)
		}
		if ran {
			applied++
		}
	}
	return applied, nil
}

var createTable = map[string]string{
	SQLite:   `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMP)`,
	Postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMP)`,
}

// lock serialises concurrent migration runs. On PostgreSQL it takes a transaction-scoped
// advisory lock. On SQLite it makes the transaction a writer before anything is read (a no-op
// write takes the RESERVED lock, waiting on busy_timeout), so a second process waits for the
// first instead of failing to upgrade a read transaction.
func lock(tx *gorm.DB, dialect string, tableExists bool) error {
	switch dialect {
	case Postgres:
		return tx.Exec("SELECT pg_advisory_xact_lock(?)", advisoryLockKey).Error
	case SQLite:
		if tableExists {
			return tx.Exec("UPDATE schema_migrations SET version = version WHERE 0").Error
		}
		// CREATE TABLE IF NOT EXISTS is itself the first (writing) statement.
		return nil
	}
	return nil
}

func current(db *gorm.DB) (int, error) {
	var v int
	if err := db.Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("migrations: read version: %w", err)
	}
	return v, nil
}

func tableExists(db *gorm.DB) (bool, error) {
	var n int64
	var err error
	switch db.Dialector.Name() {
	case Postgres:
		err = db.Raw("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'").Scan(&n).Error
	default:
		err = db.Raw("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n).Error
	}
	return n > 0, err
}

func validate(steps []Step) error {
	prev := 0
	for i, s := range steps {
		if s.Version <= prev {
			return fmt.Errorf("migrations: step %d (%q) has version %d, want > %d", i, s.Name, s.Version, prev)
		}
		if s.Up == nil {
			return fmt.Errorf("migrations: step %d (%q) has no Up", s.Version, s.Name)
		}
		prev = s.Version
	}
	return nil
}

// execAll runs each statement in order, stopping at the first error.
func execAll(tx *gorm.DB, stmts []string) error {
	for _, q := range stmts {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("%w (in %.60q)", err, q)
		}
	}
	return nil
}
