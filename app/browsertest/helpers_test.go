package browsertest

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3", for makeStaff

	"chat/app/apptest"
)

// stepTimeout bounds every single step (a navigation, a click, a wait for a condition). The
// tests never assert on speed: they wait for conditions, and this is only how long a
// condition may take before the test gives up.
const stepTimeout = 20 * time.Second

// pollEvery is how often a wait re-checks its condition.
const pollEvery = 50 * time.Millisecond

// chromePath finds the browser: CHAT_CHROME, else chromium, chromium-browser or
// google-chrome on PATH. Without one the test skips, or fails when CHAT_REQUIRE_BROWSER=1.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHAT_CHROME"); p != "" {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
		noBrowser(t, fmt.Sprintf("CHAT_CHROME=%q is not an executable", p))
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	noBrowser(t, "no chromium, chromium-browser or google-chrome on PATH")
	return ""
}

func noBrowser(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CHAT_REQUIRE_BROWSER") == "1" {
		t.Fatalf("CHAT_REQUIRE_BROWSER=1 but %s", why)
	}
	t.Skip("browser tests need Chromium: apt-get install chromium (or set CHAT_CHROME)")
}

// browser is the package's one headless Chromium process, with a fresh profile folder. Each
// person is a separate browser context in it (own cookie jar and storage), so tests can share
// it and run in parallel: starting Chromium is the slowest part of a test.
type browser struct {
	t   *testing.T
	ctx context.Context // the browser's first tab; people are new browser contexts under it
}

var shared struct {
	once    sync.Once
	ctx     context.Context
	err     error
	cleanup func()
}

// TestMain runs the tests four at a time unless -parallel says otherwise (they mostly wait
// on the browser and on timers, not on the CPU), and stops the shared browser after them.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "4")
	}
	code := m.Run()
	if shared.cleanup != nil {
		shared.cleanup()
	}
	os.Exit(code)
}

// newBrowser returns the shared browser, starting it for the first test that needs it; the
// test skips (or fails, with CHAT_REQUIRE_BROWSER=1) when there is none.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromePath(t)
	shared.once.Do(func() { shared.ctx, shared.cleanup, shared.err = startBrowser(path) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return &browser{t: t, ctx: shared.ctx}
}

// startBrowser starts headless Chromium with a fresh profile folder; cleanup closes it and
// removes the folder.
func startBrowser(path string) (ctx context.Context, cleanup func(), err error) {
	profile, err := os.MkdirTemp("", "chat-browsertest-")
	if err != nil {
		return nil, nil, err
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox, // needed when running as root, as in containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	cleanup = func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx) // closes the browser and waits for it
		ccancel()
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	}
	// The first Run starts the browser; it must not carry a timeout (that would end the
	// browser with it), so a hung start is caught by a timer instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("starting %s: %w", path, err)
		}
	case <-time.After(stepTimeout):
		cleanup()
		return nil, nil, fmt.Errorf("starting %s: no answer within %v", path, stepTimeout)
	}
	return ctx, cleanup, nil
}

// person is one user in their own browser context (own cookies, own storage) with one tab.
type person struct {
	t        *testing.T
	env      *apptest.Env
	name     string
	password string
	ctx      context.Context

	mu       sync.Mutex
	closed   bool
	problems []string // uncaught exceptions, CSP violations, dialogs: each fails the test
	console  []string // other console and browser-log output, shown when the test fails
	dialogs  []string
	catchups []catchup // the "catchup" frames the page's sockets received
	// acceptDialogs answers dialogs with OK (for a confirm() the test expects); otherwise
	// a dialog is a problem and is dismissed.
	acceptDialogs bool
}

// cspReporter runs before any page script and turns CSP violations into console errors with
// a known prefix, so they are caught whether or not the browser also logs them.
const cspReporter = `document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "(inline)") +
    " in " + e.sourceFile + ":" + e.lineNumber);
}, true);`

// newPerson opens a tab in a new browser context for name; it is closed when the test ends
// and the test fails if the page threw an uncaught exception, violated the CSP or opened a
// dialog nobody expected.
func (b *browser) newPerson(env *apptest.Env, name string) *person {
	b.t.Helper()
	return openTab(b.ctx, b.t, env, name, chromedp.WithNewBrowserContext())
}

// newTab opens another tab of p's browser context (same person, same cookies).
func (p *person) newTab() *person {
	p.t.Helper()
	return openTab(p.ctx, p.t, p.env, p.name)
}

func openTab(parent context.Context, t *testing.T, env *apptest.Env, name string, opts ...chromedp.ContextOption) *person {
	t.Helper()
	p := &person{t: t, env: env, name: name, password: "password-" + name}
	ctx, cancel := chromedp.NewContext(parent, append(opts, chromedp.WithListener(p.onEvent))...)
	p.ctx = ctx
	t.Cleanup(func() {
		cancel()
		p.mu.Lock()
		p.closed = true
		problems, console := p.problems, p.console
		p.mu.Unlock()
		if len(problems) > 0 || t.Failed() {
			for _, line := range console {
				t.Logf("%s's console: %s", name, line)
			}
		}
		for _, pr := range problems {
			t.Errorf("%s's browser: %s", name, pr)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // opens the tab (no timeout: it lives as long as ctx)
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	sctx, scancel := context.WithTimeout(ctx, stepTimeout)
	defer scancel()
	if _, err := chromedp.Call(sctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter}); err != nil {
		t.Fatalf("%s: installing the CSP reporter: %v", name, err)
	}
	return p
}

// onEvent sees every event of the tab, in order. It runs on chromedp's reading goroutine, so
// it only records; it must not run commands (answering a dialog happens on a goroutine).
func (p *person) onEvent(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	stamp := time.Now().Format("15:04:05.000")
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		p.problems = append(p.problems, "uncaught exception: "+exceptionText(ev.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		text := consoleText(ev.Args)
		if strings.HasPrefix(text, "CSP violation") {
			p.problems = append(p.problems, text)
		} else {
			p.console = append(p.console, fmt.Sprintf("%s console.%s: %s", stamp, ev.Type, text))
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		line := fmt.Sprintf("%s [%s/%s] %s %s", stamp, e.Source, e.Level, e.Text, e.URL)
		if e.Source == log.EntrySourceSecurity || strings.Contains(e.Text, "Content Security Policy") {
			p.problems = append(p.problems, "CSP / security: "+line)
		} else {
			p.console = append(p.console, line)
		}
	case *network.EventWebSocketFrameReceived:
		if ev.Response != nil && ev.Response.Opcode == 1 && strings.Contains(string(ev.Response.PayloadData), `"catchup"`) {
			var c catchup
			if json.Unmarshal(ev.Response.PayloadData, &c) == nil && c.Type == "catchup" {
				p.catchups = append(p.catchups, c)
			}
		}
	case *page.EventJavascriptDialogOpening:
		p.dialogs = append(p.dialogs, string(ev.Type)+": "+ev.Message)
		accept := p.acceptDialogs
		if !accept {
			p.problems = append(p.problems, fmt.Sprintf("unexpected %s dialog: %q", ev.Type, ev.Message))
		}
		ctx := p.ctx
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, _ = chromedp.Call(cctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
		}()
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

func consoleText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// catchup is a catch-up frame as the page received it.
type catchup struct {
	Type   string `json:"type"`
	Count  int    `json:"count"`
	LastID int64  `json:"last_id"`
}

// catchupFrames are the catch-up frames the page's sockets received so far.
func (p *person) catchupFrames() []catchup {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.catchups)
}

var traceSteps = os.Getenv("CHAT_TRACE") == "1"

func (p *person) trace(what string, start time.Time) {
	if traceSteps {
		p.t.Logf("%s %s: %v", p.name, what, time.Since(start).Round(time.Millisecond))
	}
}

// allowDialogs accepts dialogs from now on (for a confirm() the test expects).
func (p *person) allowDialogs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acceptDialogs = true
}

// dialogCount is how many dialogs the page opened so far.
func (p *person) dialogCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.dialogs)
}

// do runs browser actions with the step timeout, failing the test on error.
func (p *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	defer p.trace("do "+what, time.Now())
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %s: %v\n%s", p.name, what, err, p.describe())
	}
}

// eval evaluates a JavaScript expression in p's page and decodes its value.
func eval[T any](p *person, expr string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		p.t.Fatalf("%s: evaluating %s: %v\n%s", p.name, expr, err, p.describe())
	}
	return v
}

// tryEval is eval for a page that may be navigating: ok is false when it could not be read.
func tryEval[T any](p *person, expr string) (v T, ok bool) {
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	return v, err == nil
}

// waitFor polls a JavaScript condition until it is true (an exception counts as false, so
// a condition may run while a page is still loading), failing the test after stepTimeout.
func (p *person) waitFor(what, cond string) {
	p.t.Helper()
	defer p.trace("wait "+what, time.Now())
	expr := "(() => { try { return !!(" + cond + "); } catch (_) { return false; } })()"
	deadline := time.Now().Add(stepTimeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err // e.g. the page navigated in between: try again
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: gave up waiting for %s (%v; last error: %v)\ncondition: %s\n%s",
				p.name, what, stepTimeout, lastErr, cond, p.describe())
		}
		time.Sleep(pollEvery)
	}
}

// describe is a snapshot of the page for failure messages.
func (p *person) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
  const q = (s) => document.querySelector(s);
  const lines = ["  page: " + location.pathname + location.search + " (" + document.title + ")"];
  if (q("#status")) lines.push("  status: " + q("#status").dataset.state + " / " + q("#status").textContent);
  if (q("#online")) lines.push("  online: " + Array.from(document.querySelectorAll("#online .name"), (n) => n.textContent).join(", "));
  if (q("#typing")) lines.push("  typing: " + JSON.stringify(q("#typing").textContent));
  if (q("#errors")) lines.push("  errors: " + JSON.stringify(q("#errors").textContent));
  for (const li of document.querySelectorAll("#messages li.msg")) {
    const body = li.querySelector(".body");
    lines.push("  msg id=" + (li.dataset.id || "-") + " " + li.className + " " + (li.dataset.user || "") + ": " + JSON.stringify(body ? body.textContent : ""));
  }
  const err = document.querySelector(".form-error");
  if (err) lines.push("  form error: " + err.textContent);
  return lines.join("\n");
})()`))
	if err != nil {
		return fmt.Sprintf("  (%s's page could not be read: %v)", p.name, err)
	}
	return p.name + "'s page:\n" + s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// open navigates to a path of the server.
func (p *person) open(path string) {
	p.t.Helper()
	p.do("open "+path, chromedp.Navigate(p.env.BaseURL+path))
}

// typeInto focuses the element with the id and types keys into it as real key presses
// ("\r" is Enter). (chromedp.SendKeys does the same but its element query is slow.)
func (p *person) typeInto(id, keys string) {
	p.t.Helper()
	p.waitFor("#"+id+" to be shown", `document.getElementById(`+js(id)+`).getClientRects().length > 0`)
	eval[chromedp.Void](p, `document.getElementById(`+js(id)+`).focus()`)
	p.do("type "+js(keys)+" into #"+id, chromedp.KeyEvent(keys))
}

// atLobby is the condition "the lobby is shown".
const atLobby = `location.pathname === "/" && document.getElementById("open-room-title") !== null`

// register creates p's account through the registration form and lands on the lobby.
func (p *person) register() {
	p.t.Helper()
	p.open("/register")
	p.insertInto("register-username", p.name)
	p.insertInto("register-password", p.password)
	p.insertInto("register-password-confirm", p.password)
	p.do("submit the registration form", chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)))
	p.waitFor("the lobby after registering", atLobby)
	p.waitFor("the header to name "+p.name, `document.querySelector(".signed-in strong").textContent === `+js(p.name))
}

// login logs p in through the login form and lands on the lobby.
func (p *person) login() {
	p.t.Helper()
	p.open("/login")
	p.insertInto("login-username", p.name)
	p.insertInto("login-password", p.password)
	p.do("submit the login form", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)))
	p.waitFor("the lobby after logging in", atLobby)
}

// logout presses "Log out" in the header and lands on the login page.
func (p *person) logout() {
	p.t.Helper()
	p.do("press Log out", chromedp.Click(chromedp.CSS(`.logout-form button[type="submit"]`)))
	p.waitFor("the login page after logging out", `location.pathname === "/login" && document.getElementById("login-title") !== null`)
}

// newUser registers name through the server's registration form (over HTTP, as apptest
// does) and opens a browser for them that carries the new session's cookies: the quick way
// in for tests about the chat (TestRegisterLogoutLogin goes through the forms in the browser).
func (b *browser) newUser(env *apptest.Env, name string) *person {
	b.t.Helper()
	c := env.NewUser(name)
	p := b.newPerson(env, name)
	base, _ := url.Parse(env.BaseURL)
	var cookies []*network.CookieParam
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		cookies = append(cookies, &network.CookieParam{
			Name: ck.Name, Value: ck.Value, URL: env.BaseURL, Path: "/",
			HTTPOnly: true, SameSite: network.CookieSameSiteLax,
		})
	}
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookies, network.SetCookiesParams{Cookies: cookies}); err != nil {
		b.t.Fatalf("%s: setting the session cookie: %v", name, err)
	}
	return p
}

// roomPath is the page of a room.
func roomPath(room string) string { return "/chat/" + url.PathEscape(room) + "/" }

// connected is the condition "the room's socket is open".
const connected = `document.getElementById("status").dataset.state === "connected"`

// enterRoom opens the room's page and waits until its socket is connected.
func (p *person) enterRoom(room string) {
	p.t.Helper()
	p.open(roomPath(room))
	p.waitFor("the room page of "+room, `document.getElementById("chat").dataset.room === `+js(room))
	p.waitFor("the socket to connect", connected)
}

// typeMessage types text into the composer and presses Enter, and waits until the composer
// has been emptied (the message was taken, whether or not it is confirmed yet).
func (p *person) typeMessage(text string) {
	p.t.Helper()
	p.insertInto("message-input", text)
	p.do("press Enter", chromedp.KeyEvent("\r"))
	p.waitFor("the composer to be emptied after sending "+js(text), `document.getElementById("message-input").value === ""`)
}

// insertInto focuses the element with the id and puts text into it as one input, as a paste
// or an input method does (quicker than a key press per character, and fine for any text).
func (p *person) insertInto(id, text string) {
	p.t.Helper()
	p.waitFor("#"+id+" to be shown", `document.getElementById(`+js(id)+`).getClientRects().length > 0`)
	eval[chromedp.Void](p, `document.getElementById(`+js(id)+`).focus()`)
	p.do("type "+js(text)+" into #"+id, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// send types a message, presses Enter and waits until the server has confirmed it (the
// message has an id and is no longer pending).
func (p *person) send(text string) {
	p.t.Helper()
	p.typeMessage(text)
	p.waitForMessage(p.name, text)
}

// msgWith is a JS expression: the confirmed message elements from user with body text.
func msgWith(user, body string) string {
	return `Array.from(document.querySelectorAll("#messages li.msg[data-id]:not(.pending):not(.failed)")).filter((li) => li.dataset.user === ` +
		js(user) + ` && li.querySelector(".body") && li.querySelector(".body").textContent === ` + js(body) + `)`
}

// waitForMessage waits until a confirmed message from user with body text is shown.
func (p *person) waitForMessage(user, body string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("the message %s from %s", js(body), user), msgWith(user, body)+`.length > 0`)
}

// msg is a message as a page shows it.
type msg struct {
	ID      int64  `json:"id"`
	User    string `json:"user"`
	Body    string `json:"body"`
	Own     bool   `json:"own"`
	Pending bool   `json:"pending"`
	Failed  bool   `json:"failed"`
	Edited  bool   `json:"edited"`
}

func (m msg) String() string {
	flags := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Own, "own"}, {m.Pending, "pending"}, {m.Failed, "failed"}, {m.Edited, "edited"}} {
		if f.on {
			flags += " " + f.name
		}
	}
	return fmt.Sprintf("#%d %s: %q%s", m.ID, m.User, m.Body, flags)
}

// messages reads the timeline of p's room page, top to bottom.
func (p *person) messages() []msg {
	p.t.Helper()
	return eval[[]msg](p, `Array.from(document.querySelectorAll("#messages li.msg"), (li) => ({
  id: Number(li.dataset.id || 0),
  user: li.dataset.user || "",
  body: li.querySelector(".body") ? li.querySelector(".body").textContent : "",
  own: li.classList.contains("own"),
  pending: li.classList.contains("pending"),
  failed: li.classList.contains("failed"),
  edited: li.querySelector(".edited") !== null,
}))`)
}

// checkTimeline fails unless the page shows exactly want (user: body pairs), in order, each
// confirmed, with increasing ids, and marked .own exactly when they are p's.
func (p *person) checkTimeline(want [][2]string) {
	p.t.Helper()
	got := p.messages()
	fail := func(why string) {
		p.t.Helper()
		var b strings.Builder
		for _, m := range got {
			b.WriteString("\n  " + m.String())
		}
		p.t.Fatalf("%s's timeline: %s; want %q, got:%s", p.name, why, want, b.String())
	}
	if len(got) != len(want) {
		fail(fmt.Sprintf("%d messages, want %d", len(got), len(want)))
	}
	var last int64
	for i, m := range got {
		if m.User != want[i][0] || m.Body != want[i][1] {
			fail(fmt.Sprintf("message %d is %s", i, m))
		}
		if m.Pending || m.Failed || m.ID == 0 {
			fail(fmt.Sprintf("message %d is not confirmed", i))
		}
		if m.ID <= last {
			fail(fmt.Sprintf("message %d has id %d after %d", i, m.ID, last))
		}
		last = m.ID
		if m.Own != (m.User == p.name) {
			fail(fmt.Sprintf("message %d has own=%v", i, m.Own))
		}
	}
}

// onlineIs is the condition "#online lists exactly these names (in any order)".
func onlineIs(names ...string) string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	b, _ := json.Marshal(sorted)
	return `JSON.stringify(Array.from(document.querySelectorAll("#online .name"), (n) => n.textContent).sort()) === ` + js(string(b))
}

// recordStatus starts keeping every change of #status's data-state in window.__states.
func (p *person) recordStatus() {
	p.t.Helper()
	eval[chromedp.Void](p, `(() => {
  const el = document.getElementById("status");
  window.__states = [el.dataset.state];
  new MutationObserver(() => {
    const s = el.dataset.state;
    if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
  }).observe(el, { attributes: true, attributeFilter: ["data-state"] });
})()`)
}

// statesSeen is what recordStatus recorded so far.
func (p *person) statesSeen() []string {
	p.t.Helper()
	return eval[[]string](p, `window.__states || []`)
}

// storedMessages asks the server (as a separate websocket client, user "auditor") for every
// message of the room: the catch-up of ?since=0.
func storedMessages(t *testing.T, auditor *apptest.Client, room string) []apptest.Frame {
	t.Helper()
	s := auditor.MustDial(room, "since=0")
	defer s.Conn.Close()
	var out []apptest.Frame
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("reading the stored messages of %s: %v", room, err)
		}
		switch f.Type() {
		case "chat.message":
			out = append(out, f)
		case "catchup":
			return out
		}
	}
	t.Fatalf("no catchup frame for %s within %v", room, stepTimeout)
	return nil
}

// newClientID is a fresh client_id for a message.
func newClientID() string { return uuid.NewString() }

// makeStaff marks a user as staff directly in the database, as a superuser would in the
// admin. It reports false when the schema has no is_staff column yet (before the admin).
func makeStaff(t *testing.T, env *apptest.Env, username string) bool {
	t.Helper()
	path := strings.TrimPrefix(strings.TrimPrefix(env.Config.DatabaseURL, "sqlite://"), "sqlite:")
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer db.Close()
	var has int
	if err := db.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'is_staff'`).Scan(&has); err != nil {
		t.Fatalf("reading the users table: %v", err)
	}
	if has == 0 {
		return false
	}
	res, err := db.Exec(`UPDATE users SET is_staff = 1 WHERE username = ?`, username)
	if err != nil {
		t.Fatalf("making %s staff: %v", username, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("making %s staff: %d rows changed", username, n)
	}
	return true
}
