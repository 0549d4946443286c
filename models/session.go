package models

import "time"

// Session is a server-side login session. The cookie carries a random token; the database keeps
// only its SHA-256 (KeyHash), so a leaked table does not hand out live sessions.
type Session struct {
	KeyHash    string `gorm:"primaryKey"`
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
}
