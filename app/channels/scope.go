// Package channels is the Channels-style websocket framework: a scope built before the upgrade,
// consumers with Connect / Receive / Disconnect, and a connection runtime with one reader
// goroutine, and one writer goroutine while there is something to write, that delivers
// channel-layer events to the consumer's handlers by type. It knows nothing of chat: the chat
// app uses it, never the reverse.
package channels

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Locals keys the auth middleware uses to hand the session and user to the scope.
const (
	LocalSession = "channels.session"
	LocalUser    = "channels.user"
)

// Scope describes one connection, like the ASGI scope: filled before the upgrade and
// read-only afterwards. Headers and Cookies are there for Connect only: the runtime lets them
// go when Connect returns, so a long-lived socket does not keep a copy of every request
// header (or the session cookie) for its whole life. A consumer copies what it needs later.
type Scope struct {
	Type    string            // always "websocket" here
	Path    string            // the request path as sent
	Params  map[string]string // URL params, percent-decoded (room names may be any Unicode)
	Query   url.Values        // query string
	Headers map[string]string // request headers, canonical names (during Connect only)
	Cookies map[string]string // request cookies (during Connect only)
	Client  string            // remote address
	Session any               // what the auth middleware put under LocalSession
	User    any               // what the auth middleware put under LocalUser
}

// newScope copies everything it keeps out of the request, because fasthttp reuses the
// request's memory once the handler returns.
func newScope(c *fiber.Ctx) (*Scope, error) {
	s := &Scope{
		Type:    "websocket",
		Path:    string(c.Request().URI().PathOriginal()),
		Params:  map[string]string{},
		Query:   url.Values{},
		Headers: map[string]string{},
		Cookies: map[string]string{},
		Client:  c.Context().RemoteAddr().String(),
		Session: c.Locals(LocalSession),
		User:    c.Locals(LocalUser),
	}
	for _, name := range c.Route().Params {
		// Params alias the request buffer, which fasthttp reuses after the upgrade: copy.
		v, err := url.PathUnescape(strings.Clone(c.Params(name)))
		if err != nil {
			return nil, err
		}
		s.Params[name] = v
	}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) { s.Query.Add(string(k), string(v)) })
	c.Request().Header.VisitAll(func(k, v []byte) { s.Headers[string(k)] = string(v) })
	c.Request().Header.VisitAllCookie(func(k, v []byte) { s.Cookies[string(k)] = string(v) })
	return s, nil
}
