package models

import "time"

// Room is a chat room, created the first time someone opens /chat/<name>/.
type Room struct {
	ID            int64
	Name          string
	CreatedAt     time.Time
	LastMessageAt *time.Time
	MessageCount  int64
	// LastSeq is the Seq of the room's newest message ever stored (0 for none).
	LastSeq int64
}
