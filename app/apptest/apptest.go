// Package apptest starts real chat servers for tests: a real listener on a free port, a real
// SQLite file, and clients that register and log in through the real forms and open
// websockets with the session cookie.
package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/config"
	"chat/app/server"
	"chat/static"
	"chat/templates"
)

// Env is one running server and the settings it was started with.
type Env struct {
	T       testing.TB
	Config  config.Config
	Server  *server.Server
	BaseURL string // http://127.0.0.1:port
	Addr    string // 127.0.0.1:port
	// Log, when set, receives the server's logs (StartLogged); otherwise they are discarded,
	// or go to the test at warning level under -v.
	Log     *slog.Logger
	stopped bool
}

// Config returns test settings: a SQLite file in a fresh temporary folder, cheap password
// hashing and quiet logs. Readers park after 20 ms rather than 2 s, so that every test's
// sockets go through parking and waking, as a real server's quiet sockets do. Change what
// a test needs before Start.
func Config(t testing.TB) config.Config {
	cfg := config.Defaults()
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "chat.db")
	cfg.Addr = "127.0.0.1:0"
	cfg.BcryptCost = 4
	cfg.NodeName = "test"
	cfg.ParkIdleAfter = 20 * time.Millisecond
	return cfg
}

// Start runs a server with cfg on a free port until the test ends.
func Start(t testing.TB, cfg config.Config) *Env {
	t.Helper()
	e := &Env{T: t, Config: cfg}
	e.start()
	t.Cleanup(e.Stop)
	return e
}

// StartLogged is Start with the server logging to log, for tests about what it logs.
func StartLogged(t testing.TB, cfg config.Config, log *slog.Logger) *Env {
	t.Helper()
	e := &Env{T: t, Config: cfg, Log: log}
	e.start()
	t.Cleanup(e.Stop)
	return e
}

func (e *Env) start() {
	e.T.Helper()
	log := e.Log
	switch {
	case log != nil:
	case testing.Verbose():
		log = slog.New(slog.NewTextHandler(testWriter{e.T}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	default:
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(e.Config, server.Assets{Templates: templates.FS, Static: static.FS}, log)
	if err != nil {
		e.T.Fatalf("starting server: %v", err)
	}
	addr := e.Addr
	if addr == "" {
		addr = e.Config.Addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Close()
		e.T.Fatalf("listen: %v", err)
	}
	e.Server, e.Addr, e.BaseURL, e.stopped = srv, ln.Addr().String(), "http://"+ln.Addr().String(), false
	go srv.Serve(ln)
}

// Stop shuts the server down gracefully (idempotent).
func (e *Env) Stop() {
	if err := e.Shutdown(); err != nil {
		e.T.Logf("shutdown: %v", err)
	}
}

// Shutdown is Stop for tests that check its outcome: the server's Shutdown error, or nil
// (also when it was stopped already).
func (e *Env) Shutdown() error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.Server.Shutdown(ctx)
}

// Restart stops the server and starts a new one on the same address and database file.
func (e *Env) Restart() {
	e.T.Helper()
	e.Stop()
	e.start()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Client is one browser: a cookie jar and the pages it fetched.
type Client struct {
	Env      *Env
	HTTP     *http.Client
	Username string
}

// NewClient makes a client with an empty cookie jar that does not follow redirects, so tests
// can see each one.
func (e *Env) NewClient() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{Env: e, HTTP: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Response is an HTTP answer with its body read.
type Response struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

// Get fetches a path.
func (c *Client) Get(path string) Response {
	c.Env.T.Helper()
	resp, err := c.HTTP.Get(c.Env.BaseURL + path)
	if err != nil {
		c.Env.T.Fatalf("GET %s: %v", path, err)
	}
	return readResponse(c.Env.T, resp)
}

// Post submits a form as a browser on this site would (Origin set to the site).
func (c *Client) Post(path string, form url.Values) Response {
	c.Env.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.Env.BaseURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.Env.BaseURL)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.Env.T.Fatalf("POST %s: %v", path, err)
	}
	return readResponse(c.Env.T, resp)
}

func readResponse(t testing.TB, resp *http.Response) Response {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return Response{Status: resp.StatusCode, Body: string(body), Header: resp.Header, Location: resp.Header.Get("Location")}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRFFrom finds the CSRF token in a page's form.
func CSRFFrom(t testing.TB, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", page)
	}
	return m[1]
}

// SubmitForm fetches the page at formPath, then posts fields to postPath with its CSRF token.
func (c *Client) SubmitForm(formPath, postPath string, fields url.Values) Response {
	c.Env.T.Helper()
	page := c.Get(formPath)
	form := url.Values{}
	for k, v := range fields {
		form[k] = v
	}
	form.Set("csrf_token", CSRFFrom(c.Env.T, page.Body))
	return c.Post(postPath, form)
}

// Register creates an account through the form and stays logged in; it fails the test if
// registration does not redirect.
func (c *Client) Register(username, password string) {
	c.Env.T.Helper()
	r := c.SubmitForm("/register", "/register", url.Values{
		"username": {username}, "password": {password}, "password_confirm": {password},
	})
	if r.Status != http.StatusSeeOther {
		c.Env.T.Fatalf("register %s: status %d\n%s", username, r.Status, r.Body)
	}
	c.Username = username
}

// Login logs in through the form; it fails the test unless it succeeds.
func (c *Client) Login(username, password string) {
	c.Env.T.Helper()
	r := c.SubmitForm("/login", "/login", url.Values{"username": {username}, "password": {password}})
	if r.Status != http.StatusSeeOther {
		c.Env.T.Fatalf("login %s: status %d\n%s", username, r.Status, r.Body)
	}
	c.Username = username
}

// NewUser is a new client registered as username (password "password-"+username).
func (e *Env) NewUser(username string) *Client {
	e.T.Helper()
	c := e.NewClient()
	c.Register(username, "password-"+username)
	return c
}

// MakeStaff makes an existing user staff, straight in the database (the session middleware
// reads the user on every request, so it takes effect at once).
func (e *Env) MakeStaff(username string) {
	e.T.Helper()
	e.setRole(username, func(ctx context.Context, id int64) error { return e.Server.Store.SetUserStaff(ctx, id, true) })
}

// MakeSuperuser makes an existing user a superuser (and so staff), straight in the database.
func (e *Env) MakeSuperuser(username string) {
	e.T.Helper()
	e.setRole(username, func(ctx context.Context, id int64) error { return e.Server.Store.SetUserSuperuser(ctx, id, true) })
}

func (e *Env) setRole(username string, set func(ctx context.Context, id int64) error) {
	e.T.Helper()
	ctx := context.Background()
	u, err := e.Server.Store.UserByName(ctx, username)
	if err != nil {
		e.T.Fatalf("user %s: %v", username, err)
	}
	if err := set(ctx, u.ID); err != nil {
		e.T.Fatalf("setting the role of %s: %v", username, err)
	}
}

// CSRFToken is the client's CSRF secret from its cookie jar ("" before any page set it).
func (c *Client) CSRFToken() string {
	base, _ := url.Parse(c.Env.BaseURL)
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		if ck.Name == "csrftoken" {
			return ck.Value
		}
	}
	return ""
}

// PostCSRF posts a form with the client's CSRF token, fetching /login first if the client
// has none yet, as a page with a form would have.
func (c *Client) PostCSRF(path string, form url.Values) Response {
	c.Env.T.Helper()
	if c.CSRFToken() == "" {
		c.Get("/login")
	}
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("csrf_token", c.CSRFToken())
	return c.Post(path, f)
}

// Socket is a websocket client.
type Socket struct {
	T    testing.TB
	Conn *websocket.Conn
}

// DialOptions change a handshake for tests of bad handshakes.
type DialOptions struct {
	Origin   string // default: the server's own origin; "-" sends none
	NoCookie bool
}

// DialRoom opens the room's websocket with the client's cookies and this site's Origin; path
// is added as is, so tests can send odd room names. query may be "".
func (c *Client) DialRoom(room, query string) (*Socket, *http.Response, error) {
	return c.DialPath("/ws/chat/"+url.PathEscape(room)+"/", query, DialOptions{})
}

// DialPath opens a websocket on any path.
func (c *Client) DialPath(path, query string, opts DialOptions) (*Socket, *http.Response, error) {
	u := "ws://" + c.Env.Addr + path
	if query != "" {
		u += "?" + query
	}
	h := http.Header{}
	switch opts.Origin {
	case "":
		h.Set("Origin", c.Env.BaseURL)
	case "-":
	default:
		h.Set("Origin", opts.Origin)
	}
	if !opts.NoCookie {
		base, _ := url.Parse(c.Env.BaseURL)
		var parts []string
		for _, ck := range c.HTTP.Jar.Cookies(base) {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
		if len(parts) > 0 {
			h.Set("Cookie", strings.Join(parts, "; "))
		}
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(u, h)
	if err != nil {
		return nil, resp, err
	}
	s := &Socket{T: c.Env.T, Conn: conn}
	c.Env.T.Cleanup(func() { conn.Close() })
	return s, resp, nil
}

// MustDial opens the room's websocket or fails the test.
func (c *Client) MustDial(room, query string) *Socket {
	c.Env.T.Helper()
	s, resp, err := c.DialRoom(room, query)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.Env.T.Fatalf("dial room %q as %s: %v (status %d)", room, c.Username, err, status)
	}
	return s
}

// Frame is a decoded server frame.
type Frame map[string]any

// Type is the frame's "type".
func (f Frame) Type() string { s, _ := f["type"].(string); return s }

// Str is a string field.
func (f Frame) Str(key string) string { s, _ := f[key].(string); return s }

// ID is the frame's "id" as an integer.
func (f Frame) ID() int64 { n, _ := f["id"].(float64); return int64(n) }

// Send writes v as a JSON text frame.
func (s *Socket) Send(v any) {
	s.T.Helper()
	if err := s.Conn.WriteJSON(v); err != nil {
		s.T.Fatalf("send: %v", err)
	}
}

// SendText writes a raw text frame.
func (s *Socket) SendText(text string) {
	s.T.Helper()
	if err := s.Conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		s.T.Fatalf("send: %v", err)
	}
}

// ErrTimeout is returned by Next when no frame came in time.
var ErrTimeout = errors.New("apptest: no frame in time")

// Next reads one frame, waiting at most d.
func (s *Socket) Next(d time.Duration) (Frame, error) {
	_ = s.Conn.SetReadDeadline(time.Now().Add(d))
	_, data, err := s.Conn.ReadMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, ErrTimeout
		}
		return nil, err
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("frame is not JSON: %q", data)
	}
	return f, nil
}

// Expect reads frames until one of type typ arrives (skipping others) or fails the test.
func (s *Socket) Expect(typ string) Frame {
	s.T.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			s.T.Fatalf("waiting for %q: %v", typ, err)
		}
		if f.Type() == typ {
			return f
		}
	}
	s.T.Fatalf("no %q frame within 5s", typ)
	return nil
}

// ExpectNone fails the test if a frame of type typ arrives within d.
func (s *Socket) ExpectNone(typ string, d time.Duration) {
	s.T.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if errors.Is(err, ErrTimeout) {
			return
		}
		if err != nil {
			s.T.Fatalf("read: %v", err)
		}
		if f.Type() == typ {
			s.T.Fatalf("unexpected %q frame: %v", typ, f)
		}
	}
}

// CloseCode reads until the server closes the connection and returns its close code.
func (s *Socket) CloseCode(d time.Duration) int {
	s.T.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = s.Conn.SetReadDeadline(deadline)
		_, _, err := s.Conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		s.T.Fatalf("connection ended without a close frame: %v", err)
		return 0
	}
}
