package migrations

import "gorm.io/gorm"

// Step 4: a room's messages are read in seq order only. Within a room seq order is id order
// (seqs are claimed and ids assigned in the same transaction, under the room's row), so the
// index (room_id, seq) serves every read that (room_id, id) did, and (room_id, id) goes: every
// message written paid for a page of it, in a place no other index shared. Read markers
// keep the seq of the message they name, so unread counts seek on (room_id, seq) too.
// Frozen: do not edit once shipped.
func roomOrderBySeq(tx *gorm.DB, dialect string) error {
	return execAll(tx, roomOrderBySeqSQL) // the same SQL on both
}

var roomOrderBySeqSQL = []string{
	`ALTER TABLE room_reads ADD COLUMN last_read_seq BIGINT NOT NULL DEFAULT 0`,
	// The newest message up to the marker, while (room_id, id) still answers that in a seek;
	// a marker on a deleted message counts from the one before it.
	`UPDATE room_reads SET last_read_seq = COALESCE((SELECT m.seq FROM messages m
		WHERE m.room_id = room_reads.room_id AND m.id <= room_reads.last_read_id
		ORDER BY m.id DESC LIMIT 1), 0)`,
	`DROP INDEX IF EXISTS messages_room_id_id_idx`, // some dropped it by hand to measure (docs/performance.md)
}
