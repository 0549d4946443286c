package store_test

import (
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
)

func TestAudit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if p, err := s.ListAudit(ctx, "", store.Cursor{}, 10); err != nil || len(p.Entries) != 0 || p.HasOlder {
			t.Fatalf("empty log = %+v, %v", p, err)
		}
		root := mustUser(t, s, "root")
		before := time.Now().Add(-time.Second)
		for i, action := range []string{"messages.delete", "messages.export", "user.deactivate", "messages.delete"} {
			e := &store.AuditEntry{ActorID: &root.ID, ActorName: root.Username, Action: action,
				Target: "target", Count: int64(i + 1), Detail: "room=lobby"}
			if err := s.AddAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID == 0 || e.CreatedAt.Before(before) {
				t.Errorf("entry %d = %+v", i, e)
			}
		}
		// An entry without an actor (the account is gone) is allowed.
		if err := s.AddAudit(ctx, &store.AuditEntry{ActorName: "ghost", Action: "live.disconnect", Count: 1}); err != nil {
			t.Fatal(err)
		}

		p, err := s.ListAudit(ctx, "", store.Cursor{}, 3)
		if err != nil || len(p.Entries) != 3 || p.HasNewer || !p.HasOlder {
			t.Fatalf("first page = %+v, %v", p, err)
		}
		if e := p.Entries[0]; e.Action != "live.disconnect" || e.ActorID != nil || e.ActorName != "ghost" {
			t.Errorf("newest = %+v", e)
		}
		if e := p.Entries[1]; e.Action != "messages.delete" || e.ActorID == nil || *e.ActorID != root.ID ||
			e.Count != 4 || e.Target != "target" || e.Detail != "room=lobby" || e.CreatedAt.Location() != time.UTC {
			t.Errorf("second = %+v", e)
		}
		p, err = s.ListAudit(ctx, "", store.Cursor{Before: p.Entries[2].ID}, 3)
		if err != nil || len(p.Entries) != 2 || !p.HasNewer || p.HasOlder {
			t.Fatalf("last page = %+v, %v", p, err)
		}
		p, err = s.ListAudit(ctx, "messages.delete", store.Cursor{}, 10)
		if err != nil || len(p.Entries) != 2 || p.Entries[0].Count != 4 || p.Entries[1].Count != 1 {
			t.Errorf("by action = %+v, %v", p, err)
		}
	})
}
