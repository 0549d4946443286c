package store_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// adminFixture is a small history with known rooms, authors, days and texts.
type adminFixture struct {
	alice, bob    *models.User
	lobby, random *models.Room
	msgs          []*models.Message // in id order
}

func day(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

func newAdminFixture(t *testing.T, s *store.Store) *adminFixture {
	t.Helper()
	f := &adminFixture{alice: mustUser(t, s, "alice"), bob: mustUser(t, s, "bob"),
		lobby: mustRoom(t, s, "lobby"), random: mustRoom(t, s, "random")}
	add := func(r *models.Room, u *models.User, body string, at time.Time) {
		m := msg(r, u, body, "")
		m.CreatedAt = at
		f.msgs = append(f.msgs, m)
	}
	add(f.lobby, f.alice, "Hello World", day(2023, 12, 31, 23))
	add(f.lobby, f.bob, "100% sure", day(2024, 1, 1, 0))
	add(f.random, f.alice, "snake_case", day(2024, 1, 1, 12))
	add(f.random, f.bob, "hello again", day(2024, 1, 2, 8))
	add(f.lobby, f.alice, "HELLO there", day(2024, 2, 10, 9))
	add(f.lobby, f.bob, "bye", day(2024, 2, 10, 23))
	add(f.random, f.alice, `back\slash`, day(2024, 3, 5, 5))
	mustSave(t, s, f.msgs...)
	return f
}

// ids returns the ids of the fixture's messages at the given positions, newest first.
func (f *adminFixture) ids(pos ...int) []int64 {
	out := make([]int64, len(pos))
	for i, p := range pos {
		out[i] = f.msgs[p].ID
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

func pageIDs(p store.MessagePage) []int64 {
	out := make([]int64, len(p.Messages))
	for i, m := range p.Messages {
		out[i] = m.ID
	}
	return out
}

func TestAdminMessagesFilters(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newAdminFixture(t, s)
		cases := []struct {
			name   string
			filter store.MessageFilter
			want   []int
		}{
			{"all", store.MessageFilter{}, []int{0, 1, 2, 3, 4, 5, 6}},
			{"room", store.MessageFilter{RoomID: f.lobby.ID}, []int{0, 1, 4, 5}},
			{"author", store.MessageFilter{UserID: f.bob.ID}, []int{1, 3, 5}},
			{"room and author", store.MessageFilter{RoomID: f.lobby.ID, UserID: f.alice.ID}, []int{0, 4}},
			{"year", store.MessageFilter{From: day(2024, 1, 1, 0), Until: day(2025, 1, 1, 0)}, []int{1, 2, 3, 4, 5, 6}},
			{"month", store.MessageFilter{From: day(2024, 2, 1, 0), Until: day(2024, 3, 1, 0)}, []int{4, 5}},
			{"day", store.MessageFilter{From: day(2024, 1, 1, 0), Until: day(2024, 1, 2, 0)}, []int{1, 2}},
			{"text ignores case", store.MessageFilter{Text: "hello"}, []int{0, 3, 4}},
			{"text percent is literal", store.MessageFilter{Text: "0%"}, []int{1}},
			{"text underscore is literal", store.MessageFilter{Text: "e_c"}, []int{2}},
			{"text backslash is literal", store.MessageFilter{Text: `k\s`}, []int{6}},
			{"text no match", store.MessageFilter{Text: "zzz"}, nil},
			{"text and room", store.MessageFilter{Text: "HELLO", RoomID: f.random.ID}, []int{3}},
			{"all four", store.MessageFilter{Text: "hello", RoomID: f.lobby.ID, UserID: f.alice.ID,
				From: day(2024, 2, 10, 0), Until: day(2024, 2, 11, 0)}, []int{4}},
			{"ids", store.MessageFilter{IDs: []int64{f.msgs[2].ID, f.msgs[5].ID, 999999}}, []int{2, 5}},
			{"ids and room", store.MessageFilter{IDs: []int64{f.msgs[2].ID, f.msgs[5].ID}, RoomID: f.lobby.ID}, []int{5}},
			{"empty ids", store.MessageFilter{IDs: []int64{}}, nil},
			{"up to an id", store.MessageFilter{MaxID: f.msgs[2].ID}, []int{0, 1, 2}},
			{"room up to an id", store.MessageFilter{RoomID: f.lobby.ID, MaxID: f.msgs[4].ID}, []int{0, 1, 4}},
			{"unknown room", store.MessageFilter{RoomID: -1}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := f.ids(tc.want...)
				p, err := s.AdminMessages(ctx, tc.filter, store.Cursor{}, 50)
				if err != nil {
					t.Fatal(err)
				}
				if got := pageIDs(p); !slices.Equal(got, want) {
					t.Errorf("ids = %v, want %v", got, want)
				}
				if p.HasNewer || p.HasOlder {
					t.Errorf("one page but HasNewer %v, HasOlder %v", p.HasNewer, p.HasOlder)
				}
				n, err := s.AdminCountMessages(ctx, tc.filter)
				if err != nil || n != int64(len(want)) {
					t.Errorf("count = %d, %v; want %d", n, err, len(want))
				}
			})
		}
		// Rows carry their room and author names.
		p, _ := s.AdminMessages(ctx, store.MessageFilter{IDs: []int64{f.msgs[3].ID}}, store.Cursor{}, 1)
		if len(p.Messages) != 1 || p.Messages[0].RoomName != "random" || p.Messages[0].Username != "bob" ||
			p.Messages[0].Body != "hello again" || !p.Messages[0].CreatedAt.Equal(day(2024, 1, 2, 8)) {
			t.Errorf("row = %+v", p.Messages)
		}
	})
}

func TestAdminMessagesPaging(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u, r := mustUser(t, s, "alice"), mustRoom(t, s, "lobby")
		var batch []*models.Message
		for i := 0; i < 10; i++ {
			batch = append(batch, msg(r, u, "m", ""))
		}
		mustSave(t, s, batch...)
		id := func(i int) int64 { return batch[i].ID }
		desc := func(from, to int) []int64 { // batch[from..to] ids, newest first
			var out []int64
			for i := from; i >= to; i-- {
				out = append(out, id(i))
			}
			return out
		}
		cases := []struct {
			name          string
			cursor        store.Cursor
			limit         int
			want          []int64
			newer, older  bool
			filterNothing bool
		}{
			{"first page", store.Cursor{}, 4, desc(9, 6), false, true, false},
			{"middle page", store.Cursor{Before: id(6)}, 4, desc(5, 2), true, true, false},
			{"last page by before", store.Cursor{Before: id(2)}, 4, desc(1, 0), true, false, false},
			{"oldest page", store.Cursor{Forward: true}, 4, desc(3, 0), true, false, false},
			{"newer than oldest", store.Cursor{Forward: true, After: id(3)}, 4, desc(7, 4), true, true, false},
			{"newest by after", store.Cursor{Forward: true, After: id(7)}, 4, desc(9, 8), false, true, false},
			{"exactly a page", store.Cursor{}, 10, desc(9, 0), false, false, false},
			{"exactly a page after", store.Cursor{Forward: true}, 10, desc(9, 0), false, false, false},
			{"page of one more", store.Cursor{}, 9, desc(9, 1), false, true, false},
			{"past the end", store.Cursor{Before: id(0)}, 4, nil, true, false, false},
			{"past the start", store.Cursor{Forward: true, After: id(9)}, 4, nil, false, true, false},
			{"after the largest id there is", store.Cursor{Forward: true, After: math.MaxInt64}, 4, nil, false, true, false},
			{"empty result", store.Cursor{}, 4, nil, false, false, true},
			{"empty result after", store.Cursor{Forward: true}, 4, nil, false, false, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f := store.MessageFilter{}
				if tc.filterNothing {
					f.Text = "nothing like this"
				}
				p, err := s.AdminMessages(ctx, f, tc.cursor, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := pageIDs(p); !slices.Equal(got, tc.want) {
					t.Errorf("ids = %v, want %v", got, tc.want)
				}
				if p.HasNewer != tc.newer || p.HasOlder != tc.older {
					t.Errorf("HasNewer, HasOlder = %v, %v; want %v, %v", p.HasNewer, p.HasOlder, tc.newer, tc.older)
				}
			})
		}

		// Export chunks walk everything, newest first.
		var all []int64
		var before int64
		for {
			chunk, err := s.AdminExportMessages(ctx, store.MessageFilter{}, before, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range chunk {
				all = append(all, m.ID)
			}
			if len(chunk) < 3 {
				break
			}
			before = chunk[len(chunk)-1].ID
		}
		if !slices.Equal(all, desc(9, 0)) {
			t.Errorf("chunks = %v, want %v", all, desc(9, 0))
		}
	})
}

func TestAdminMessageSpan(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		if _, _, ok, err := s.AdminMessageSpan(ctx); err != nil || ok {
			t.Errorf("span of nothing: ok %v, %v", ok, err)
		}
		newAdminFixture(t, s)
		oldest, newest, ok, err := s.AdminMessageSpan(ctx)
		if err != nil || !ok || !oldest.Equal(day(2023, 12, 31, 23)) || !newest.Equal(day(2024, 3, 5, 5)) {
			t.Errorf("span = %v, %v, %v, %v", oldest, newest, ok, err)
		}
	})
}

func TestAdminDeleteMessages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newAdminFixture(t, s)
		// In chunks of two: bob's three messages go in two calls.
		byBob := store.MessageFilter{UserID: f.bob.ID}
		first, err := s.AdminDeleteMessages(ctx, byBob, 2)
		if err != nil || len(first) != 2 {
			t.Fatalf("first chunk = %v, %v", first, err)
		}
		second, err := s.AdminDeleteMessages(ctx, byBob, 2)
		if err != nil || len(second) != 1 {
			t.Fatalf("second chunk = %v, %v", second, err)
		}
		got := append(first, second...)
		want := f.ids(1, 3, 5)
		for i, m := range got {
			if m.ID != want[i] {
				t.Errorf("deleted[%d] = %d, want %d", i, m.ID, want[i])
			}
			orig := f.msgs[slices.IndexFunc(f.msgs, func(x *models.Message) bool { return x.ID == m.ID })]
			wantRoom := "lobby"
			if orig.RoomID == f.random.ID {
				wantRoom = "random"
			}
			if m.RoomID != orig.RoomID || m.RoomName != wantRoom {
				t.Errorf("deleted[%d] room = %d %q, want %d %q", i, m.RoomID, m.RoomName, orig.RoomID, wantRoom)
			}
		}
		if rest, err := s.AdminDeleteMessages(ctx, byBob, 2); err != nil || len(rest) != 0 {
			t.Errorf("nothing left: %v, %v", rest, err)
		}
		if n, _ := s.AdminCountMessages(ctx, store.MessageFilter{}); n != 4 {
			t.Errorf("%d messages left, want 4", n)
		}
		// The rooms' counters follow.
		for name, n := range map[string]int64{"lobby": 2, "random": 2} {
			if r, err := s.RoomByName(ctx, name); err != nil || r.MessageCount != n {
				t.Errorf("room %s count = %+v, %v; want %d", name, r, err, n)
			}
		}
		// A selection deletes only itself.
		sel, err := s.AdminDeleteMessages(ctx, store.MessageFilter{IDs: []int64{f.msgs[0].ID, f.msgs[1].ID}}, 0)
		if err != nil || len(sel) != 1 || sel[0].ID != f.msgs[0].ID {
			t.Errorf("selection = %v, %v", sel, err)
		}
		if _, err := s.MessageByID(ctx, f.msgs[2].ID); err != nil {
			t.Errorf("unselected message: %v", err)
		}
		// A date filter (SQLite reads the created_at index for it) and a wider one.
		byDay, err := s.AdminDeleteMessages(ctx, store.MessageFilter{From: day(2024, 3, 5, 0), Until: day(2024, 3, 6, 0)}, 0)
		if err != nil || len(byDay) != 1 || byDay[0].ID != f.msgs[6].ID {
			t.Errorf("by day = %v, %v", byDay, err)
		}
		byYear, err := s.AdminDeleteMessages(ctx, store.MessageFilter{From: day(2024, 1, 1, 0), Until: day(2025, 1, 1, 0)}, 0)
		if err != nil || len(byYear) != 2 {
			t.Errorf("by year = %v, %v", byYear, err)
		}
		if n, _ := s.AdminCountMessages(ctx, store.MessageFilter{}); n != 0 {
			t.Errorf("%d messages left, want 0", n)
		}
	})
}
