package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/store"
	"chat/models"
)

var ctx = context.Background()

// site is a running server with one account of each kind, logged in: an ordinary user, a
// staff member and a superuser, plus an anonymous visitor.
type site struct {
	*apptest.Env
	anon, user, staff, super *apptest.Client
}

func newSite(t *testing.T) *site {
	t.Helper()
	e := apptest.Start(t, apptest.Config(t))
	s := &site{Env: e, anon: e.NewClient(), user: e.NewUser("alice"), staff: e.NewUser("sam"), super: e.NewUser("root")}
	e.MakeStaff("sam")
	e.MakeSuperuser("root")
	s.anon.Get("/login") // a CSRF cookie, as a visitor who opened any form would have
	return s
}

// client returns the client of a role name.
func (s *site) client(role string) *apptest.Client {
	return map[string]*apptest.Client{"anonymous": s.anon, "user": s.user, "staff": s.staff, "superuser": s.super}[role]
}

// userID looks a user's id up in the database.
func (s *site) userID(t *testing.T, name string) int64 {
	t.Helper()
	u, err := s.Server.Store.UserByName(ctx, name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u.ID
}

// user reads a user back from the database.
func (s *site) dbUser(t *testing.T, name string) *models.User {
	t.Helper()
	u, err := s.Server.Store.UserByName(ctx, name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u
}

// save stores a message straight in the database, at a given time (zero: now).
func (s *site) save(t *testing.T, room, author, body string, at time.Time) *models.Message {
	t.Helper()
	r, err := s.Server.Store.GetOrCreateRoom(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Server.Store.UserByName(ctx, author)
	if err != nil {
		t.Fatal(err)
	}
	m := &models.Message{RoomID: r.ID, UserID: u.ID, Body: body, CreatedAt: at}
	if _, err := s.Server.Store.SaveMessages(ctx, []*models.Message{m}); err != nil {
		t.Fatal(err)
	}
	return m
}

// saveMany stores n messages in one room by one author, one minute apart from start.
func (s *site) saveMany(t *testing.T, room, author string, n int, start time.Time) []*models.Message {
	t.Helper()
	r, err := s.Server.Store.GetOrCreateRoom(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Server.Store.UserByName(ctx, author)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]*models.Message, n)
	for i := range batch {
		batch[i] = &models.Message{RoomID: r.ID, UserID: u.ID, Body: "message " + strconv.Itoa(i),
			CreatedAt: start.Add(time.Duration(i) * time.Minute)}
	}
	if _, err := s.Server.Store.SaveMessages(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return batch
}

// audit returns the audit log, newest first.
func (s *site) audit(t *testing.T, action string) []store.AuditEntry {
	t.Helper()
	p, err := s.Server.Store.ListAudit(ctx, action, store.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return p.Entries
}

var rowIDs = regexp.MustCompile(`name="ids" value="(\d+)"`)

// listedIDs are the message ids of a list page's rows, in page order.
func listedIDs(body string) []int64 {
	var ids []int64
	for _, m := range rowIDs.FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, id)
	}
	return ids
}

// idsOf are the ids of messages, newest first.
func idsOf(msgs ...*models.Message) []int64 {
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids
}

var totalRe = regexp.MustCompile(`<strong id="total">(\d+)</strong>`)

// total is the "N matching" count of a list page.
func total(t *testing.T, body string) int {
	t.Helper()
	m := totalRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no total on the page:\n%s", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// link finds the href of a link with the given text (HTML-unescaped).
func link(body, text string) string {
	re := regexp.MustCompile(`<a class="button" href="([^"]*)"[^>]*>` + regexp.QuoteMeta(text) + `</a>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// mustGet fetches a page and fails unless it answers 200.
func mustGet(t *testing.T, c *apptest.Client, path string) apptest.Response {
	t.Helper()
	r := c.Get(path)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, r.Status, r.Body)
	}
	return r
}

// form builds url.Values from pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
