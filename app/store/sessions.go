package store

import (
	"context"
	"fmt"
	"time"

	"chat/models"
)

// CreateSession stores a new session. Its times are normalised to UTC microseconds in place;
// a zero CreatedAt becomes now and a zero LastSeenAt becomes CreatedAt. It returns ErrDuplicate
// if the key hash exists.
func (s *Store) CreateSession(ctx context.Context, sess *models.Session) error {
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	sess.CreatedAt = dbTime(sess.CreatedAt)
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	sess.LastSeenAt = dbTime(sess.LastSeenAt)
	sess.ExpiresAt = dbTime(sess.ExpiresAt)
	if err := s.writer.WithContext(ctx).Create(sess).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("store: session: %w", ErrDuplicate)
		}
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// TouchSession sets the session's last_seen_at; ErrNotFound if there is no such session.
func (s *Store) TouchSession(ctx context.Context, keyHash string, now time.Time) error {
	res := s.writer.WithContext(ctx).Exec(
		"UPDATE sessions SET last_seen_at = ? WHERE key_hash = ?", dbTime(now), keyHash)
	if res.Error != nil {
		return fmt.Errorf("store: touch session: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteSession removes a session (logout); deleting a missing session is not an error.
func (s *Store) DeleteSession(ctx context.Context, keyHash string) error {
	if err := s.writer.WithContext(ctx).Exec("DELETE FROM sessions WHERE key_hash = ?", keyHash).Error; err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of userID except exceptKeyHash ("" keeps none) and
// returns how many it removed.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, exceptKeyHash string) (int64, error) {
	res := s.writer.WithContext(ctx).Exec(
		"DELETE FROM sessions WHERE user_id = ? AND key_hash <> ?", userID, exceptKeyHash)
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete user sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// DeleteExpiredSessions removes sessions with expires_at <= now and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.writer.WithContext(ctx).Exec("DELETE FROM sessions WHERE expires_at <= ?", dbTime(now))
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
