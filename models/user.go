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

	IsStaff     bool // may use the admin and delete any message
	IsSuperuser bool // may also grant and revoke staff (always staff too)
	IsActive    bool // false: deactivated by staff; cannot log in, sessions ended
}

// CanUseAdmin reports whether the user may open the staff admin: an active staff member
// (superusers count as staff). A nil user may not.
func (u *User) CanUseAdmin() bool {
	return u != nil && u.IsActive && (u.IsStaff || u.IsSuperuser)
}
