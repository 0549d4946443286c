package admin_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var userNames = regexp.MustCompile(`<td><strong>([^<]+)</strong>`)

func listedUsers(body string) []string {
	var out []string
	for _, m := range userNames.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestUsersList checks the search and the staff and active filters, alone and together, and
// the message counts.
func TestUsersList(t *testing.T) {
	s := newSite(t) // alice, sam (staff), root (superuser)
	s.NewUser("alicia")
	s.NewUser("bob")
	s.save(t, "lobby", "bob", "one", time.Time{})
	s.save(t, "lobby", "bob", "two", time.Time{})
	if r := s.super.PostCSRF("/admin/users/"+itoa(s.userID(t, "alicia"))+"/deactivate", nil); r.Status != 303 {
		t.Fatal(r.Status)
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"bob", "alicia", "root", "sam", "alice"}},
		{"q=ALI", []string{"alicia", "alice"}},
		{"staff=yes", []string{"root", "sam"}},
		{"staff=no", []string{"bob", "alicia", "alice"}},
		{"active=no", []string{"alicia"}},
		{"active=yes&staff=no", []string{"bob", "alice"}},
		{"q=ali&active=yes", []string{"alice"}},
		{"q=zzz", nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := mustGet(t, s.staff, "/admin/users?"+tc.query)
			if got := listedUsers(r.Body); !slices.Equal(got, tc.want) {
				t.Errorf("users = %v, want %v", got, tc.want)
			}
			if n := total(t, r.Body); n != len(tc.want) {
				t.Errorf("total = %d, want %d", n, len(tc.want))
			}
		})
	}
	body := mustGet(t, s.staff, "/admin/users?q=bob").Body
	if !strings.Contains(body, `<a href="/admin/messages?author=bob">2</a>`) {
		t.Errorf("no message count for bob:\n%s", body)
	}
	if r := s.staff.Get("/admin/users?staff=maybe"); r.Status != 400 {
		t.Errorf("staff=maybe: %d, want 400", r.Status)
	}
}

// TestAuditPage shows the log newest first, filtered by action.
func TestAuditPage(t *testing.T) {
	s := newSite(t)
	m := s.save(t, "lobby", "alice", "x", time.Time{})
	s.staff.PostCSRF("/admin/messages/export", form("scope", "all"))
	s.staff.PostCSRF("/admin/messages/delete", form("scope", "selected", "ids", itoa(m.ID), "confirm", "yes"))
	body := mustGet(t, s.staff, "/admin/audit").Body
	del, exp := strings.Index(body, "<code>messages.delete</code>"), strings.Index(body, "<code>messages.export</code>")
	if del < 0 || exp < 0 || del > exp {
		t.Errorf("audit page not newest first:\n%s", body)
	}
	body = mustGet(t, s.staff, "/admin/audit?action=messages.export").Body
	if strings.Contains(body, "<code>messages.delete</code>") || !strings.Contains(body, "<code>messages.export</code>") {
		t.Errorf("filtered audit page:\n%s", body)
	}
	if r := s.staff.Get("/admin/audit?action=drop.tables"); r.Status != 400 {
		t.Errorf("unknown action: %d, want 400", r.Status)
	}
}
