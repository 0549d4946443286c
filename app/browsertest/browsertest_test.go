package browsertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"chat/app/apptest"
	"chat/app/config"
	"chat/models"
)

// setup marks the test parallel and starts a server for it, on the shared browser. People
// (browser contexts) are opened with b.newUser or b.newPerson; their tabs close before the
// server stops.
func setup(t *testing.T) (*browser, *apptest.Env) {
	t.Helper()
	t.Parallel()
	return setupWith(t, apptest.Config(t))
}

// setupWith is setup with a configuration of the test's own (setup's t.Parallel is the
// caller's to call).
func setupWith(t *testing.T, cfg config.Config) (*browser, *apptest.Env) {
	t.Helper()
	b := newBrowser(t)
	// Runs after the server has stopped: lets the presence announcements that the shutdown
	// scheduled fire while the test still runs, since they log to t with -v (see
	// TestShutdownLeavesNoPresenceWorkBehind).
	t.Cleanup(func() { time.Sleep(300 * time.Millisecond) })
	env := apptest.Start(t, cfg)
	return b, env
}

// signedInAs is the condition "the header says signed in as name".
func signedInAs(name string) string {
	return `document.querySelector(".signed-in strong") !== null && document.querySelector(".signed-in strong").textContent === ` + js(name)
}

// 1. Register and log in through the forms, log out, log in again.
func TestRegisterLogoutLogin(t *testing.T) {
	b, env := setup(t)
	alice := b.newPerson(env, "alice")

	// Logged out, the lobby sends you to the login page.
	alice.open("/")
	alice.waitFor("the login page instead of the lobby", `location.pathname === "/login" && document.getElementById("login-title") !== null`)

	alice.register()
	alice.waitFor("the header to show alice", signedInAs("alice"))

	alice.logout()
	alice.open("/")
	alice.waitFor("the login page after logging out", `location.pathname === "/login"`)

	// A wrong password is refused with a message and no session.
	alice.insertInto("login-username", "alice")
	alice.typeInto("login-password", "not-her-password") // key by key, as people type
	alice.do("submit a wrong password", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)))
	alice.waitFor("the wrong-password message", `document.querySelector(".form-error") !== null && document.querySelector(".form-error").textContent.includes("Wrong username or password")`)
	if eval[bool](alice, `document.querySelector(".signed-in") !== null`) {
		t.Fatal("the page says signed in after a wrong password")
	}

	alice.login()
	alice.waitFor("the header to show alice again", signedInAs("alice"))
	alice.enterRoom("welcome") // the new session works for the websocket too
}

// 2. The two tests of the Channels tutorial: two browsers in one room see each other's
// messages; a browser in another room sees none of them.
func TestMessagesReachTheSameRoomOnly(t *testing.T) {
	b, env := setup(t)
	alice, bob, carol := b.newUser(env, "alice"), b.newUser(env, "bob"), b.newUser(env, "carol")

	// alice opens the room with the lobby's form; the others go straight to its page.
	alice.open("/")
	alice.typeInto("room-name", "room1\r")
	alice.waitFor("room1's page", `location.pathname === "/chat/room1/"`)
	alice.waitFor("alice's socket to connect", connected)
	bob.enterRoom("room1")
	carol.enterRoom("room2")

	alice.send("hello from alice")
	bob.waitForMessage("alice", "hello from alice")
	bob.send("hi alice, bob here")
	alice.waitForMessage("bob", "hi alice, bob here")

	// carol's own message went through the server after the two above: had they been sent to
	// room2 too, they would be on her page by now.
	carol.send("anyone in room2?")
	alice.send("see you")
	bob.waitForMessage("alice", "see you")

	room1 := [][2]string{{"alice", "hello from alice"}, {"bob", "hi alice, bob here"}, {"alice", "see you"}}
	alice.checkTimeline(room1) // also checks that exactly her own messages are .own
	bob.checkTimeline(room1)
	carol.checkTimeline([][2]string{{"carol", "anyone in room2?"}})
	checkClientIDsTimeOrdered(t, env, "room1", 3)
}

// checkClientIDsTimeOrdered checks that the room's n newest messages were stored with the
// client ids the page made: UUIDs of version 7, whose first 48 bits are the sending time in
// milliseconds, so the deduplicating index grows at its end.
func checkClientIDsTimeOrdered(t *testing.T, env *apptest.Env, room string, n int) {
	t.Helper()
	r, err := env.Server.Store.RoomByName(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := env.Server.Store.RecentMessages(context.Background(), r.ID, n)
	if err != nil || len(msgs) != n {
		t.Fatalf("%s: %d stored messages, %v; want %d", room, len(msgs), err, n)
	}
	v7 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, m := range msgs {
		if !v7.MatchString(m.ClientID) {
			t.Fatalf("message %d was stored with client id %q, want a version 7 UUID", m.ID, m.ClientID)
		}
		ms, _ := strconv.ParseInt(m.ClientID[0:8]+m.ClientID[9:13], 16, 64)
		if sent := time.UnixMilli(ms); sent.Sub(m.CreatedAt).Abs() > time.Minute {
			t.Fatalf("message %d: client id %q says it was sent at %s, stored at %s", m.ID, m.ClientID, sent, m.CreatedAt)
		}
	}
}

// 3. A reload shows the history, rendered by the server, in order.
func TestReloadShowsHistory(t *testing.T) {
	b, env := setup(t)
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom("history")
	bob.enterRoom("history")

	talk := [][2]string{
		{"alice", "one"}, {"bob", "two"}, {"alice", "three"}, {"bob", "four"}, {"alice", "five"},
	}
	people := map[string]*person{"alice": alice, "bob": bob}
	for _, m := range talk {
		people[m[0]].send(m[1])
	}
	// Shift+Enter starts a new line instead of sending.
	bob.insertInto("message-input", "a message")
	bob.do("press Shift+Enter", chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)))
	bob.insertInto("message-input", "on two lines")
	bob.do("press Enter", chromedp.KeyEvent("\r"))
	talk = append(talk, [2]string{"bob", "a message\non two lines"})
	bob.waitForMessage("bob", "a message\non two lines")
	alice.waitForMessage("bob", "a message\non two lines")

	bob.do("reload the page", chromedp.Reload())
	bob.waitFor("the socket to connect after the reload", connected)
	bob.checkTimeline(talk)

	// The messages are in the HTML the server sends, not only added by the script.
	served := eval[[]string](bob, `fetch(location.pathname, { credentials: "same-origin" })
  .then((r) => r.text())
  .then((html) => Array.from(new DOMParser().parseFromString(html, "text/html").querySelectorAll("#messages li.msg"),
    (li) => li.dataset.user + ": " + li.querySelector(".body").textContent))`, chromedp.EvalAwaitPromise)
	var want []string
	for _, m := range talk {
		want = append(want, m[0]+": "+m[1])
	}
	if !slices.Equal(served, want) {
		t.Fatalf("the room's HTML has messages %q, want %q", served, want)
	}

	// The catch-up after the reload adds nothing twice: a new message arrives once, after them.
	alice.send("six")
	bob.waitForMessage("alice", "six")
	bob.checkTimeline(append(talk, [2]string{"alice", "six"}))
}

// 4. Markup in a message is shown as text and runs nothing, live and after a reload.
func TestMessageMarkupIsText(t *testing.T) {
	b, env := setup(t)
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom("xss")
	bob.enterRoom("xss")

	payloads := []string{
		`<img src=x onerror=alert(1)>`,
		`<script>alert(2)</script>`,
		`"><b onmouseover=alert(3)>bold</b> &amp; &lt;`,
	}
	for _, text := range payloads {
		alice.send(text)
		bob.waitForMessage("alice", text)
	}
	check := func(p *person, when string) {
		t.Helper()
		var want [][2]string
		for _, text := range payloads {
			want = append(want, [2]string{"alice", text}) // .body textContent equals the string
		}
		p.checkTimeline(want)
		if n := eval[int](p, `document.querySelectorAll("#messages img, #messages script, #messages b").length`); n != 0 {
			t.Errorf("%s: %s: %d elements made from message text inside #messages", p.name, when, n)
		}
		if n := eval[int](p, `Array.from(document.querySelectorAll("#messages .body")).filter((b) => b.children.length > 0).length`); n != 0 {
			t.Errorf("%s: %s: %d message bodies have child elements", p.name, when, n)
		}
	}
	check(alice, "live")
	check(bob, "live")

	bob.do("reload the page", chromedp.Reload())
	bob.waitFor("the socket to connect after the reload", connected)
	check(bob, "rendered by the server")

	// Give a broken image's error handler the time to run: it would open a dialog.
	bob.send("done")
	alice.waitForMessage("bob", "done")
	for _, p := range []*person{alice, bob} {
		if n := p.dialogCount(); n != 0 {
			t.Errorf("%s's page opened %d dialogs", p.name, n)
		}
	}
}

// 5. The server restarts under an open page: the page shows it is reconnecting, comes back,
// and catches up on what it missed, once each.
func TestServerRestartReconnectsAndCatchesUp(t *testing.T) {
	b, env := setup(t)
	const room = "restart"
	bob := env.NewUser("bob") // another user, through the websocket directly
	alice := b.newUser(env, "alice")
	alice.enterRoom(room)

	before := bob.MustDial(room, "")
	sendAs(t, before, "before the restart")
	alice.waitForMessage("bob", "before the restart")

	alice.recordStatus()
	env.Stop()
	// Wait until the page has failed to reconnect twice and backed off for 2 s or more: then
	// the messages below are stored before it comes back, and only the catch-up can bring
	// them.
	alice.waitFor("the page to retry in 2 s or more",
		`document.getElementById("status").dataset.state === "reconnecting" && parseInt(document.getElementById("status").textContent.replace(/\D+/g, ""), 10) >= 2`)
	env.Restart()

	after := bob.MustDial(room, "")
	missed := []string{"missed one", "missed two", "missed three"}
	for _, text := range missed {
		sendAs(t, after, text)
	}
	// Still waiting to retry, the page has not opened its next socket: that socket's
	// catch-up must bring all three.
	stillAway := eval[string](alice, `document.getElementById("status").dataset.state`) == "reconnecting"
	alice.waitFor("the page to reconnect", connected)
	alice.waitForMessage("bob", "missed three")

	states := alice.statesSeen()
	rec := slices.Index(states, "reconnecting")
	if rec < 0 || !slices.Contains(states[rec:], "connected") {
		t.Fatalf("status went through %q; want reconnecting, then connected", states)
	}
	if cs := alice.catchupFrames(); !stillAway {
		t.Logf("the page was already reconnecting before the missed messages were all stored (a slow machine?), so they may have come live: not checking that the catch-up brought them (catch-ups %+v)", cs)
	} else if len(cs) == 0 || cs[len(cs)-1].Count != len(missed) {
		t.Errorf("catch-up frames %+v; want the last to bring the %d missed messages", cs, len(missed))
	}

	// Live messages flow again, both ways.
	sendAs(t, after, "after the restart")
	alice.waitForMessage("bob", "after the restart")
	alice.send("glad to be back")
	expectMessage(t, after, "alice", "glad to be back")

	alice.checkTimeline([][2]string{
		{"bob", "before the restart"}, {"bob", "missed one"}, {"bob", "missed two"}, {"bob", "missed three"},
		{"bob", "after the restart"}, {"alice", "glad to be back"},
	})
}

// 6. Presence and typing show in the other browser; the typing note goes away by itself.
func TestPresenceAndTyping(t *testing.T) {
	b, env := setup(t)
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")

	bob.enterRoom("presence")
	bob.waitFor("bob alone online", onlineIs("bob"))
	alice.enterRoom("presence")
	bob.waitFor("alice to appear in bob's online list", onlineIs("alice", "bob"))
	alice.waitFor("both in alice's online list", onlineIs("alice", "bob"))
	bob.waitFor("the online count to say 2", `document.getElementById("online-count").textContent === "2"`)
	if you := eval[string](bob, `Array.from(document.querySelectorAll("#online li")).filter((li) => li.querySelector(".you")).map((li) => li.querySelector(".name").textContent).join()`); you != "bob" {
		t.Errorf("bob's list marks %q as (you); want bob", you)
	}

	const typingNote = `document.getElementById("typing").textContent`
	alice.typeInto("message-input", "hel") // no Enter: she is still typing
	bob.waitFor("bob to see alice typing", typingNote+` === "alice is typing…"`)
	bob.waitFor("the typing note to go away by itself", typingNote+` === ""`)
	if v := eval[string](alice, `document.getElementById("message-input").value`); v != "hel" {
		t.Fatalf("alice's composer holds %q; the note must have gone by itself, not because she sent", v)
	}
	if note := eval[string](alice, typingNote); note != "" {
		t.Errorf("alice sees her own typing: %q", note)
	}

	// Leaving the room takes her off the list.
	alice.open("/")
	bob.waitFor("alice to leave bob's online list", onlineIs("bob"))
}

// 7. Editing and deleting one's own message in the UI reaches the other browser.
func TestEditAndDeleteReachTheOtherBrowser(t *testing.T) {
	b, env := setup(t)
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom("edits")
	bob.enterRoom("edits")

	alice.send("first version")
	alice.send("delete me")
	bob.waitForMessage("alice", "delete me")
	ms := alice.messages()
	keep, drop := ms[0].ID, ms[1].ID
	in := func(id int64, sel string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(`#messages li.msg[data-id="%d"] %s`, id, sel))
	}
	// bob has no Edit or Delete buttons on alice's messages.
	if n := eval[int](bob, `document.querySelectorAll("#messages .actions").length`); n != 0 {
		t.Errorf("bob's page has %d edit/delete boxes on alice's messages", n)
	}

	// Edit: tap the message to show its buttons, press Edit, replace the text, press Enter.
	alice.do("press Edit on the first message", chromedp.Click(in(keep, ".body")), chromedp.Click(in(keep, ".actions .edit")))
	alice.waitFor("the edit box to have focus", fmt.Sprintf(`document.activeElement.id === "edit-%d"`, keep))
	eval[chromedp.Void](alice, `document.activeElement.select()`)
	alice.do("type the new text and press Enter", chromedp.KeyEvent("second version\r"))
	edited := fmt.Sprintf(`(() => {
  const li = document.querySelector('#messages li.msg[data-id="%d"]');
  return li && li.querySelector(".body").textContent === "second version" && li.querySelector(".edited") !== null &&
    li.querySelector(".edited").textContent === "(edited)" && !li.classList.contains("saving");
})()`, keep)
	alice.waitFor("alice's page to show the edit", edited)
	bob.waitFor("bob's page to show the edit", edited)

	// Delete: tap, press Delete, confirm.
	alice.do("press Delete on the second message", chromedp.Click(in(drop, ".body")), chromedp.Click(in(drop, ".actions .delete")))
	alice.do("confirm the delete", chromedp.Click(in(drop, ".actions .delete-confirm")))
	gone := fmt.Sprintf(`document.querySelector('#messages li.msg[data-id="%d"]') === null`, drop)
	alice.waitFor("the message to go from alice's page", gone)
	bob.waitFor("the message to go from bob's page", gone)

	want := [][2]string{{"alice", "second version"}}
	alice.checkTimeline(want)
	bob.checkTimeline(want)

	// The server keeps both changes: after a reload bob sees the same.
	bob.do("reload the page", chromedp.Reload())
	bob.waitFor("the socket to connect after the reload", connected)
	bob.checkTimeline(want)
	if m := bob.messages(); !m[0].Edited {
		t.Errorf("after a reload the edited message has no (edited) mark: %v", m[0])
	}
}

// 8. A message sent while the socket is down waits as pending and is delivered once when the
// server is back.
func TestMessageSentWhileDisconnectedIsDeliveredOnce(t *testing.T) {
	b, env := setup(t)
	const room = "outbox"
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom(room)
	bob.enterRoom(room)
	alice.send("hello")
	bob.waitForMessage("alice", "hello")

	env.Stop()
	alice.waitFor("alice's page to notice", `document.getElementById("status").dataset.state !== "connected"`)
	const text = "sent while the server was down"
	alice.typeMessage(text)
	pending := `Array.from(document.querySelectorAll("#messages li.msg.pending")).filter((li) => li.querySelector(".body").textContent === ` + js(text) + ` && !li.dataset.id)`
	alice.waitFor("the message to wait as pending", pending+`.length === 1`)

	env.Restart()
	alice.waitForMessage("alice", text)
	bob.waitForMessage("alice", text)
	// Both pages came back; a message after it proves each has seen everything before it.
	bob.send("got it")
	alice.waitForMessage("bob", "got it")

	want := [][2]string{{"alice", "hello"}, {"alice", text}, {"bob", "got it"}}
	alice.checkTimeline(want) // once, no longer pending, with its id
	bob.checkTimeline(want)

	auditor := env.NewUser("auditor")
	n := 0
	for _, f := range storedMessages(t, auditor, room) {
		if f.Str("message") == text {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the server stored the message %d times; want once", n)
	}
}

// 9. Staff deletes a message in the admin; it disappears from a room page that is open.
// It skips while the admin (issue 4) is missing: no is_staff column, or no /admin/.
func TestAdminDeleteReachesOpenRoom(t *testing.T) {
	b, env := setup(t)
	staffHTTP := env.NewUser("staff")
	if !makeStaff(t, env, "staff") {
		t.Skip("needs the admin (issue 4): the users table has no is_staff column")
	}
	if r := staffHTTP.Get("/admin/"); r.Status == http.StatusNotFound {
		t.Skip("needs the admin (issue 4)")
	} else if r.Status != http.StatusOK {
		t.Fatalf("GET /admin/ as staff: status %d", r.Status)
	}

	const room, text = "moderated", "please remove this"
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom(room)
	bob.enterRoom(room)
	alice.send(text)
	bob.waitForMessage("alice", text)

	staff := b.newPerson(env, "staff")
	staff.allowDialogs() // a confirm() before deleting is fine
	staff.login()
	staff.waitFor("the Admin link in the header", `document.querySelector('.site-nav a[href="/admin/"]') !== null`)
	staff.open("/admin/")

	// Find the message the way a person would: its row in the admin's message list (the
	// admin's front page, else the page its "messages" link leads to), then either the row's
	// Delete button, or its checkbox and the list's "Delete selected" button.
	findRow := `(() => {
  const want = ` + js(text) + `;
  const rows = Array.from(document.querySelectorAll("tr, li, article")).filter((el) => el.textContent.includes(want));
  rows.sort((a, b) => a.textContent.length - b.textContent.length);
  const row = rows[0];
  if (!row) return "";
  const isDelete = (b) => /delete/i.test(b.textContent + " " + (b.value || "")) && !/all/i.test(b.textContent + " " + (b.value || ""));
  const tick = row.querySelector("input[type=checkbox]");
  if (tick && tick.form) {
    const btn = Array.from(document.querySelectorAll("button, input[type=submit]")).find((b) => b.form === tick.form && isDelete(b));
    if (btn) { tick.setAttribute("data-test-tick", ""); btn.setAttribute("data-test-delete", ""); return "tick"; }
  }
  const btn = Array.from(row.querySelectorAll("button, input[type=submit]")).find(isDelete);
  if (btn) { btn.setAttribute("data-test-delete", ""); return "button"; }
  return "";
})()`
	how := eval[string](staff, findRow)
	if how == "" {
		link := eval[string](staff, `(() => { const a = Array.from(document.querySelectorAll("main a[href]")).find((a) => /message/i.test(a.getAttribute("href") + " " + a.textContent)); return a ? a.getAttribute("href") : ""; })()`)
		if link == "" {
			t.Skip("TODO(issue 4): the admin's front page does not list the message and has no link to its messages")
		}
		staff.open(link)
		if how = eval[string](staff, findRow); how == "" {
			t.Skip("TODO(issue 4): no row with the message and a way to delete it on " + link)
		}
	}
	if how == "tick" {
		staff.do("tick the message's row", chromedp.Click(chromedp.CSS("[data-test-tick]")))
	}
	eval[chromedp.Void](staff, `window.__beforeDelete = true`)
	staff.do("press Delete in the admin", chromedp.Click(chromedp.CSS("[data-test-delete]")))

	// The admin may ask first, on a page of its own: press the button that confirms.
	gone := fmt.Sprintf(`!Array.from(document.querySelectorAll("#messages .body")).some((b) => b.textContent === %s)`, js(text))
	confirm := `(() => {
  if (window.__beforeDelete || document.readyState !== "complete") return false;
  const b = Array.from(document.querySelectorAll("main button, main input[type=submit]")).find((b) =>
    (b.form && b.form.querySelector('input[name="confirm"][value="yes"]')) || /yes|confirm/i.test(b.textContent + " " + (b.value || "")));
  if (!b) return false;
  b.setAttribute("data-test-confirm", "");
  return true;
})()`
	for deadline := time.Now().Add(stepTimeout); time.Now().Before(deadline); time.Sleep(pollEvery) {
		if eval[bool](bob, gone) {
			break
		}
		if found, ok := tryEval[bool](staff, confirm); ok && found {
			staff.do("confirm in the admin", chromedp.Click(chromedp.CSS("[data-test-confirm]")))
			break
		}
	}
	bob.waitFor("the deleted message to leave bob's open room", gone)
	alice.waitFor("the deleted message to leave alice's open room", gone)
}

// Room names may be any text without "/": they are escaped in links, titles and the socket's
// URL, and markup in them is text.
func TestOddRoomNames(t *testing.T) {
	b, env := setup(t)
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	const room = `<img src=x onerror=alert(1)> a?b #c 100% café ☕`
	// alice opens it with the lobby's form, bob from the link in his lobby
	alice.open("/")
	alice.insertInto("room-name", room)
	alice.do("press Enter in the room form", chromedp.KeyEvent("\r"))
	alice.waitFor("the room's page", `document.getElementById("chat") !== null && document.getElementById("chat").dataset.room === `+js(room))
	alice.waitFor("the socket to connect", connected)
	if title := eval[string](alice, `document.getElementById("room-title").textContent`); title != "#"+room {
		t.Errorf("the room title is %q; want %q", title, "#"+room)
	}
	alice.send("in " + room)

	bob.open("/")
	link := `Array.from(document.querySelectorAll(".room-list .room-link")).find((a) => a.querySelector(".room-name").textContent === ` + js(room) + `)`
	bob.waitFor("the room in bob's lobby", link+` !== undefined`)
	bob.do("follow the lobby's link", chromedp.Click(chromedp.JSPath(link)))
	bob.waitFor("the room's page", `document.getElementById("chat") !== null && document.getElementById("chat").dataset.room === `+js(room))
	bob.waitFor("the socket to connect", connected)
	bob.checkTimeline([][2]string{{"alice", "in " + room}})
	bob.send("hi from bob")
	alice.waitForMessage("bob", "hi from bob")
	for _, p := range []*person{alice, bob} {
		if n := eval[int](p, `document.querySelectorAll("main img").length`); n != 0 {
			t.Errorf("%s: a room name became %d elements", p.name, n)
		}
	}
}

// "Load older messages" pages back through history; the "New messages" marker shows when a
// message arrives while reading further up, and takes you down.
func TestOlderMessagesAndNewMarker(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.HistoryPageSize = 10
	cfg.MessageBurst = 100
	b, env := setupWith(t, cfg)
	const room = "long"
	alice := env.NewUser("alice")
	s := alice.MustDial(room, "")
	var talk [][2]string
	for i := 1; i <= 25; i++ {
		text := fmt.Sprintf("message %d of a long day", i)
		sendAs(t, s, text)
		talk = append(talk, [2]string{"alice", text})
	}

	bob := b.newUser(env, "bob")
	bob.enterRoom(room)
	bob.checkTimeline(talk[15:])
	older := `!document.getElementById("older").hidden`
	bob.waitFor("the Load older button", older)
	bob.do("press Load older", chromedp.Click(chromedp.ID("older")))
	bob.waitFor("a page of older messages", `document.querySelectorAll("#messages li.msg").length === 20`)
	bob.checkTimeline(talk[5:])
	bob.do("press Load older again", chromedp.Click(chromedp.ID("older")))
	bob.waitFor("the oldest page", `document.querySelectorAll("#messages li.msg").length === 25`)
	bob.waitFor("the Load older button to go: there is nothing older", `document.getElementById("older").hidden`)
	bob.checkTimeline(talk)

	// Reading at the top, a new message shows the marker instead of moving the page.
	if !eval[bool](bob, `(() => { const l = document.getElementById("messages"); return l.scrollHeight > l.clientHeight + 200; })()`) {
		t.Skip("the timeline does not scroll in this window; cannot check the marker")
	}
	eval[chromedp.Void](bob, `document.getElementById("messages").scrollTop = 0`)
	bob.waitFor("the marker to be hidden at first", `document.getElementById("new-marker").hidden`)
	sendAs(t, s, "something new")
	bob.waitForMessage("alice", "something new")
	bob.waitFor("the New messages marker", `!document.getElementById("new-marker").hidden`)
	if top := eval[float64](bob, `document.getElementById("messages").scrollTop`); top > 100 {
		t.Errorf("the timeline moved to %v while bob was reading the top", top)
	}
	bob.do("press the marker", chromedp.Click(chromedp.ID("new-marker")))
	bob.waitFor("the timeline at the bottom and the marker gone", `(() => {
  const l = document.getElementById("messages");
  return document.getElementById("new-marker").hidden && l.scrollHeight - l.scrollTop - l.clientHeight < 5;
})()`)
	bob.checkTimeline(append(talk, [2]string{"alice", "something new"}))
}

// Logging out in one tab ends the room sockets of that session in the others: the open room
// says it is signed out and stops reconnecting.
func TestLogoutEndsOpenRooms(t *testing.T) {
	b, env := setup(t)
	alice := b.newUser(env, "alice")
	alice.enterRoom("general")
	alice.recordStatus()

	other := alice.newTab()
	other.open("/")
	other.logout()

	alice.waitFor("the room to say signed out", `document.getElementById("status").dataset.state === "offline" && document.getElementById("status").textContent === "signed out"`)
	alice.waitFor("the reason in the error line", `document.getElementById("errors").textContent.includes("signed out")`)
	// It does not try again: a new socket would be refused anyway.
	alice.do("give it time to (not) reconnect", chromedp.Sleep(1500*time.Millisecond))
	if states := alice.statesSeen(); slices.Contains(states, "reconnecting") || slices.Contains(states, "connecting") {
		t.Errorf("after the logout the page went through %q", states)
	}
	alice.do("reload the page", chromedp.Reload())
	alice.waitFor("the login page", `location.pathname === "/login"`)
}

// A message the server refuses for now (rate limited) is marked as not sent, with a Retry
// button that sends it once.
func TestRateLimitedMessageCanBeRetried(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	cfg.MessageBurst = 1
	cfg.MessageRate = 1.0 / 3 // a message every 3 s
	b, env := setupWith(t, cfg)
	const room = "busy"
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom(room)
	bob.enterRoom(room)

	alice.typeMessage("one")
	alice.typeMessage("two")
	failed := `Array.from(document.querySelectorAll("#messages li.msg.failed")).filter((li) => li.querySelector(".body").textContent === "two")`
	alice.waitFor("the second message to be marked not sent", failed+`.length === 1`)
	if note := eval[string](alice, failed+`[0].querySelector(".failed-note").textContent`); !strings.Contains(note, "slow down") {
		t.Errorf("the failed message says %q; want the rate limit's reason", note)
	}
	// Retry until the limiter lets it through (it is refused again, and marked again, until then).
	for deadline := time.Now().Add(stepTimeout); ; {
		alice.do("press Retry", chromedp.Click(chromedp.CSS(`#messages li.msg.failed .failed-note button.retry`)))
		alice.waitFor("an answer to the retry", msgWith("alice", "two")+`.length === 1 || `+failed+`.length === 1`)
		if eval[int](alice, msgWith("alice", "two")+`.length`) == 1 || time.Now().After(deadline) {
			break
		}
		alice.do("wait a little", chromedp.Sleep(500*time.Millisecond))
	}
	alice.waitForMessage("alice", "two")
	bob.waitForMessage("alice", "two")
	want := [][2]string{{"alice", "one"}, {"alice", "two"}}
	alice.checkTimeline(want)
	bob.checkTimeline(want)
}

// BUG: presence announcements that the shutdown's disconnects schedule run after
// Server.Shutdown has returned, on the closed layer, and log "presence members unavailable
// … layer: closed". (With apptest and -v that log goes to t after the test has ended and
// panics the test binary; setupWith works around it by waiting after the server stopped.)
func TestShutdownLeavesNoPresenceWorkBehind(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	logs := &recordingHandler{}
	env := apptest.StartLogged(t, apptest.Config(t), slog.New(logs))

	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom("lobby")
	bob.enterRoom("lobby")
	bob.waitFor("both online", onlineIs("alice", "bob"))

	if err := env.Shutdown(); err != nil {
		t.Fatal(err)
	}
	logs.markShutdown()
	time.Sleep(500 * time.Millisecond) // several presence delays (100 ms)
	if late := logs.afterShutdown(); len(late) > 0 {
		t.Errorf("the server still worked after Shutdown returned:\n%s", strings.Join(late, "\n"))
	}
}

// recordingHandler keeps the server's log records.
type recordingHandler struct {
	mu    sync.Mutex
	done  bool
	after []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		line := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
		h.after = append(h.after, line)
	}
	return nil
}
func (h *recordingHandler) markShutdown() { h.mu.Lock(); h.done = true; h.mu.Unlock() }
func (h *recordingHandler) afterShutdown() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.after)
}

// 10. Screenshots for the docs, only with CHAT_SCREENSHOTS=1 (they are not assertions).
func TestScreenshots(t *testing.T) {
	if os.Getenv("CHAT_SCREENSHOTS") != "1" {
		t.Skip("set CHAT_SCREENSHOTS=1 to rewrite docs/screenshot-*.png")
	}
	b, env := setup(t)

	// Other rooms with some life in them, for the lobby.
	carol := env.NewUser("carol")
	random := carol.MustDial("random", "")
	sendAs(t, random, "anyone up for coffee at 3?")
	sendAs(t, random, "the new espresso machine is in the kitchen")
	design := carol.MustDial("design-review", "")
	sendAs(t, design, "mockups for the settings page are in the shared folder")

	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom("general")
	bob.enterRoom("general")
	talk := [][2]string{
		{"alice", "Morning! Did the release go out?"},
		{"bob", "Yes, 2.3 has been live since 9:40."},
		{"alice", "Nice. Anything odd in the logs?"},
		{"bob", "Nothing so far. Reconnects after the deploy were clean, no lost messages."},
		{"alice", "Great, I'll tell the team."},
		{"bob", "Lunch at 12:30?"},
	}
	people := map[string]*person{"alice": alice, "bob": bob}
	for _, m := range talk {
		people[m[0]].send(m[1])
	}
	alice.waitForMessage("bob", "Lunch at 12:30?")
	alice.waitFor("both online", onlineIs("alice", "bob"))
	bob.waitFor("both online", onlineIs("alice", "bob"))

	shoot := func(p *person, name string, width, height int64, opts ...chromedp.EmulateViewportOption) {
		t.Helper()
		p.do("set the viewport", chromedp.EmulateViewport(width, height, opts...))
		// let layout, fonts and the .12 s fade of the buttons settle
		p.waitFor("fonts", `document.fonts.status === "loaded"`)
		p.do("settle", chromedp.Sleep(300*time.Millisecond))
		img := screenshot(p)
		path := filepath.Join("..", "..", "docs", name)
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/%s (%dx%d, %d KB)", name, width, height, len(img)/1024)
		if len(img) > 300<<10 {
			t.Errorf("docs/%s is %d KB; keep screenshots under 300 KB", name, len(img)/1024)
		}
	}
	shoot(alice, "screenshot-room.png", 1280, 800)
	shoot(bob, "screenshot-room-phone.png", 390, 844, chromedp.EmulateMobile)
	alice.open("/")
	// the lobby counts who is online when it is rendered: show it once alice's leaving the room
	// has reached the server
	bob.waitFor("alice to have left general", onlineIs("bob"))
	alice.do("reload the lobby", chromedp.Reload())
	alice.waitFor("the lobby's room list", `document.querySelectorAll(".room-list .room-item").length >= 3`)
	shoot(alice, "screenshot-lobby.png", 1280, 800)
}

// screenshot captures p's viewport as PNG.
func screenshot(p *person) []byte {
	p.t.Helper()
	img, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	return img
}

// sendAs sends a message on a websocket with a client id and waits for the server's ack.
func sendAs(t *testing.T, s *apptest.Socket, text string) {
	t.Helper()
	id := newClientID()
	s.Send(map[string]any{"type": "chat.message", "message": text, "client_id": id})
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for the ack of %q: %v", text, err)
		}
		switch {
		case f.Type() == "ack" && f.Str("client_id") == id:
			return
		case f.Type() == "error":
			t.Fatalf("sending %q: error frame %v", text, f)
		}
	}
	t.Fatalf("no ack for %q within %v", text, stepTimeout)
}

// expectMessage reads a websocket until the message from user with text arrives.
func expectMessage(t *testing.T, s *apptest.Socket, user, text string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q from %s: %v", text, user, err)
		}
		if f.Type() == "chat.message" && f.Str("user") == user && f.Str("message") == text {
			return
		}
	}
	t.Fatalf("no message %q from %s within %v", text, user, stepTimeout)
}

// A message whose broadcast never reached the page (across nodes, a Redis outage can lose
// one) shows up once the next message reveals the gap in the room's seqs: the page asks the
// server for what it lacks, without reconnecting, and places it in order.
func TestLostBroadcastIsFilled(t *testing.T) {
	b, env := setup(t)
	const room = "gaps"
	alice, bob := b.newUser(env, "alice"), b.newUser(env, "bob")
	alice.enterRoom(room)
	bob.enterRoom(room)
	bob.recordStatus()
	alice.send("first")
	bob.waitForMessage("alice", "first")

	// Stored, never broadcast: what a node writes while its layer is away.
	ctx := context.Background()
	r, err := env.Server.Store.RoomByName(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	u, err := env.Server.Store.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	lost := &models.Message{RoomID: r.ID, UserID: u.ID, Body: "lost on the way"}
	if _, err := env.Server.Store.SaveMessages(ctx, []*models.Message{lost}); err != nil {
		t.Fatal(err)
	}
	alice.send("third")
	bob.waitForMessage("alice", "third")
	bob.waitForMessage("alice", "lost on the way")
	bob.checkTimeline([][2]string{{"alice", "first"}, {"alice", "lost on the way"}, {"alice", "third"}})
	if n := len(bob.catchupFrames()); n < 2 {
		t.Errorf("bob's page got %d catchup frames, want the connect's and the gap's", n)
	}
	if states := bob.statesSeen(); slices.Contains(states, "reconnecting") {
		t.Errorf("bob's page reconnected (%q); the gap should be filled on the open socket", states)
	}
}
