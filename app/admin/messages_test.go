package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"chat/models"
)

func at(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }

// TestMessageFilters checks each filter of the message list and their combinations, through
// the page, with the total count.
func TestMessageFilters(t *testing.T) {
	s := newSite(t)
	s.NewUser("bob")
	msgs := []*models.Message{
		s.save(t, "lobby", "alice", "Hello World", at(2023, 12, 31, 23)),
		s.save(t, "lobby", "bob", "100% sure", at(2024, 1, 1, 0)),
		s.save(t, "random", "alice", "snake_case", at(2024, 1, 1, 12)),
		s.save(t, "random", "bob", "hello again", at(2024, 1, 2, 8)),
		s.save(t, "lobby", "alice", "HELLO there", at(2024, 2, 10, 9)),
		s.save(t, "lobby", "bob", "bye", at(2024, 2, 10, 23)),
		s.save(t, "Ünïcode room", "alice", "grüße", at(2024, 3, 5, 5)),
	}
	pick := func(i ...int) []int64 {
		var out []*models.Message
		for _, j := range i {
			out = append(out, msgs[j])
		}
		return idsOf(out...)
	}
	cases := []struct {
		query string
		want  []int64
	}{
		{"", pick(0, 1, 2, 3, 4, 5, 6)},
		{"room=lobby", pick(0, 1, 4, 5)},
		{"room=%C3%9Cn%C3%AFcode+room", pick(6)},
		{"room=nowhere", nil},
		{"author=BOB", pick(1, 3, 5)},
		{"author=nobody", nil},
		{"room=lobby&author=alice", pick(0, 4)},
		{"year=2024", pick(1, 2, 3, 4, 5, 6)},
		{"year=2023", pick(0)},
		{"year=2024&month=2", pick(4, 5)},
		{"year=2024&month=1&day=1", pick(1, 2)},
		{"year=2024&month=1&day=3", nil},
		{"q=hello", pick(0, 3, 4)},
		{"q=0%25", pick(1)},
		{"q=e_c", pick(2)},
		{"q=hello&room=random", pick(3)},
		{"q=hello&author=alice&year=2024", pick(4)},
		{"room=lobby&author=bob&year=2024&month=2&day=10", pick(5)},
		{"room=lobby&author=bob&year=2024&month=2&day=10&q=bye", pick(5)},
		{"room=lobby&author=bob&year=2024&month=2&day=10&q=nope", nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := mustGet(t, s.staff, "/admin/messages?"+tc.query)
			if got := listedIDs(r.Body); !slices.Equal(got, tc.want) {
				t.Errorf("rows = %v, want %v", got, tc.want)
			}
			if n := total(t, r.Body); n != len(tc.want) {
				t.Errorf("total = %d, want %d", n, len(tc.want))
			}
		})
	}

	// Filters stay in the page: in the form, and in the links of the rows and the dates.
	r := mustGet(t, s.staff, "/admin/messages?room=lobby&q=hello&year=2024")
	for _, want := range []string{`name="room" type="text" value="lobby"`, `name="q" type="search" value="hello"`,
		`<input type="hidden" name="year" value="2024">`, `href="/admin/messages?month=2&amp;q=hello&amp;room=lobby&amp;year=2024"`,
		`href="/admin/messages?author=alice&amp;q=hello&amp;room=lobby&amp;year=2024"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	// Bad dates are refused, not guessed at.
	for _, q := range []string{"year=abc", "month=2", "year=2024&day=3", "year=2023&month=2&day=29", "year=2024&month=13", "before=-1", "after=x"} {
		if r := s.staff.Get("/admin/messages?" + q); r.Status != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, r.Status)
		}
	}
}

// TestDateDrillDown walks the date hierarchy: years between the oldest and newest message,
// then that year's months, then the month's days.
func TestDateDrillDown(t *testing.T) {
	s := newSite(t)
	s.save(t, "lobby", "alice", "old", at(2022, 11, 20, 10))
	s.save(t, "lobby", "alice", "new", at(2024, 2, 3, 10))

	choices := func(query string) []string {
		t.Helper()
		body := mustGet(t, s.staff, "/admin/messages?"+query).Body
		i := strings.Index(body, `<ul class="admin-choices">`)
		if i < 0 {
			return nil
		}
		list := body[i:]
		list = list[:strings.Index(list, "</ul>")]
		var out []string
		for _, part := range strings.Split(list, "</a>")[:strings.Count(list, "</a>")] {
			out = append(out, part[strings.LastIndex(part, ">")+1:])
		}
		return out
	}
	if got := choices(""); !slices.Equal(got, []string{"2022", "2023", "2024"}) {
		t.Errorf("years = %v", got)
	}
	if got := choices("year=2022"); !slices.Equal(got, []string{"Nov", "Dec"}) {
		t.Errorf("months of 2022 = %v", got)
	}
	if got := choices("year=2023"); len(got) != 12 {
		t.Errorf("months of 2023 = %v, want all twelve", got)
	}
	if got := choices("year=2024"); !slices.Equal(got, []string{"Jan", "Feb"}) {
		t.Errorf("months of 2024 = %v", got)
	}
	if got := choices("year=2024&month=2"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Errorf("days of Feb 2024 = %v", got)
	}
	if got := choices("year=2022&month=11"); len(got) != 11 || got[0] != "20" {
		t.Errorf("days of Nov 2022 = %v", got)
	}
	if got := choices("year=2024&month=2&day=3"); got != nil {
		t.Errorf("below a day = %v, want none", got)
	}
	// The trail leads back up, keeping the other filters.
	body := mustGet(t, s.staff, "/admin/messages?room=lobby&year=2024&month=2&day=3").Body
	for _, want := range []string{`<a href="/admin/messages?room=lobby">All dates</a>`,
		`<a href="/admin/messages?room=lobby&amp;year=2024">2024</a>`,
		`<a href="/admin/messages?month=2&amp;room=lobby&amp;year=2024">February</a>`,
		`<span aria-current="page">3</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("trail lacks %s", want)
		}
	}
}

// TestMessagePaging walks keyset pages (50 rows each) at the edges: empty, exactly one page,
// one row more, and several pages there and back.
func TestMessagePaging(t *testing.T) {
	const pageSize = 50
	start := at(2024, 5, 1, 0)
	cases := []struct {
		name  string
		count int
	}{
		{"empty", 0},
		{"one row", 1},
		{"exactly a page", pageSize},
		{"a page and one", pageSize + 1},
		{"three pages", 2*pageSize + 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t)
			all := idsOf(s.saveMany(t, "lobby", "alice", tc.count, start)...)
			first := mustGet(t, s.staff, "/admin/messages")
			if n := total(t, first.Body); n != tc.count {
				t.Errorf("total = %d, want %d", n, tc.count)
			}
			if link(first.Body, "‹ Newer") != "" || link(first.Body, "« Newest") != "" {
				t.Error("the first page links to newer pages")
			}
			// Walk to the end through "Older", then back through "Newer".
			var seen []int64
			body := first.Body
			pages := 0
			for {
				pages++
				seen = append(seen, listedIDs(body)...)
				older := link(body, "Older ›")
				if older == "" {
					if link(body, "Oldest »") != "" {
						t.Error("the last page links to the oldest page")
					}
					break
				}
				body = mustGet(t, s.staff, older).Body
			}
			if !slices.Equal(seen, all) {
				t.Errorf("walking older saw %d rows, want %d (in order)", len(seen), len(all))
			}
			if want := max(1, (tc.count+pageSize-1)/pageSize); pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
			var back []int64
			for {
				back = append(listedIDs(body), back...)
				newer := link(body, "‹ Newer")
				if newer == "" {
					break
				}
				body = mustGet(t, s.staff, newer).Body
			}
			// Pages going newer are aligned to the oldest end, so they can differ from the
			// walk down; together they still cover every row exactly once.
			if !slices.Equal(back, all) {
				t.Errorf("walking newer saw %v, want %v", back, all)
			}
			// The "Oldest" link of the first page is the last page, oldest row last.
			if tc.count > pageSize {
				oldest := mustGet(t, s.staff, link(first.Body, "Oldest »"))
				ids := listedIDs(oldest.Body)
				if len(ids) != pageSize || ids[len(ids)-1] != all[len(all)-1] || link(oldest.Body, "Older ›") != "" {
					t.Errorf("oldest page = %v", ids)
				}
			}
		})
	}

	// Past the ends: empty pages that still lead back.
	s := newSite(t)
	all := idsOf(s.saveMany(t, "lobby", "alice", 3, start)...)
	r := mustGet(t, s.staff, "/admin/messages?before="+itoa(all[2]))
	if ids := listedIDs(r.Body); len(ids) != 0 || link(r.Body, "‹ Newer") == "" {
		t.Errorf("before the oldest: rows %v, newer link %q", ids, link(r.Body, "‹ Newer"))
	}
	r = mustGet(t, s.staff, "/admin/messages?after="+itoa(all[0]))
	if ids := listedIDs(r.Body); len(ids) != 0 || link(r.Body, "Older ›") == "" {
		t.Errorf("after the newest: rows %v, older link %q", ids, link(r.Body, "Older ›"))
	}
}

// TestMessageDetail shows one message in full, and 404 for a missing one.
func TestMessageDetail(t *testing.T) {
	s := newSite(t)
	long := strings.Repeat("long text ", 30) + "<b>not bold</b>"
	m := s.save(t, "lobby", "alice", long, time.Time{})
	r := mustGet(t, s.staff, "/admin/messages/"+itoa(m.ID))
	if !strings.Contains(r.Body, "&lt;b&gt;not bold&lt;/b&gt;") || !strings.Contains(r.Body, "#lobby") || !strings.Contains(r.Body, ">alice<") {
		t.Errorf("detail page:\n%s", r.Body)
	}
	list := mustGet(t, s.staff, "/admin/messages").Body
	if strings.Contains(list, "not bold") || !strings.Contains(list, "…") {
		t.Error("the list shows the whole long text")
	}
	for _, p := range []string{"/admin/messages/999999", "/admin/messages/abc", "/admin/messages/0"} {
		if r := s.staff.Get(p); r.Status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, r.Status)
		}
	}
}
