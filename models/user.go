// Package models holds the plain data the chat stores: users, sessions, rooms and messages.
// It imports nothing from app/; the store fills these structs and the rest of the code reads them.
package models

import "time"

// User is a registered account.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	CreatedAt    time.Time

	IsStaff     bool `gorm:"-"` // may use the admin and delete any message
	IsSuperuser bool `gorm:"-"` // may also grant and revoke staff
}
