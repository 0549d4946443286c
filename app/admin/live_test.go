package admin_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
)

// sendMessage sends a chat message over a socket and returns its id from the ack.
func sendMessage(t *testing.T, sock *apptest.Socket, text, clientID string) int64 {
	t.Helper()
	sock.Send(map[string]any{"message": text, "client_id": clientID})
	return sock.Expect("ack").ID()
}

// TestDeleteReachesOpenRooms deletes messages in the admin and checks that a member looking
// at the room receives chat.delete for each, and that they are gone from history.
func TestDeleteReachesOpenRooms(t *testing.T) {
	s := newSite(t)
	sock := s.user.MustDial("general", "")
	watcher := s.staff.MustDial("general", "")
	one := sendMessage(t, sock, "first", "c1")
	two := sendMessage(t, sock, "second", "c2")
	three := sendMessage(t, sock, "third", "c3")

	// Selected rows, after the confirmation step.
	r := s.staff.PostCSRF("/admin/messages/delete", form("scope", "selected", "ids", itoa(one), "ids", itoa(three)))
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Delete 2 messages?") || !strings.Contains(r.Body, `name="confirm" value="yes"`) {
		t.Fatalf("confirmation: %d\n%s", r.Status, r.Body)
	}
	if _, err := s.Server.Store.MessageByID(ctx, one); err != nil {
		t.Fatal("the confirmation step deleted already")
	}
	r = s.staff.PostCSRF("/admin/messages/delete", form("scope", "selected", "ids", itoa(one), "ids", itoa(three), "confirm", "yes"))
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "notice=deleted") {
		t.Fatalf("delete: %d to %q", r.Status, r.Location)
	}
	got := map[int64]bool{}
	for len(got) < 2 {
		got[sock.Expect("chat.delete").ID()] = true
	}
	if !got[one] || !got[three] {
		t.Errorf("deletes received for %v, want %d and %d", got, one, three)
	}
	watcher.Expect("chat.delete")
	for _, id := range []int64{one, three} {
		if _, err := s.Server.Store.MessageByID(ctx, id); err == nil {
			t.Errorf("message %d is still stored", id)
		}
	}
	if _, err := s.Server.Store.MessageByID(ctx, two); err != nil {
		t.Errorf("unselected message: %v", err)
	}
	page := mustGet(t, s.staff, r.Location)
	if !strings.Contains(page.Body, "Deleted 2 message(s)") {
		t.Error("no notice after deleting")
	}

	// All matching a filter: the confirmation pins what it counted, so a message sent after
	// it survives.
	four := sendMessage(t, sock, "fourth", "c4")
	r = s.staff.PostCSRF("/admin/messages/delete", form("scope", "all", "room", "general", "author", "alice"))
	if !strings.Contains(r.Body, "Delete 2 messages?") || !strings.Contains(r.Body, `name="upto" value="`+itoa(four)+`"`) {
		t.Fatalf("confirmation of all matching:\n%s", r.Body)
	}
	late := sendMessage(t, sock, "sent while the staff member read the confirmation", "c5")
	r = s.staff.PostCSRF("/admin/messages/delete", form("scope", "all", "room", "general", "author", "alice", "upto", itoa(four), "confirm", "yes"))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("delete all matching: %d", r.Status)
	}
	got = map[int64]bool{}
	for len(got) < 2 {
		got[sock.Expect("chat.delete").ID()] = true
	}
	if !got[two] || !got[four] {
		t.Errorf("deletes received for %v, want %d and %d", got, two, four)
	}
	if _, err := s.Server.Store.MessageByID(ctx, late); err != nil {
		t.Errorf("a message sent after the confirmation was deleted: %v", err)
	}
	// History agrees: only the late message is left in the room.
	sock.Send(map[string]any{"type": "history"})
	h := sock.Expect("history")
	if msgs, _ := h["messages"].([]any); len(msgs) != 1 {
		t.Errorf("history after deletes = %v", h)
	}

	log := s.audit(t, "messages.delete")
	if len(log) != 2 || log[1].Count != 2 || log[1].Target != "2 selected message(s)" || log[1].ActorName != "sam" ||
		log[0].Count != 2 || log[0].Target != "all matching: room=general, author=alice" {
		t.Errorf("audit = %+v", log)
	}
}

// TestDeactivation closes a deactivated user's sockets with 1008, ends their sessions and
// refuses their login until they are reactivated.
func TestDeactivation(t *testing.T) {
	s := newSite(t)
	sock := s.user.MustDial("general", "")
	other := s.user.MustDial("random", "")
	id := itoa(s.userID(t, "alice"))

	r := s.staff.PostCSRF("/admin/users/"+id+"/deactivate", form("back", "/admin/users?active=yes"))
	if r.Status != http.StatusSeeOther || r.Location != "/admin/users?active=yes&notice=deactivated" {
		t.Fatalf("deactivate: %d to %q", r.Status, r.Location)
	}
	for _, ws := range []*apptest.Socket{sock, other} {
		if code := ws.CloseCode(5 * time.Second); code != 1008 {
			t.Errorf("socket closed with %d, want 1008", code)
		}
	}
	// The session is gone: pages send alice to log in, and no new socket opens.
	if r := s.user.Get("/"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Errorf("deactivated session: %d to %q", r.Status, r.Location)
	}
	if _, resp, err := s.user.DialRoom("general", ""); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("deactivated user opened a socket: %v", err)
	}
	// Logging in says why, and only with the right password.
	c := s.NewClient()
	r = c.SubmitForm("/login", "/login", form("username", "alice", "password", "password-alice"))
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "This account is deactivated.") {
		t.Errorf("login while deactivated: %d\n%s", r.Status, r.Body)
	}
	r = c.SubmitForm("/login", "/login", form("username", "alice", "password", "wrong password"))
	if strings.Contains(r.Body, "deactivated") {
		t.Error("a wrong password learns that the account is deactivated")
	}
	if u := s.dbUser(t, "alice"); u.IsActive {
		t.Error("still active in the database")
	}
	list := mustGet(t, s.staff, "/admin/users?active=no")
	if !strings.Contains(list.Body, "<strong>alice</strong>") || total(t, list.Body) != 1 {
		t.Errorf("deactivated users list:\n%s", list.Body)
	}

	// Reactivated: logging in works again.
	if r := s.staff.PostCSRF("/admin/users/"+id+"/reactivate", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("reactivate: %d", r.Status)
	}
	c.Login("alice", "password-alice")
	c.MustDial("general", "")

	log := s.audit(t, "")
	if len(log) != 2 || log[1].Action != "user.deactivate" || log[1].Target != "user alice" || log[1].Detail != "ended 1 session(s)" ||
		log[0].Action != "user.reactivate" || log[0].ActorName != "sam" {
		t.Errorf("audit = %+v", log)
	}
}

// TestDeactivationRules: nobody deactivates themselves, and only superusers touch staff.
func TestDeactivationRules(t *testing.T) {
	s := newSite(t)
	s.NewUser("sue")
	s.MakeStaff("sue")
	for _, tc := range []struct {
		who    string
		target string
		status int
	}{
		{"staff", "sam", http.StatusForbidden},      // themselves
		{"superuser", "root", http.StatusForbidden}, // themselves
		{"staff", "sue", http.StatusForbidden},      // another staff member
		{"staff", "root", http.StatusForbidden},     // a superuser
		{"superuser", "sue", http.StatusSeeOther},
	} {
		r := s.client(tc.who).PostCSRF("/admin/users/"+itoa(s.userID(t, tc.target))+"/deactivate", nil)
		if r.Status != tc.status {
			t.Errorf("%s deactivating %s: %d, want %d", tc.who, tc.target, r.Status, tc.status)
		}
	}
	if !s.dbUser(t, "sam").IsActive || !s.dbUser(t, "root").IsActive || s.dbUser(t, "sue").IsActive {
		t.Error("flags do not match the rules")
	}
	// A deactivated staff member is out of the admin at once.
	if r := s.staff.PostCSRF("/admin/users/"+itoa(s.userID(t, "sam"))+"/reactivate", nil); r.Status != http.StatusForbidden {
		t.Errorf("staff reactivating staff: %d, want 403", r.Status)
	}
	if r := s.staff.Get("/admin/users/999999"); r.Status != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.Status)
	}
	if r := s.super.PostCSRF("/admin/users/999999/deactivate", nil); r.Status != http.StatusNotFound {
		t.Errorf("unknown user: %d, want 404", r.Status)
	}
}

// TestStaffGrant: only superusers grant and revoke staff, and it takes effect at once.
func TestStaffGrant(t *testing.T) {
	s := newSite(t)
	id := itoa(s.userID(t, "alice"))
	if r := s.staff.PostCSRF("/admin/users/"+id+"/staff/grant", nil); r.Status != http.StatusForbidden {
		t.Fatalf("staff granting staff: %d, want 403", r.Status)
	}
	if s.dbUser(t, "alice").IsStaff {
		t.Fatal("staff could grant staff")
	}
	if r := s.user.Get("/admin/"); r.Status != http.StatusForbidden {
		t.Fatalf("alice before: %d", r.Status)
	}
	if r := s.super.PostCSRF("/admin/users/"+id+"/staff/grant", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("superuser granting staff: %d", r.Status)
	}
	if r := s.user.Get("/admin/"); r.Status != http.StatusOK || !strings.Contains(r.Body, `<a href="/admin/">Admin</a>`) {
		t.Errorf("alice as staff: %d", r.Status)
	}
	// The superuser sees the buttons; staff do not.
	if !strings.Contains(mustGet(t, s.super, "/admin/users").Body, "/staff/revoke") {
		t.Error("no revoke button for the superuser")
	}
	if strings.Contains(mustGet(t, s.staff, "/admin/users").Body, "/staff/") {
		t.Error("staff see staff buttons")
	}
	if r := s.staff.PostCSRF("/admin/users/"+id+"/staff/revoke", nil); r.Status != http.StatusForbidden {
		t.Errorf("staff revoking staff: %d, want 403", r.Status)
	}
	if r := s.super.PostCSRF("/admin/users/"+id+"/staff/revoke", nil); r.Status != http.StatusSeeOther {
		t.Errorf("superuser revoking staff: %d", r.Status)
	}
	if r := s.user.Get("/admin/"); r.Status != http.StatusForbidden {
		t.Errorf("alice after revoke: %d, want 403", r.Status)
	}
	if r := s.super.PostCSRF("/admin/users/"+itoa(s.userID(t, "root"))+"/staff/revoke", nil); r.Status != http.StatusForbidden {
		t.Errorf("revoking a superuser's staff: %d, want 403", r.Status)
	}
	log := s.audit(t, "")
	if len(log) != 2 || log[1].Action != "user.staff_grant" || log[0].Action != "user.staff_revoke" ||
		log[0].ActorName != "root" || log[0].Target != "user alice" {
		t.Errorf("audit = %+v", log)
	}
}

// liveData is /admin/live.json.
type liveData struct {
	Connections int `json:"connections"`
	Rows        []struct {
		UserID   int64  `json:"user_id"`
		Username string `json:"username"`
		Room     string `json:"room"`
		Tabs     int    `json:"tabs"`
		Since    string `json:"since"`
		Conns    []struct {
			Channel string `json:"channel"`
		} `json:"conns"`
	} `json:"rows"`
}

func getLive(t *testing.T, s *site) liveData {
	t.Helper()
	r := mustGet(t, s.staff, "/admin/live.json")
	var d liveData
	if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
		t.Fatalf("live.json: %v\n%s", err, r.Body)
	}
	return d
}

// waitLive polls live.json until ok accepts it.
func waitLive(t *testing.T, s *site, ok func(liveData) bool) liveData {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := getLive(t, s)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("live data never settled: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLive lists connections by user and room with their tab counts, and disconnects one
// of them, then all of a user's.
func TestLive(t *testing.T) {
	s := newSite(t)
	tab1 := s.user.MustDial("general", "")
	tab2 := s.user.MustDial("general", "")
	elsewhere := s.user.MustDial("random", "")
	s.staff.MustDial("general", "")
	d := waitLive(t, s, func(d liveData) bool { return d.Connections == 4 })
	if len(d.Rows) != 3 {
		t.Fatalf("rows = %+v", d.Rows)
	}
	row := d.Rows[0]
	if row.Username != "alice" || row.Room != "general" || row.Tabs != 2 || len(row.Conns) != 2 || row.Since == "" {
		t.Errorf("first row = %+v", row)
	}
	if d.Rows[1].Room != "random" || d.Rows[1].Tabs != 1 || d.Rows[2].Username != "sam" {
		t.Errorf("rows = %+v", d.Rows)
	}
	page := mustGet(t, s.staff, "/admin/live")
	if !strings.Contains(page.Body, `id="live-count">4<`) || !strings.Contains(page.Body, `name="channel" value="`+row.Conns[0].Channel+`"`) ||
		!strings.Contains(page.Body, "/static/admin.") || strings.Contains(page.Body, "<script>") {
		t.Errorf("live page:\n%s", page.Body)
	}

	// One tab.
	r := s.staff.PostCSRF("/admin/live/disconnect", form("channel", row.Conns[0].Channel))
	if r.Status != http.StatusSeeOther {
		t.Fatalf("disconnect: %d", r.Status)
	}
	// Connections are listed oldest first, so that was tab1.
	if code := tab1.CloseCode(5 * time.Second); code != 1008 {
		t.Errorf("closed with %d, want 1008", code)
	}
	waitLive(t, s, func(d liveData) bool { return d.Connections == 3 })

	// All of alice's, in every room.
	r = s.staff.PostCSRF("/admin/live/disconnect-user", form("user_id", itoa(s.userID(t, "alice"))))
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "n=2") {
		t.Fatalf("disconnect user: %d to %q", r.Status, r.Location)
	}
	for _, ws := range []*apptest.Socket{tab2, elsewhere} {
		if code := ws.CloseCode(5 * time.Second); code != 1008 {
			t.Errorf("closed with %d, want 1008", code)
		}
	}
	d = waitLive(t, s, func(d liveData) bool { return d.Connections == 1 })
	if d.Rows[0].Username != "sam" {
		t.Errorf("left = %+v", d.Rows)
	}
	if r := s.staff.PostCSRF("/admin/live/disconnect", form("channel", row.Conns[0].Channel)); r.Status != http.StatusNotFound {
		t.Errorf("disconnecting a closed connection: %d, want 404", r.Status)
	}

	log := s.audit(t, "")
	if len(log) != 2 || log[1].Action != "live.disconnect" || log[1].Count != 1 || log[1].Target != "user alice in room general" ||
		log[0].Action != "live.disconnect_user" || log[0].Count != 2 || log[0].Target != "user alice" {
		t.Errorf("audit = %+v", log)
	}
}
