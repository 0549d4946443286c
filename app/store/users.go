package store

import (
	"context"
	"fmt"

	"chat/models"
)

// CreateUser stores a new user; it returns ErrDuplicate when the name is taken, compared
// case-insensitively. The name is stored as typed.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (*models.User, error) {
	return s.createUser(ctx, &models.User{Username: username, PasswordHash: passwordHash, IsActive: true})
}

// CreateSuperuser stores a new active superuser (staff too), for "chat createsuperuser"; it
// returns ErrDuplicate when the name is taken, compared case-insensitively.
func (s *Store) CreateSuperuser(ctx context.Context, username, passwordHash string) (*models.User, error) {
	return s.createUser(ctx, &models.User{Username: username, PasswordHash: passwordHash,
		IsActive: true, IsStaff: true, IsSuperuser: true})
}

func (s *Store) createUser(ctx context.Context, u *models.User) (*models.User, error) {
	u.CreatedAt = now()
	username := u.Username
	if err := s.writer.WithContext(ctx).Create(u).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, fmt.Errorf("store: user %q: %w", username, ErrDuplicate)
		}
		return nil, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// CountUsers returns the number of registered users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader.WithContext(ctx).Model(&models.User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// SetUserActive activates or deactivates a user; ErrNotFound if there is no such user. Ending
// the user's sessions and sockets is the caller's part.
func (s *Store) SetUserActive(ctx context.Context, id int64, active bool) error {
	return s.setUserFlag(ctx, "UPDATE users SET is_active = ? WHERE id = ?", active, id)
}

// SetUserStaff grants or revokes staff; ErrNotFound if there is no such user.
func (s *Store) SetUserStaff(ctx context.Context, id int64, staff bool) error {
	return s.setUserFlag(ctx, "UPDATE users SET is_staff = ? WHERE id = ?", staff, id)
}

// SetUserSuperuser grants or revokes superuser; granting makes the user staff too, revoking
// leaves staff as it is. ErrNotFound if there is no such user.
func (s *Store) SetUserSuperuser(ctx context.Context, id int64, superuser bool) error {
	if superuser {
		return s.setUserFlag(ctx, "UPDATE users SET is_superuser = ?, is_staff = true WHERE id = ?", true, id)
	}
	return s.setUserFlag(ctx, "UPDATE users SET is_superuser = ? WHERE id = ?", false, id)
}

func (s *Store) setUserFlag(ctx context.Context, q string, value bool, id int64) error {
	res := s.writer.WithContext(ctx).Exec(q, value, id)
	if res.Error != nil {
		return fmt.Errorf("store: update user: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
