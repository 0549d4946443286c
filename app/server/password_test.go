package server_test

import (
	"net/url"
	"strings"
	"testing"

	"chat/app/apptest"
)

// Changing the password needs the current one, applies the password rules, and ends every
// other session of the user (their sockets close with 1008) while this one stays in.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	here := env.NewUser("alice") // password "password-alice"
	there := env.NewClient()
	there.Login("alice", "password-alice")
	hereSock, thereSock := here.MustDial("r", ""), there.MustDial("r", "")

	change := func(current, pw, confirm string) apptest.Response {
		return here.SubmitForm("/account/password", "/account/password", url.Values{
			"current_password": {current}, "password": {pw}, "password_confirm": {confirm},
		})
	}
	if r := change("wrong", "new-password-1", "new-password-1"); r.Status != 401 || !strings.Contains(r.Body, "current password is wrong") {
		t.Fatalf("wrong current password: %d", r.Status)
	}
	if r := change("password-alice", "short", "short"); r.Status != 400 || !strings.Contains(r.Body, "at least 8") {
		t.Fatalf("short password: %d", r.Status)
	}
	if r := change("password-alice", "alice", "alice"); r.Status != 400 {
		t.Fatalf("username as password: %d", r.Status)
	}
	if r := change("password-alice", "new-password-1", "new-password-1"); r.Status != 200 || !strings.Contains(r.Body, "every other session has ended") {
		t.Fatalf("change: %d", r.Status)
	}
	if code := thereSock.CloseCode(5e9); code != 1008 {
		t.Fatalf("the other session's socket closed with %d, want 1008", code)
	}
	if r := there.Get("/"); r.Status != 303 || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("the other session still works: %d %s", r.Status, r.Location)
	}
	if r := here.Get("/"); r.Status != 200 {
		t.Fatalf("this session ended too: %d", r.Status)
	}
	hereSock.Send(map[string]any{"message": "still connected"})
	hereSock.Expect("chat.message")
	fresh := env.NewClient()
	fresh.Login("alice", "new-password-1")
	if r := env.NewClient().SubmitForm("/login", "/login", url.Values{"username": {"alice"}, "password": {"password-alice"}}); r.Status != 401 {
		t.Fatalf("the old password still logs in: %d", r.Status)
	}
}
