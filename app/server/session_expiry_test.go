package server_test

// Sessions end after SESSION_IDLE_TIMEOUT without requests and SESSION_MAX_AGE after login,
// however busy. The tests use real time with tiny limits (the session clock hook lives in
// package web and is not reachable from here), and run in parallel with each other because
// most of what they do is wait. Logging out is TestLogoutEndsSessionOnServer (auth_test.go).

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
)

// sessionState is what one session cookie is worth right now, asked the way an attacker who
// copied it would: a fresh browser with only that cookie. The client's own jar is not used
// because it drops a cookie by itself once its Expires has passed, which would hide whether
// the server still honours it.
type sessionState struct {
	lobby     apptest.Response // GET /
	room      apptest.Response // GET /chat/x/
	handshake int              // status of the websocket handshake for /ws/chat/x/
}

func replaySession(t *testing.T, env *apptest.Env, token string) sessionState {
	t.Helper()
	c := env.NewClient()
	var st sessionState
	plantCookie(c, "sessionid", token)
	st.lobby = c.Get("/")
	plantCookie(c, "sessionid", token) // an expired session's answer clears the cookie
	st.room = c.Get("/chat/x/")
	plantCookie(c, "sessionid", token)
	s, resp, err := c.DialRoom("x", "")
	st.handshake = handshakeStatus(t, s, resp, err)
	return st
}

// loggedIn checks the answers of a live session.
func (st sessionState) loggedIn(t *testing.T, when string) {
	t.Helper()
	if st.lobby.Status != http.StatusOK || !strings.Contains(st.lobby.Body, "signed in as <strong>alice</strong>") {
		t.Fatalf("%s: GET / = %d %q, want the lobby", when, st.lobby.Status, st.lobby.Location)
	}
	if st.room.Status != http.StatusOK {
		t.Fatalf("%s: GET /chat/x/ = %d, want 200", when, st.room.Status)
	}
	if st.handshake != http.StatusSwitchingProtocols {
		t.Fatalf("%s: websocket handshake %d, want 101", when, st.handshake)
	}
}

// expired checks the answers of an ended session: pages go to the login form (and back
// afterwards), the cookie is cleared, and the websocket handshake is refused with 403.
func (st sessionState) expired(t *testing.T, when string) {
	t.Helper()
	if st.lobby.Status != http.StatusSeeOther || st.lobby.Location != "/login?next=%2F" {
		t.Fatalf("%s: GET / = %d %q, want 303 /login?next=%%2F", when, st.lobby.Status, st.lobby.Location)
	}
	if ck := responseCookie(st.lobby, "sessionid"); ck == nil || ck.Value != "" || ck.MaxAge >= 0 {
		t.Errorf("%s: the expired session's cookie is not cleared: %+v", when, ck)
	}
	if st.room.Status != http.StatusSeeOther || st.room.Location != "/login?next=%2Fchat%2Fx%2F" {
		t.Fatalf("%s: GET /chat/x/ = %d %q, want 303 to the login form", when, st.room.Status, st.room.Location)
	}
	if st.handshake != http.StatusForbidden {
		t.Fatalf("%s: websocket handshake %d, want 403", when, st.handshake)
	}
}

// A session nobody uses for SESSION_IDLE_TIMEOUT ends: the browser that holds it is sent to
// the login form, and the cookie replayed from elsewhere opens neither pages nor sockets.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SessionIdleAge = 2 * time.Second
	env := apptest.Start(t, cfg)
	alice := env.NewUser("alice")
	token := jarValue(alice, "sessionid")
	replaySession(t, env, token).loggedIn(t, "just after login")

	time.Sleep(cfg.SessionIdleAge + 500*time.Millisecond)
	if r := alice.Get("/"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("idle browser: GET / = %d %q, want a redirect to the login form", r.Status, r.Location)
	}
	if jarValue(alice, "sessionid") != "" {
		t.Error("the idle browser still holds its session cookie")
	}
	replaySession(t, env, token).expired(t, "after the idle timeout")

	// Logging in again works and starts a new session.
	alice.Login("alice", "password-alice")
	if fresh := jarValue(alice, "sessionid"); fresh == "" || fresh == token {
		t.Fatalf("login after the idle timeout: session %q", fresh)
	}
	alice.MustDial("x", "")
}

// SESSION_MAX_AGE ends a session however busy it is: a browser loading a page every 300 ms
// is logged in until the limit and logged out after it.
func TestSessionMaxAgeEndsBusySession(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SessionMaxAge = 2 * time.Second
	env := apptest.Start(t, cfg)
	start := time.Now() // no later than the session's creation
	alice := env.NewUser("alice")
	token := jarValue(alice, "sessionid")
	replaySession(t, env, token).loggedIn(t, "just after login")

	ended := useSessionUntilItEnds(t, env, token, start)
	if ended < cfg.SessionMaxAge {
		t.Fatalf("a busy session ended %v after login, before its max age %v", ended, cfg.SessionMaxAge)
	}
	replaySession(t, env, token).expired(t, "after the max age")
}

// Activity keeps a session past SESSION_IDLE_TIMEOUT, but not past SESSION_MAX_AGE: with an
// idle timeout of 1 s and a max age of 3 s, a browser loading a page every 300 ms is still
// logged in at 2.5 s and logged out after 3 s.
func TestSessionActivityExtendsIdleUntilMaxAge(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SessionIdleAge = time.Second
	cfg.SessionMaxAge = 3 * time.Second
	env := apptest.Start(t, cfg)
	start := time.Now() // no later than the session's creation
	alice := env.NewUser("alice")
	token := jarValue(alice, "sessionid")

	ended := useSessionUntilItEnds(t, env, token, start)
	if ended < cfg.SessionMaxAge {
		t.Fatalf("a session used every 300 ms ended %v after login: activity did not hold off the idle timeout (%v)", ended, cfg.SessionIdleAge)
	}
	replaySession(t, env, token).expired(t, "after the max age")
}

// useSessionUntilItEnds loads / with the session token every 300 ms (each time from a fresh
// client, so the server decides, not a cookie jar) until it is sent to the login page, and
// returns how long after start that happened. Past SessionMaxAge + 5 s it fails the test.
func useSessionUntilItEnds(t *testing.T, env *apptest.Env, token string, start time.Time) time.Duration {
	t.Helper()
	for {
		time.Sleep(300 * time.Millisecond)
		c := env.NewClient()
		plantCookie(c, "sessionid", token)
		r := c.Get("/")
		switch {
		case r.Status == http.StatusOK:
			if time.Since(start) > env.Config.SessionMaxAge+5*time.Second {
				t.Fatalf("the session is still valid %v after login (max age %v)", time.Since(start), env.Config.SessionMaxAge)
			}
		case r.Status == http.StatusSeeOther && strings.HasPrefix(r.Location, "/login"):
			return time.Since(start)
		default:
			t.Fatalf("GET / = %d %q", r.Status, r.Location)
		}
	}
}
