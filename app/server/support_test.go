package server_test

import (
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/config"
)

// Helpers shared by the server tests. They only wrap what a browser does: requests with the
// client's cookie jar, reading Set-Cookie headers, and reading websocket frames in order.

// doRequest sends method path with the client's cookie jar. form, when not nil, is sent
// url-encoded. header sets request headers; an empty value removes the header.
func doRequest(t testing.TB, c *apptest.Client, method, path string, form url.Values, header map[string]string) apptest.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.Env.BaseURL+path, body)
	if err != nil {
		t.Fatalf("request %s %s: %v", method, path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return apptest.Response{Status: resp.StatusCode, Body: string(b), Header: resp.Header, Location: resp.Header.Get("Location")}
}

// postForm posts form to path with an explicit Origin header ("" sends none).
func postForm(t testing.TB, c *apptest.Client, path string, form url.Values, origin string) apptest.Response {
	t.Helper()
	return doRequest(t, c, http.MethodPost, path, form, map[string]string{"Origin": origin})
}

// responseCookie is the last Set-Cookie of the response with this name, or nil.
func responseCookie(r apptest.Response, name string) *http.Cookie {
	var found *http.Cookie
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == name {
			found = ck
		}
	}
	return found
}

// jarValue is the value of the cookie the client would send, or "".
func jarValue(c *apptest.Client, name string) string {
	base, _ := url.Parse(c.Env.BaseURL)
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// plantCookie puts a cookie into the client's jar, as another site or an attacker might.
func plantCookie(c *apptest.Client, name, value string) {
	base, _ := url.Parse(c.Env.BaseURL)
	c.HTTP.Jar.SetCookies(base, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

var formErrorRE = regexp.MustCompile(`<div class="form-error" role="alert">([^<]*)</div>`)

// formError is the (unescaped) error message a form page shows, or "".
func formError(body string) string {
	m := formErrorRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// hiddenField is the unescaped value of a hidden input in a page.
func hiddenField(t testing.TB, body, name string) string {
	t.Helper()
	re := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no hidden field %q in page:\n%s", name, body)
	}
	return html.UnescapeString(m[1])
}

// handshakeStatus is the HTTP status of a websocket handshake (101 when it succeeded).
func handshakeStatus(t testing.TB, s *apptest.Socket, resp *http.Response, err error) int {
	t.Helper()
	if err == nil {
		s.Conn.Close()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("handshake failed without an HTTP answer: %v", err)
	}
	return resp.StatusCode
}

// protocolFrames are the frame types these tests reason about; others (presence, typing ...)
// that later features may add are skipped.
var protocolFrames = map[string]bool{"chat.message": true, "error": true, "ack": true, "catchup": true, "reload": true}

// nextFrame is the next protocol frame on s; it fails the test if none comes within 5s.
func nextFrame(t testing.TB, s *apptest.Socket) apptest.Frame {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for a frame: %v", err)
		}
		if protocolFrames[f.Type()] {
			return f
		}
	}
}

// expectNoFrame fails the test if any protocol frame arrives on s within d.
func expectNoFrame(t testing.TB, s *apptest.Socket, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if errors.Is(err, apptest.ErrTimeout) {
			return
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if protocolFrames[f.Type()] {
			t.Fatalf("unexpected frame: %v", f)
		}
	}
}

// expectMessage reads the next protocol frame and checks it is chat.message with this text.
func expectMessage(t testing.TB, s *apptest.Socket, text string) apptest.Frame {
	t.Helper()
	f := nextFrame(t, s)
	if f.Type() != "chat.message" || f.Str("message") != text {
		t.Fatalf("want chat.message %q, got %v", truncateForLog(text), f)
	}
	return f
}

func truncateForLog(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// testConfig is apptest.Config with the limits meant for people turned off (messages per
// user, failed logins per address and per username, open sockets per account and address):
// these tests send more messages, fail more logins and open more sockets than a person would
// in a few seconds, and what they test is not the limiters.
func testConfig(t testing.TB) config.Config {
	cfg := apptest.Config(t)
	cfg.MessageRate, cfg.MessageBurst = 0, 0
	cfg.LoginRateIP, cfg.LoginBurstIP = 0, 0
	cfg.LoginRateUser, cfg.LoginBurstUser = 0, 0
	cfg.MaxConnsPerUser, cfg.MaxConnsPerIP = 0, 0
	return cfg
}
