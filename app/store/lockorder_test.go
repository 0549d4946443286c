package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// A resend of a message racing its deletion, and bulk deletes racing new messages, must not
// deadlock on PostgreSQL: every transaction that writes a room and its messages locks the
// room first (SaveMessages, DeleteMessage, AdminDeleteMessages).
func TestDeleteRacingResendDoesNotDeadlock(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		r := mustRoom(t, s, "race")
		for i := range 150 {
			cid := fmt.Sprint("c-", i)
			first := msg(r, u, "m", cid)
			mustSave(t, s, first)
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := s.DeleteMessage(ctx, first.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("delete %d: %v", i, err)
				}
			})
			wg.Go(func() {
				if _, err := s.SaveMessages(ctx, []*models.Message{msg(r, u, "m", cid), msg(r, u, "new", "")}); err != nil {
					t.Errorf("resend %d: %v", i, err)
				}
			})
			wg.Go(func() {
				if _, err := s.AdminDeleteMessages(ctx, store.MessageFilter{RoomID: r.ID}, 2); err != nil {
					t.Errorf("bulk delete %d: %v", i, err)
				}
			})
			wg.Wait()
			if t.Failed() {
				return
			}
		}
	})
}
