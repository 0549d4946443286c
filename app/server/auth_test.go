package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"chat/app/apptest"
)

// Messages the account forms show (copied from the page handlers on purpose: a change of
// wording people see should be a deliberate change of this test too).
const (
	msgUsernameRules  = "Usernames are 1 to 30 characters: letters, digits, '_', '-' and '.'."
	msgPasswordShort  = "Passwords are at least 8 characters."
	msgPasswordLong   = "Passwords are at most 72 bytes."
	msgPasswordIsName = "The password cannot be the username."
	msgPasswordDiffer = "The two passwords differ."
	msgUsernameTaken  = "That username is taken. Choose another."
	msgWrongLogin     = "Wrong username or password."
	msgCSRFToken      = "The form's security token is missing or out of date."
	msgCSRFOrigin     = "This form was sent from another site, so it was refused (CSRF check)."
)

// register submits the registration form for a fresh client and returns the answer.
func register(t *testing.T, c *apptest.Client, formPath, username, password, confirm string, extra url.Values) apptest.Response {
	t.Helper()
	fields := url.Values{"username": {username}, "password": {password}, "password_confirm": {confirm}}
	for k, v := range extra {
		fields[k] = v
	}
	return c.SubmitForm(formPath, "/register", fields)
}

// login submits the login form and returns the answer.
func login(t *testing.T, c *apptest.Client, formPath, username, password string, extra url.Values) apptest.Response {
	t.Helper()
	fields := url.Values{"username": {username}, "password": {password}}
	for k, v := range extra {
		fields[k] = v
	}
	return c.SubmitForm(formPath, "/login", fields)
}

// checkSessionCookie checks the session cookie a response sets and returns its value.
func checkSessionCookie(t *testing.T, r apptest.Response, secure bool) string {
	t.Helper()
	ck := responseCookie(r, "sessionid")
	if ck == nil || ck.Value == "" {
		t.Fatalf("no sessionid cookie set; headers: %v", r.Header)
	}
	if !ck.HttpOnly {
		t.Errorf("sessionid cookie is not HttpOnly: %s", ck.Raw)
	}
	if ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("sessionid cookie SameSite = %v, want Lax: %s", ck.SameSite, ck.Raw)
	}
	if ck.Secure != secure {
		t.Errorf("sessionid cookie Secure = %v, want %v: %s", ck.Secure, secure, ck.Raw)
	}
	if ck.Path != "/" {
		t.Errorf("sessionid cookie Path = %q, want /", ck.Path)
	}
	if len(ck.Value) < 32 {
		t.Errorf("sessionid %q is too short to be unguessable", ck.Value)
	}
	return ck.Value
}

// Registering logs the new account in with a safe cookie and goes to next (or /).
func TestRegisterSuccess(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	tests := []struct {
		name, formPath, username string
		next                     url.Values
		wantLocation             string
	}{
		{"no next", "/register", "alice", nil, "/"},
		{"next to a room", "/register?next=%2Fchat%2Fx%2F", "bob", url.Values{"next": {"/chat/x/"}}, "/chat/x/"},
		{"next with query", "/register", "carol", url.Values{"next": {"/chat/x/?since=3"}}, "/chat/x/?since=3"},
		{"longest name", "/register", strings.Repeat("z", 30), nil, "/"},
		{"all allowed characters", "/register", "A.b-c_9", nil, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.NewClient()
			r := register(t, c, tt.formPath, tt.username, "correct horse", "correct horse", tt.next)
			if r.Status != http.StatusSeeOther || r.Location != tt.wantLocation {
				t.Fatalf("register: status %d location %q, want 303 %q\n%s", r.Status, r.Location, tt.wantLocation, r.Body)
			}
			checkSessionCookie(t, r, false)
			lobby := c.Get("/")
			if lobby.Status != http.StatusOK || !strings.Contains(lobby.Body, "signed in as <strong>"+tt.username+"</strong>") {
				t.Fatalf("not logged in after registering: %d\n%s", lobby.Status, lobby.Body)
			}
		})
	}
}

// With SecureCookies every cookie is marked Secure. A real browser would not send Secure
// cookies over plain http, so this test carries the cookies by hand, as it would over HTTPS.
func TestRegisterSecureCookies(t *testing.T) {
	cfg := testConfig(t)
	cfg.SecureCookies = true
	env := apptest.Start(t, cfg)
	c := env.NewClient()

	page := c.Get("/register")
	csrf := responseCookie(page, "csrftoken")
	if csrf == nil || !csrf.Secure || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode {
		t.Fatalf("csrftoken cookie not Secure/HttpOnly/Lax: %+v", csrf)
	}
	if token := apptest.CSRFFrom(t, page.Body); token != csrf.Value {
		t.Fatalf("form token %q differs from cookie %q", token, csrf.Value)
	}
	form := url.Values{"username": {"alice"}, "password": {"correct horse"}, "password_confirm": {"correct horse"}, "csrf_token": {csrf.Value}}
	r := doRequest(t, c, http.MethodPost, "/register", form, map[string]string{
		"Origin": env.BaseURL, "Cookie": "csrftoken=" + csrf.Value,
	})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("register: status %d\n%s", r.Status, r.Body)
	}
	token := checkSessionCookie(t, r, true)
	lobby := doRequest(t, c, http.MethodGet, "/", nil, map[string]string{"Cookie": "sessionid=" + token})
	if lobby.Status != http.StatusOK || !strings.Contains(lobby.Body, "signed in as <strong>alice</strong>") {
		t.Fatalf("secure session cookie does not log in: %d", lobby.Status)
	}
}

// A taken username, in any letter case, is refused with 409 and a message, and does not log in.
func TestRegisterDuplicateUsername(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	env.NewUser("alice")
	for _, name := range []string{"alice", "ALICE", "Alice", "aLiCe"} {
		t.Run(name, func(t *testing.T) {
			c := env.NewClient()
			r := register(t, c, "/register", name, "another password", "another password", nil)
			if r.Status != http.StatusConflict {
				t.Fatalf("status %d, want 409\n%s", r.Status, r.Body)
			}
			if got := formError(r.Body); got != msgUsernameTaken {
				t.Fatalf("form error %q, want %q", got, msgUsernameTaken)
			}
			if ck := responseCookie(r, "sessionid"); ck != nil && ck.Value != "" {
				t.Fatalf("a refused registration set a session cookie: %s", ck.Raw)
			}
			if got := c.Get("/"); got.Status != http.StatusSeeOther {
				t.Fatalf("refused registration is logged in: GET / = %d", got.Status)
			}
		})
	}
	// The original account still has its own password.
	c := env.NewClient()
	if r := login(t, c, "/login", "alice", "password-alice", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("original alice cannot log in: %d", r.Status)
	}
}

// Usernames and passwords that break the rules get 400 and the rule's message, and no account.
func TestRegisterRules(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	tests := []struct {
		name                        string
		username, password, confirm string
		want                        string
	}{
		{"empty username", "", "long enough", "long enough", msgUsernameRules},
		{"31 characters", strings.Repeat("a", 31), "long enough", "long enough", msgUsernameRules},
		{"space", "a b", "long enough", "long enough", msgUsernameRules},
		{"slash", "a/b", "long enough", "long enough", msgUsernameRules},
		{"non-ASCII letter", "émile", "long enough", "long enough", msgUsernameRules},
		{"markup", "<b>x</b>", "long enough", "long enough", msgUsernameRules},
		{"at sign", "a@b", "long enough", "long enough", msgUsernameRules},
		{"password of 7", "dave", "1234567", "1234567", msgPasswordShort},
		{"password of 7 runes, 13 bytes", "dave", "éééééé1", "éééééé1", msgPasswordShort},
		{"empty password", "dave", "", "", msgPasswordShort},
		{"password of 73 bytes", "dave", strings.Repeat("p", 73), strings.Repeat("p", 73), msgPasswordLong},
		{"password is the username", "longusername", "longusername", "longusername", msgPasswordIsName},
		{"password is the username in other case", "longusername", "LongUserName", "LongUserName", msgPasswordIsName},
		{"confirmation differs", "dave", "correct horse", "correct horsE", msgPasswordDiffer},
		{"confirmation missing", "dave", "correct horse", "", msgPasswordDiffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := env.NewClient()
			r := register(t, c, "/register", tt.username, tt.password, tt.confirm, nil)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400\n%s", r.Status, r.Body)
			}
			if got := formError(r.Body); got != tt.want {
				t.Fatalf("form error %q, want %q", got, tt.want)
			}
			if ck := responseCookie(r, "sessionid"); ck != nil && ck.Value != "" {
				t.Fatalf("refused registration set a session cookie")
			}
		})
	}
	// No account came of any of them: "dave" is still free.
	c := env.NewClient()
	if r := register(t, c, "/register", "dave", "12345678", "12345678", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("dave (password of exactly 8) refused: %d %q", r.Status, formError(r.Body))
	}
	c = env.NewClient()
	if r := register(t, c, "/register", "erin", strings.Repeat("p", 72), strings.Repeat("p", 72), nil); r.Status != http.StatusSeeOther {
		t.Fatalf("password of exactly 72 bytes refused: %d %q", r.Status, formError(r.Body))
	}
}

// A wrong password and an unknown user get the same answer, so the form does not tell which
// usernames exist; neither logs in.
func TestLoginFailuresLookAlike(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	env.NewUser("alice")

	type answer struct {
		status int
		msg    string
	}
	try := func(username, password string) answer {
		t.Helper()
		c := env.NewClient()
		r := login(t, c, "/login", username, password, nil)
		if ck := responseCookie(r, "sessionid"); ck != nil && ck.Value != "" {
			t.Fatalf("failed login %q set a session cookie", username)
		}
		if got := c.Get("/"); got.Status != http.StatusSeeOther {
			t.Fatalf("failed login %q is logged in", username)
		}
		return answer{r.Status, formError(r.Body)}
	}
	wrongPassword := try("alice", "password-bob")
	unknownUser := try("mallory", "password-alice")
	unknownUser2 := try("mallory", "password-mallory")
	if wrongPassword != unknownUser || wrongPassword != unknownUser2 {
		t.Fatalf("answers differ: wrong password %+v, unknown user %+v / %+v", wrongPassword, unknownUser, unknownUser2)
	}
	if wrongPassword.msg != msgWrongLogin || wrongPassword.status != http.StatusUnauthorized {
		t.Fatalf("wrong login answer %+v, want 401 %q", wrongPassword, msgWrongLogin)
	}
	if a := try("alice", ""); a.status != http.StatusBadRequest || a.msg != "Enter your username and password." {
		t.Fatalf("empty password: %+v", a)
	}
	// The right password still works, in any letter case of the name.
	for _, name := range []string{"alice", "ALICE"} {
		c := env.NewClient()
		r := login(t, c, "/login", name, "password-alice", nil)
		if r.Status != http.StatusSeeOther || r.Location != "/" {
			t.Fatalf("login as %s: %d %q", name, r.Status, r.Location)
		}
		checkSessionCookie(t, r, false)
	}
}

// Every login makes a new session id: two logins differ, logging in again replaces the
// cookie, and a cookie planted before login (session fixation) is not the one after.
func TestLoginIssuesFreshSessionID(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	env.NewUser("alice")

	c1, c2 := env.NewClient(), env.NewClient()
	r1 := login(t, c1, "/login", "alice", "password-alice", nil)
	r2 := login(t, c2, "/login", "alice", "password-alice", nil)
	s1, s2 := checkSessionCookie(t, r1, false), checkSessionCookie(t, r2, false)
	if s1 == s2 {
		t.Fatalf("two logins got the same session id %q", s1)
	}

	// Logging in again from the same browser replaces the cookie.
	lobby := c1.Get("/")
	r3 := c1.Post("/login", url.Values{"username": {"alice"}, "password": {"password-alice"}, "csrf_token": {apptest.CSRFFrom(t, lobby.Body)}})
	if r3.Status != http.StatusSeeOther {
		t.Fatalf("second login: %d", r3.Status)
	}
	if s3 := checkSessionCookie(t, r3, false); s3 == s1 || jarValue(c1, "sessionid") != s3 {
		t.Fatalf("second login kept session id %q", s1)
	}

	// Session fixation: a value planted in the browser before login is replaced at login,
	// and the planted value never logs anyone in.
	victim := env.NewClient()
	page := victim.Get("/login")
	const planted = "planted-by-attacker-0123456789abcdefghijklmnop"
	plantCookie(victim, "sessionid", planted)
	r := victim.Post("/login", url.Values{"username": {"alice"}, "password": {"password-alice"}, "csrf_token": {apptest.CSRFFrom(t, page.Body)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("login with planted cookie: %d", r.Status)
	}
	after := checkSessionCookie(t, r, false)
	if after == planted || jarValue(victim, "sessionid") != after {
		t.Fatalf("session id after login is the planted one")
	}
	attacker := env.NewClient()
	plantCookie(attacker, "sessionid", planted)
	if got := attacker.Get("/"); got.Status != http.StatusSeeOther {
		t.Fatalf("planted cookie logs in: GET / = %d", got.Status)
	}
	// The CSRF token is replaced at login too: the one from the login page no longer works.
	if r := victim.Post("/logout", url.Values{"csrf_token": {apptest.CSRFFrom(t, page.Body)}}); r.Status != http.StatusForbidden {
		t.Fatalf("pre-login CSRF token still accepted after login: %d", r.Status)
	}
}

// Logging in again from a browser that is already logged in ends the session it replaces
// (as Django's login() does with cycle_key), so the old id is worthless wherever it leaked.
func TestReloginEndsReplacedSession(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	old := jarValue(alice, "sessionid")
	lobby := alice.Get("/")
	r := alice.Post("/login", url.Values{"username": {"alice"}, "password": {"password-alice"}, "csrf_token": {apptest.CSRFFrom(t, lobby.Body)}})
	if r.Status != http.StatusSeeOther || jarValue(alice, "sessionid") == old {
		t.Fatalf("second login: %d, cookie unchanged: %v", r.Status, jarValue(alice, "sessionid") == old)
	}
	replay := env.NewClient()
	plantCookie(replay, "sessionid", old)
	if got := replay.Get("/"); got.Status != http.StatusSeeOther {
		t.Fatalf("the replaced session id still logs in: GET / = %d", got.Status)
	}
}

// Logout (a POST with the CSRF token) deletes the session on the server: the old cookie no
// longer works, in this browser or replayed from another one, for pages and websockets.
func TestLogoutEndsSessionOnServer(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	old := jarValue(alice, "sessionid")
	if old == "" {
		t.Fatal("no session cookie after registering")
	}
	lobby := alice.Get("/")
	// A GET of /logout (an <img src=/logout> on another site) does not log out.
	if got := alice.Get("/logout"); got.Status == http.StatusSeeOther {
		t.Fatalf("GET /logout redirects: %q", got.Location)
	}
	if got := alice.Get("/"); got.Status != http.StatusOK {
		t.Fatalf("GET /logout ended the session: GET / = %d", got.Status)
	}
	r := alice.Post("/logout", url.Values{"csrf_token": {apptest.CSRFFrom(t, lobby.Body)}})
	if r.Status != http.StatusSeeOther || r.Location != "/login" {
		t.Fatalf("logout: %d %q", r.Status, r.Location)
	}
	if ck := responseCookie(r, "sessionid"); ck == nil || ck.Value != "" || ck.MaxAge >= 0 {
		t.Fatalf("logout does not clear the cookie: %+v", ck)
	}
	if got := alice.Get("/"); got.Status != http.StatusSeeOther || !strings.HasPrefix(got.Location, "/login") {
		t.Fatalf("after logout GET / = %d %q", got.Status, got.Location)
	}

	replay := env.NewClient()
	plantCookie(replay, "sessionid", old)
	if got := replay.Get("/"); got.Status != http.StatusSeeOther || got.Location != "/login?next=%2F" {
		t.Fatalf("replayed cookie after logout: GET / = %d %q", got.Status, got.Location)
	}
	plantCookie(replay, "sessionid", old)
	if got := replay.Get("/chat/x/"); got.Status != http.StatusSeeOther {
		t.Fatalf("replayed cookie after logout: GET /chat/x/ = %d", got.Status)
	}
	plantCookie(replay, "sessionid", old)
	s, resp, err := replay.DialRoom("x", "")
	if st := handshakeStatus(t, s, resp, err); st != http.StatusForbidden {
		t.Fatalf("replayed cookie after logout: websocket status %d, want 403", st)
	}
}

// Anonymous visitors of a page are sent to the login form, and back to the page after it.
func TestLoginRedirectsBackToNext(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	env.NewUser("alice")
	tests := []struct{ path, wantLogin string }{
		{"/", "/login?next=%2F"},
		{"/chat/x/", "/login?next=%2Fchat%2Fx%2F"},
		{"/chat/x/?since=5", "/login?next=%2Fchat%2Fx%2F%3Fsince%3D5"},
		{"/chat/%E5%92%96%E5%95%A1/", "/login?next=%2Fchat%2F%25E5%2592%2596%25E5%2595%25A1%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := env.NewClient()
			r := c.Get(tt.path)
			if r.Status != http.StatusSeeOther || r.Location != tt.wantLogin {
				t.Fatalf("anonymous GET %s: %d %q, want 303 %q", tt.path, r.Status, r.Location, tt.wantLogin)
			}
			page := c.Get(r.Location)
			next := hiddenField(t, page.Body, "next")
			if next != tt.path {
				t.Fatalf("login form next = %q, want %q", next, tt.path)
			}
			r = login(t, c, r.Location, "alice", "password-alice", url.Values{"next": {next}})
			if r.Status != http.StatusSeeOther || r.Location != tt.path {
				t.Fatalf("after login: %d %q, want 303 %q", r.Status, r.Location, tt.path)
			}
			if got := c.Get(r.Location); got.Status != http.StatusOK {
				t.Fatalf("GET %s after login: %d", r.Location, got.Status)
			}
		})
	}
}

// A next that points off the site ends at / after login, registration, or a visit of the
// login page while logged in.
func TestNextOffSiteGoesHome(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	evil := []string{
		"https://evil.example/",
		"//evil.example",
		"///evil.example",
		`/\evil.example`,
		`\\evil.example`,
		"javascript:alert(1)",
		"http:evil",
		"/\t/evil.example",
		"evil.example",
	}
	for i, next := range evil {
		t.Run(next, func(t *testing.T) {
			c := env.NewClient()
			page := c.Get("/login?next=" + url.QueryEscape(next))
			if got := hiddenField(t, page.Body, "next"); got != "/" {
				t.Fatalf("login form carries next %q", got)
			}
			r := login(t, c, "/login", "alice", "password-alice", url.Values{"next": {next}})
			if r.Status != http.StatusSeeOther || r.Location != "/" {
				t.Fatalf("login with next %q: %d %q, want 303 /", next, r.Status, r.Location)
			}
			r = alice.Get("/login?next=" + url.QueryEscape(next))
			if r.Status != http.StatusSeeOther || r.Location != "/" {
				t.Fatalf("logged-in GET /login?next=%q: %d %q", next, r.Status, r.Location)
			}
			c = env.NewClient()
			name := "user" + string(rune('a'+i))
			r = register(t, c, "/register", name, "correct horse", "correct horse", url.Values{"next": {next}})
			if r.Status != http.StatusSeeOther || r.Location != "/" {
				t.Fatalf("register with next %q: %d %q, want 303 /", next, r.Status, r.Location)
			}
		})
	}
}

// Sessions live in the database: after a restart the same cookie is still logged in.
func TestSessionSurvivesRestart(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	before := jarValue(alice, "sessionid")
	env.Restart()
	r := alice.Get("/")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "signed in as <strong>alice</strong>") {
		t.Fatalf("after restart GET / = %d %q", r.Status, r.Location)
	}
	if jarValue(alice, "sessionid") != before {
		t.Fatal("the session cookie changed across the restart")
	}
	s := alice.MustDial("lobby", "")
	s.Send(map[string]any{"message": "still here"})
	if f := s.Expect("chat.message"); f.Str("user") != "alice" {
		t.Fatalf("message after restart from %q", f.Str("user"))
	}
}

// Forms without the right token, or sent from another site, are refused with 403 and a
// message a person can read, and change nothing.
func TestCSRFRefusals(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice, bob := env.NewUser("alice"), env.NewUser("bob")
	aliceToken := apptest.CSRFFrom(t, alice.Get("/").Body)
	bobToken := apptest.CSRFFrom(t, bob.Get("/").Body)
	if aliceToken == bobToken {
		t.Fatal("two users share a CSRF token")
	}

	tests := []struct {
		name, path string
		form       url.Values
		origin     string
		want       string
	}{
		{"logout without token", "/logout", url.Values{}, env.BaseURL, msgCSRFToken},
		{"logout with empty token", "/logout", url.Values{"csrf_token": {""}}, env.BaseURL, msgCSRFToken},
		{"logout with wrong token", "/logout", url.Values{"csrf_token": {strings.Repeat("A", 43)}}, env.BaseURL, msgCSRFToken},
		{"logout with another user's token", "/logout", url.Values{"csrf_token": {bobToken}}, env.BaseURL, msgCSRFToken},
		{"logout from another site", "/logout", url.Values{"csrf_token": {aliceToken}}, "https://evil.example", msgCSRFOrigin},
		{"logout from another port", "/logout", url.Values{"csrf_token": {aliceToken}}, "http://127.0.0.1:1", msgCSRFOrigin},
		{"login without token", "/login", url.Values{"username": {"alice"}, "password": {"password-alice"}}, env.BaseURL, msgCSRFToken},
		{"register from another site", "/register", url.Values{"username": {"mallory"}, "password": {"correct horse"}, "password_confirm": {"correct horse"}, "csrf_token": {aliceToken}}, "http://evil.example", msgCSRFOrigin},
		{"register with another user's token", "/register", url.Values{"username": {"mallory"}, "password": {"correct horse"}, "password_confirm": {"correct horse"}, "csrf_token": {bobToken}}, env.BaseURL, msgCSRFToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, alice, tt.path, tt.form, tt.origin)
			if r.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403\n%s", r.Status, r.Body)
			}
			if !strings.Contains(r.Body, htmlText(tt.want)) || !strings.Contains(r.Body, "You can’t do that here") {
				t.Fatalf("403 page lacks the message %q:\n%s", tt.want, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Fatalf("403 answer is %q, not HTML", ct)
			}
			if got := alice.Get("/"); got.Status != http.StatusOK || !strings.Contains(got.Body, "signed in as <strong>alice</strong>") {
				t.Fatalf("refused request changed the session: GET / = %d", got.Status)
			}
		})
	}
	// The refused registrations made no account.
	c := env.NewClient()
	if r := login(t, c, "/login", "mallory", "correct horse", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a refused registration created mallory: login %d", r.Status)
	}
	// And the right token from this site still works.
	if r := postForm(t, alice, "/logout", url.Values{"csrf_token": {aliceToken}}, env.BaseURL); r.Status != http.StatusSeeOther {
		t.Fatalf("logout with the right token: %d", r.Status)
	}
}

// htmlText is s as html/template writes it in text.
func htmlText(s string) string {
	return strings.NewReplacer("'", "&#39;", `"`, "&#34;", "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var (
	scriptTagRE  = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	inlineAttrRE = regexp.MustCompile(`(?i)\s(on[a-z]+|style)\s*=`)
)

// Every page carries the security headers, and has nothing inline the CSP would block.
func TestSecurityHeaders(t *testing.T) {
	env := apptest.Start(t, testConfig(t))
	alice := env.NewUser("alice")
	anon := env.NewClient()
	tests := []struct {
		name   string
		get    func() apptest.Response
		status int
	}{
		{"login", func() apptest.Response { return anon.Get("/login") }, http.StatusOK},
		{"register", func() apptest.Response { return anon.Get("/register") }, http.StatusOK},
		{"login redirect", func() apptest.Response { return anon.Get("/") }, http.StatusSeeOther},
		{"lobby", func() apptest.Response { return alice.Get("/") }, http.StatusOK},
		{"room", func() apptest.Response { return alice.Get("/chat/x/") }, http.StatusOK},
		{"not found", func() apptest.Response { return alice.Get("/no/such/page") }, http.StatusNotFound},
		{"bad room", func() apptest.Response { return alice.Get("/chat/" + strings.Repeat("a", 101) + "/") }, http.StatusBadRequest},
		{"csrf refusal", func() apptest.Response { return postForm(t, alice, "/logout", url.Values{}, env.BaseURL) }, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.get()
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d", r.Status, tt.status)
			}
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
				if strings.Contains(csp, bad) {
					t.Errorf("CSP %q allows %q", csp, bad)
				}
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			switch got := r.Header.Get("Referrer-Policy"); got {
			case "same-origin", "no-referrer", "strict-origin", "strict-origin-when-cross-origin":
			default:
				t.Errorf("Referrer-Policy = %q", got)
			}
			if got := r.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q", got)
			}
			// The CSP forbids inline code, so a page must not depend on any.
			for _, tag := range scriptTagRE.FindAllString(r.Body, -1) {
				if !strings.Contains(tag, "src=") {
					t.Errorf("inline script the CSP would block: %s", tag)
				}
			}
			if m := inlineAttrRE.FindString(r.Body); m != "" {
				t.Errorf("inline handler or style attribute the CSP would block: %q", m)
			}
		})
	}
}
