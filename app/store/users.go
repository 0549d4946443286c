package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"chat/models"
)

// CreateUser stores a new user; it returns ErrDuplicate when the name is taken, compared
// case-insensitively. The name is stored as typed.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (*models.User, error) {
	u := &models.User{Username: username, PasswordHash: passwordHash, CreatedAt: now()}
	if err := s.writer.WithContext(ctx).Create(u).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, fmt.Errorf("store: user %q: %w", username, ErrDuplicate)
		}
		return nil, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// UserByName finds a user by name, case-insensitively.
func (s *Store) UserByName(ctx context.Context, username string) (*models.User, error) {
	// lower() on both sides matches the users_username_lower_key index expression.
	return s.firstUser(ctx, "lower(username) = lower(?)", username)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id int64) (*models.User, error) {
	return s.firstUser(ctx, "id = ?", id)
}

// CountUsers returns the number of registered users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader.WithContext(ctx).Model(&models.User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

func (s *Store) firstUser(ctx context.Context, where string, arg any) (*models.User, error) {
	var u models.User
	err := s.reader.WithContext(ctx).Where(where, arg).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}
