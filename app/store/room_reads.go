package store

import (
	"context"
	"fmt"
	"slices"
)

// MarkRead records that a user has read a room up to lastReadID. The marker keeps the seq of
// the newest message up to lastReadID, its own unless it was deleted meanwhile, which
// UnreadCounts counts from; it never moves back to an older seq. Seqs, not ids, decide that:
// an id past the room's newest (a restored database, a stale tab) must not hold the marker.
func (s *Store) MarkRead(ctx context.Context, userID, roomID, lastReadID int64) error {
	cond, args := roomIDCond("<=", lastReadID, roomID)
	err := s.writer.WithContext(ctx).Exec(
		`INSERT INTO room_reads (user_id, room_id, last_read_id, last_read_seq)
		 VALUES (?, ?, ?, COALESCE((SELECT m.seq FROM messages m
		   WHERE m.room_id = ? AND `+cond+`
		   ORDER BY m.seq DESC LIMIT 1), 0))
		 ON CONFLICT (user_id, room_id) DO UPDATE
		   SET last_read_id = excluded.last_read_id, last_read_seq = excluded.last_read_seq
		 WHERE excluded.last_read_seq > room_reads.last_read_seq`,
		slices.Concat([]any{userID, roomID, lastReadID, roomID}, args)...).Error
	if err != nil {
		return fmt.Errorf("store: mark read: %w", err)
	}
	return nil
}

// UnreadCounts returns, for each of roomIDs the user has unread messages in, how many
// arrived after the last one they read. Rooms the user never opened have no count: they are
// not the user's rooms yet.
func (s *Store) UnreadCounts(ctx context.Context, userID int64, roomIDs []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(roomIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		RoomID int64
		Unread int64
	}
	err := s.reader.WithContext(ctx).Raw(
		`SELECT m.room_id AS room_id, COUNT(*) AS unread
		   FROM messages m
		   JOIN room_reads r ON r.room_id = m.room_id AND r.user_id = ?
		  WHERE m.room_id IN ? AND m.seq > r.last_read_seq
		  GROUP BY m.room_id`, userID, roomIDs).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unread counts: %w", err)
	}
	for _, r := range rows {
		out[r.RoomID] = r.Unread
	}
	return out, nil
}
