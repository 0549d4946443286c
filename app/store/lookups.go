package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"chat/models"
)

// lookups are the reads of one row that every request makes (its session, its user) and
// every socket's Connect (its room), and the login's user by name, prepared once on the
// reader pool and scanned by hand: through GORM, building and scanning the first three was
// 29 % of the server's CPU while 10,000 sockets connected, and half of each handshake's
// garbage.
type lookups struct {
	sessionByKey, userByID, userByName, roomByName *sql.Stmt
}

func (s *Store) lookups(ctx context.Context) (*lookups, error) {
	return s.lookup.get(ctx, s.readerSQL, s.lookupTargets)
}

func (s *Store) lookupTargets(l *lookups) []stmtTarget {
	return []stmtTarget{
		{&l.sessionByKey, rebind(s.dialect, `SELECT key_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent
			FROM sessions WHERE key_hash = ? AND expires_at > ?`)},
		{&l.userByID, rebind(s.dialect, userSelect+`WHERE id = ?`)},
		// lower() on both sides matches the users_username_lower_key index expression.
		{&l.userByName, rebind(s.dialect, userSelect+`WHERE lower(username) = lower(?)`)},
		{&l.roomByName, rebind(s.dialect, `SELECT id, name, created_at, last_message_at, message_count, last_seq
			FROM rooms WHERE name = ?`)},
	}
}

// SessionByKey returns the unexpired session with this key hash, or ErrNotFound.
func (s *Store) SessionByKey(ctx context.Context, keyHash string, now time.Time) (*models.Session, error) {
	l, err := s.lookups(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	var sess models.Session
	err = l.sessionByKey.QueryRowContext(ctx, keyHash, dbTime(now)).Scan(&sess.KeyHash, &sess.UserID,
		&sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt, &sess.IP, &sess.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	sess.CreatedAt = sess.CreatedAt.UTC()
	sess.LastSeenAt = sess.LastSeenAt.UTC()
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	return &sess, nil
}

// userSelect reads a user's columns in the order lookupUser scans them.
const userSelect = `SELECT id, username, password_hash, created_at, is_staff, is_superuser, is_active FROM users `

// UserByID returns the user with this id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*models.User, error) {
	return s.lookupUser(ctx, func(l *lookups) *sql.Stmt { return l.userByID }, id)
}

// UserByName finds a user by name, case-insensitively, or returns ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (*models.User, error) {
	return s.lookupUser(ctx, func(l *lookups) *sql.Stmt { return l.userByName }, username)
}

func (s *Store) lookupUser(ctx context.Context, stmt func(*lookups) *sql.Stmt, arg any) (*models.User, error) {
	l, err := s.lookups(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	var u models.User
	err = stmt(l).QueryRowContext(ctx, arg).Scan(&u.ID, &u.Username, &u.PasswordHash, &u.CreatedAt,
		&u.IsStaff, &u.IsSuperuser, &u.IsActive)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// RoomByName returns the room with this exact name, or ErrNotFound.
func (s *Store) RoomByName(ctx context.Context, name string) (*models.Room, error) {
	l, err := s.lookups(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: find room: %w", err)
	}
	var r models.Room
	var last sql.NullTime
	err = l.roomByName.QueryRowContext(ctx, name).Scan(&r.ID, &r.Name, &r.CreatedAt, &last,
		&r.MessageCount, &r.LastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: find room: %w", err)
	}
	if last.Valid {
		r.LastMessageAt = &last.Time
	}
	fixRoom(&r)
	return &r, nil
}
