package admin_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAccessRules sends every admin URL and action as each kind of visitor: anonymous
// visitors are sent to log in, ordinary users get 403, staff get in except for staff grants,
// superusers get in everywhere. TestEveryRouteIsChecked makes sure no route is left out.
func TestAccessRules(t *testing.T) {
	s := newSite(t)
	s.Env.NewUser("bob")
	m := s.save(t, "general", "alice", "hello", time.Time{})
	bobID := strconv.FormatInt(s.userID(t, "bob"), 10)
	msgID := strconv.FormatInt(m.ID, 10)

	for _, tc := range accessTable(msgID, bobID) {
		for _, role := range []string{"anonymous", "user", "staff", "superuser"} {
			t.Run(tc.method+" "+tc.path+" as "+role, func(t *testing.T) {
				c := s.client(role)
				var r struct {
					Status   int
					Location string
					Body     string
				}
				if tc.method == http.MethodGet {
					resp := c.Get(tc.path)
					r.Status, r.Location, r.Body = resp.Status, resp.Location, resp.Body
				} else {
					resp := c.PostCSRF(tc.path, tc.form)
					r.Status, r.Location, r.Body = resp.Status, resp.Location, resp.Body
				}
				switch role {
				case "anonymous":
					next := "/admin/"
					if tc.method == http.MethodGet {
						next = tc.path
					}
					want := "/login?next=" + url.QueryEscape(next)
					if r.Status != http.StatusSeeOther || r.Location != want {
						t.Errorf("got %d to %q, want 303 to %q", r.Status, r.Location, want)
					}
				case "user":
					if r.Status != http.StatusForbidden {
						t.Errorf("got %d, want 403", r.Status)
					}
				case "staff", "superuser":
					want := tc.staff
					if role == "superuser" {
						want = tc.super
					}
					if r.Status != want {
						t.Errorf("got %d (to %q), want %d\n%.500s", r.Status, r.Location, want, r.Body)
					}
				}
				if r.Status == http.StatusForbidden && !strings.Contains(r.Body, "You can’t do that here") {
					t.Errorf("403 without the error page:\n%.300s", r.Body)
				}
			})
		}
	}

	// No action goes through without the CSRF token, even for a superuser.
	r := s.super.Post("/admin/messages/delete", form("scope", "selected", "ids", msgID, "confirm", "yes"))
	if r.Status != http.StatusForbidden {
		t.Errorf("delete without a CSRF token: %d, want 403", r.Status)
	}
	if _, err := s.Server.Store.MessageByID(ctx, m.ID); err != nil {
		t.Errorf("the message went without a CSRF token: %v", err)
	}
}

// accessCase is one admin URL or action and what staff and superusers get.
type accessCase struct {
	route        string // the route's pattern, to match against the app's routes
	method, path string
	form         url.Values
	staff, super int
}

func accessTable(msgID, bobID string) []accessCase {
	get, post := http.MethodGet, http.MethodPost
	ok, see, forbidden, missing := http.StatusOK, http.StatusSeeOther, http.StatusForbidden, http.StatusNotFound
	return []accessCase{
		{"/admin/", get, "/admin/", nil, ok, ok},
		{"/admin/", get, "/admin", nil, ok, ok},
		{"/admin/messages", get, "/admin/messages", nil, ok, ok},
		{"/admin/messages", get, "/admin/messages?room=general&author=alice&q=hel&year=2024&month=2&day=29", nil, ok, ok},
		{"/admin/messages/:id", get, "/admin/messages/" + msgID, nil, ok, ok},
		{"/admin/messages/delete", post, "/admin/messages/delete", form("scope", "selected", "ids", msgID), ok, ok},
		{"/admin/messages/delete", post, "/admin/messages/delete", form("scope", "selected", "ids", "999999", "confirm", "yes"), see, see},
		{"/admin/messages/export", post, "/admin/messages/export", form("scope", "all", "room", "general"), ok, ok},
		{"/admin/users", get, "/admin/users", nil, ok, ok},
		{"/admin/users", get, "/admin/users?q=b&staff=no&active=yes", nil, ok, ok},
		{"/admin/users/:id/deactivate", post, "/admin/users/" + bobID + "/deactivate", nil, see, see},
		{"/admin/users/:id/reactivate", post, "/admin/users/" + bobID + "/reactivate", nil, see, see},
		{"/admin/users/:id/staff/grant", post, "/admin/users/" + bobID + "/staff/grant", nil, forbidden, see},
		{"/admin/users/:id/staff/revoke", post, "/admin/users/" + bobID + "/staff/revoke", nil, forbidden, see},
		{"/admin/live", get, "/admin/live", nil, ok, ok},
		{"/admin/live.json", get, "/admin/live.json", nil, ok, ok},
		// An unknown channel: 404 shows the request got past the role check.
		{"/admin/live/disconnect", post, "/admin/live/disconnect", form("channel", "specific.nope"), missing, missing},
		{"/admin/live/disconnect-user", post, "/admin/live/disconnect-user", form("user_id", bobID), see, see},
		{"/admin/audit", get, "/admin/audit", nil, ok, ok},
		{"/admin/audit", get, "/admin/audit?action=messages.delete", nil, ok, ok},
	}
}

// TestEveryRouteIsChecked fails when a route under /admin has no line in accessTable.
func TestEveryRouteIsChecked(t *testing.T) {
	s := newSite(t)
	covered := map[string]bool{}
	for _, tc := range accessTable("1", "1") {
		covered[tc.method+" "+tc.route] = true
	}
	n := 0
	for _, r := range s.Server.App.GetRoutes(true) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost || !strings.HasPrefix(r.Path, "/admin") {
			continue
		}
		n++
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("route %s %s is not in the access table", r.Method, r.Path)
		}
	}
	if n < 15 {
		t.Errorf("found only %d admin routes", n)
	}
}
