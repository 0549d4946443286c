package store_test

import (
	"context"
	"testing"

	"chat/app/store"
	"chat/models"
)

var ctx = context.Background()

func mustUser(t testing.TB, s *store.Store, name string) *models.User {
	t.Helper()
	u, err := s.CreateUser(ctx, name, "hash-of-"+name)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func mustRoom(t testing.TB, s *store.Store, name string) *models.Room {
	t.Helper()
	r, err := s.GetOrCreateRoom(ctx, name)
	if err != nil {
		t.Fatalf("GetOrCreateRoom(%q): %v", name, err)
	}
	return r
}

func mustSave(t testing.TB, s *store.Store, batch ...*models.Message) []bool {
	t.Helper()
	dup, err := s.SaveMessages(ctx, batch)
	if err != nil {
		t.Fatalf("SaveMessages: %v", err)
	}
	if len(dup) != len(batch) {
		t.Fatalf("SaveMessages returned %d flags for %d messages", len(dup), len(batch))
	}
	return dup
}

func msg(room *models.Room, user *models.User, body, clientID string) *models.Message {
	return &models.Message{RoomID: room.ID, UserID: user.ID, Body: body, ClientID: clientID}
}
