package models

import "time"

// Message is one stored chat message. Username and RoomName are filled by the store's reads
// (joined from users and rooms) so pages and frames need no second lookup.
type Message struct {
	ID     int64
	RoomID int64
	// Seq is the message's position in its room (1, 2, 3...), assigned when it is stored; a
	// deleted message leaves its number unused.
	Seq       int64
	UserID    int64
	Body      string
	ClientID  string
	CreatedAt time.Time
	EditedAt  *time.Time

	Username string `gorm:"->;-:migration"`
	RoomName string `gorm:"->;-:migration"`
}
