package migrations

import "gorm.io/gorm"

// Step 3: per-room sequence numbers. Every message gets seq, its position in its room (1, 2,
// 3, ...), assigned in the transaction that stores it, from rooms.last_seq. Frozen: do not edit
// once shipped.
//
// Ids are global and, across nodes, a page can receive a room's messages out of id order; a
// page that resumes from the highest id it saw could skip one still in flight. Seqs have no
// holes except where a message was deleted, so a page sees a gap and asks for it. Existing
// messages are numbered in id order, which is the order they were committed in their room.
func roomSeq(tx *gorm.DB, dialect string) error {
	return execAll(tx, roomSeqSQL) // the same SQL on both: window functions and UPDATE ... FROM
}

var roomSeqSQL = []string{
	`ALTER TABLE rooms ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE messages ADD COLUMN seq BIGINT NOT NULL DEFAULT 0`,
	`UPDATE messages SET seq = numbered.rn
		FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY id) AS rn FROM messages) AS numbered
		WHERE messages.id = numbered.id`,
	`UPDATE rooms SET last_seq = COALESCE((SELECT MAX(seq) FROM messages WHERE messages.room_id = rooms.id), 0)`,
	`CREATE UNIQUE INDEX messages_room_id_seq_key ON messages (room_id, seq)`,
}
