package store

import (
	"context"
	"fmt"
)

// SetUserPassword replaces a user's password hash; ErrNotFound if there is no such user.
func (s *Store) SetUserPassword(ctx context.Context, id int64, passwordHash string) error {
	res := s.writer.WithContext(ctx).Exec("UPDATE users SET password_hash = ? WHERE id = ?", passwordHash, id)
	if res.Error != nil {
		return fmt.Errorf("store: set password: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// UserSessionKeys lists the key hashes of a user's sessions, so their sockets can be closed.
func (s *Store) UserSessionKeys(ctx context.Context, userID int64) ([]string, error) {
	var keys []string
	if err := s.reader.WithContext(ctx).Raw("SELECT key_hash FROM sessions WHERE user_id = ?", userID).Scan(&keys).Error; err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return keys, nil
}
