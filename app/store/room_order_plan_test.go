package store

import (
	"context"
	"fmt"
	"math"
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
// depend on the values bound, so whether the bound is found (seqBoundValue's fallbacks) is not.
func TestRoomReadsSeekOnSQLite(t *testing.T) {
	ctx := context.Background()
	s, u, room := sqliteWithRoom(t)
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

// TestSeqBoundValues checks the bound seqBoundValue computes for cursors where it matters: one of
// the room's messages, a deleted one or another room's next to one of the room's (the
// neighbour's seq), and one with neither (open). The reads return the same rows whatever the
// bound (TestRoomReadsByIDCursor) and seek whatever its value (TestRoomReadsSeekOnSQLite), so a
// bound that stopped finding its message would only show here.
func TestSeqBoundValues(t *testing.T) {
	ctx := context.Background()
	s, u, room := sqliteWithRoom(t)
	other, err := s.GetOrCreateRoom(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	// In id order: a (room), x and y (other), b, c and d (room); c is deleted.
	byBody := map[string]*models.Message{}
	for _, m := range []struct {
		room *models.Room
		body string
	}{
		{room, "a"}, {other, "x"}, {other, "y"}, {room, "b"}, {room, "c"}, {room, "d"},
	} {
		msg := &models.Message{RoomID: m.room.ID, UserID: u.ID, Body: m.body}
		if _, err := s.SaveMessages(ctx, []*models.Message{msg}); err != nil {
			t.Fatal(err)
		}
		byBody[m.body] = msg
	}
	if _, err := s.DeleteMessage(ctx, byBody["c"].ID); err != nil {
		t.Fatal(err)
	}
	id := func(body string) int64 { return byBody[body].ID }
	seq := func(body string) int64 { return byBody[body].Seq }
	for _, tc := range []struct {
		what string
		op   string
		v    int64
		want int64
	}{
		{"below a message of the room: its seq", "<", id("b"), seq("b")},
		{"below a deleted one: one past the message before it", "<", id("c"), seq("b") + 1},
		{"below another room's: one past the room's message before it", "<", id("x"), seq("a") + 1},
		{"below past the newest: one past the newest", "<", id("d") + 1, seq("d") + 1},
		{"below one with no neighbour in the room: open", "<", id("y"), maxSeq},
		{"up to a deleted one: one past the message before it", "<=", id("c"), seq("b") + 1},
		{"above a message of the room: its seq", ">", id("a"), seq("a")},
		{"above a deleted one: one before the message after it", ">", id("c"), seq("d") - 1},
		{"above another room's: one before the room's message after it", ">", id("y"), seq("b") - 1},
		{"above the first other-room id, whose next is another room's too: open", ">", id("x"), 0},
		{"at the end of int64's range: open", ">", math.MaxInt64, 0},
		{"at the start of int64's range: open", "<", math.MinInt64, maxSeq},
	} {
		expr, args := seqBoundValue(tc.op, tc.v, room.ID)
		var got int64
		if err := s.reader.Raw("SELECT "+expr, args...).Row().Scan(&got); err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if got != tc.want {
			t.Errorf("%s: seqBoundValue(%q, %d) = %d, want %d", tc.what, tc.op, tc.v, got, tc.want)
		}
	}
}

// sqliteWithRoom opens a migrated SQLite store in a temporary directory, closed when the test
// ends, with one user and one room.
func sqliteWithRoom(t *testing.T) (*Store, *models.User, *models.Room) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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
	return s, u, room
}
