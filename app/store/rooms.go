package store

import (
	"context"
	"errors"
	"fmt"

	"chat/models"
)

// GetOrCreateRoom returns the room with this exact name, creating it if needed. Concurrent
// callers get the same row: the insert ignores a name conflict and the row is then read back.
func (s *Store) GetOrCreateRoom(ctx context.Context, name string) (*models.Room, error) {
	if name == "" {
		return nil, errors.New("store: empty room name")
	}
	// Fast path: most rooms exist already, and reads do not queue behind the writer.
	if r, err := s.RoomByName(ctx, name); err == nil || !errors.Is(err, ErrNotFound) {
		return r, err
	}
	db := s.writer.WithContext(ctx)
	if err := db.Exec("INSERT INTO rooms (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
		name, now()).Error; err != nil {
		return nil, fmt.Errorf("store: create room: %w", err)
	}
	// Read back through the writer: it has certainly seen the row, whoever inserted it.
	var r models.Room
	if err := db.Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("store: find room: %w", err)
	}
	fixRoom(&r)
	return &r, nil
}

// ListRooms returns up to limit rooms (<= 0: 100), most recently active first: by
// last_message_at descending with never-used rooms last, then newest created first.
func (s *Store) ListRooms(ctx context.Context, limit int) ([]models.Room, error) {
	var rooms []models.Room
	err := s.reader.WithContext(ctx).
		Order("last_message_at DESC NULLS LAST, created_at DESC, id DESC").
		Limit(clampLimit(limit, 100)).
		Find(&rooms).Error
	if err != nil {
		return nil, fmt.Errorf("store: list rooms: %w", err)
	}
	for i := range rooms {
		fixRoom(&rooms[i])
	}
	return rooms, nil
}

func fixRoom(r *models.Room) {
	r.CreatedAt = r.CreatedAt.UTC()
	r.LastMessageAt = utcPtr(r.LastMessageAt)
}
