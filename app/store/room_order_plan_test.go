package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"chat/models"
)

// TestRoomReadsSeekOnSQLite runs every read of one room's messages against a SQLite file and
// asks SQLite for the plan of each statement it issued: each must seek on (room_id, seq),
// never scan the table or sort. Finding 26 of docs/performance.md dropped the (room_id, id)
// index these reads used; a bound on seq that stops seeking would not change a single row
// (TestRoomReadsByIDCursor), only the time, so the plan is what this checks. A plan does not
// depend on the values bound, so whether the bound is found (seqBound's fallbacks) is not.
func TestRoomReadsSeekOnSQLite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	room, err := s.GetOrCreateRoom(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var batch []*models.Message
	for i := range 20 {
		batch = append(batch, &models.Message{RoomID: room.ID, UserID: u.ID, Body: fmt.Sprint("m", i)})
	}
	if _, err := s.SaveMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	mid := batch[10].ID

	type statement struct {
		sql  string
		vars []any
	}
	var seen []statement
	record := func(db *gorm.DB) {
		q := db.Statement.SQL.String()
		if strings.Contains(q, "m.room_id") && !strings.HasPrefix(q, "EXPLAIN") {
			seen = append(seen, statement{q, append([]any(nil), db.Statement.Vars...)})
		}
	}
	for _, db := range []*gorm.DB{s.reader, s.writer} {
		cb := db.Callback()
		for i, err := range []error{
			cb.Row().After("gorm:row").Register("test:plan_row", record),
			cb.Raw().After("gorm:raw").Register("test:plan_raw", record),
			cb.Query().After("gorm:query").Register("test:plan_query", record),
		} {
			if err != nil {
				t.Fatalf("callback %d: %v", i, err)
			}
		}
	}

	// Every read but the newest page has a cursor, and must seek to it on seq.
	const seek, newest = "messages_room_id_seq_key (room_id=? AND seq", "messages_room_id_seq_key (room_id=?)"
	reads := []struct {
		name, want string
		run        func() error
	}{
		{"RecentMessages", newest, func() error { _, err := s.RecentMessages(ctx, room.ID, 5); return err }},
		{"MessagesBefore", seek, func() error { _, err := s.MessagesBefore(ctx, room.ID, mid, 5); return err }},
		{"MessagesAfter", seek, func() error { _, err := s.MessagesAfter(ctx, room.ID, mid, 5); return err }},
		{"MarkRead", seek, func() error { return s.MarkRead(ctx, u.ID, room.ID, mid) }},
		{"UnreadCounts", seek, func() error { _, err := s.UnreadCounts(ctx, u.ID, []int64{room.ID}); return err }},
		{"AdminMessages, older", seek, func() error {
			_, err := s.AdminMessages(ctx, MessageFilter{RoomID: room.ID}, Cursor{Before: mid}, 3)
			return err
		}},
		{"AdminMessages, newer", seek, func() error {
			_, err := s.AdminMessages(ctx, MessageFilter{RoomID: room.ID}, Cursor{Forward: true, After: mid}, 3)
			return err
		}},
		{"AdminExportMessages", seek, func() error {
			_, err := s.AdminExportMessages(ctx, MessageFilter{RoomID: room.ID}, mid, 3)
			return err
		}},
		{"AdminDeleteMessages", seek, func() error {
			_, err := s.AdminDeleteMessages(ctx, MessageFilter{RoomID: room.ID, MaxID: batch[2].ID}, 2)
			return err
		}},
	}
	for _, r := range reads {
		seen = seen[:0]
		if err := r.run(); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if len(seen) == 0 {
			t.Fatalf("%s: no statement on m.room_id recorded", r.name)
		}
		for _, st := range seen {
			rows, err := s.reader.Raw("EXPLAIN QUERY PLAN "+st.sql, st.vars...).Rows()
			if err != nil {
				t.Fatalf("%s: EXPLAIN: %v", r.name, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			all := strings.Join(plan, "; ")
			if !strings.Contains(all, r.want) ||
				strings.Contains(all, "SCAN m") || strings.Contains(all, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("%s: does not seek on (room_id, seq):\n  %s\n  plan: %s", r.name, st.sql, all)
			}
		}
	}
}
