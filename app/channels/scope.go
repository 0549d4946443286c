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
// read-only afterwards. Query, Headers, Cookies and Session are there for Connect only: the
// runtime lets them go when Connect returns, so a long-lived socket does not keep a copy of
// every request header, the session cookie or the session's row for its whole life. A
// consumer copies what it needs later.
type Scope struct {
	Type    string            // always "websocket" here
	Path    string            // the request path as sent
	Params  Params            // URL params, percent-decoded (room names may be any Unicode)
	Query   url.Values        // query string; nil when there is none (during Connect only)
	Headers map[string]string // request headers, canonical names (during Connect only)
	Cookies map[string]string // request cookies (during Connect only)
	Client  string            // remote address
	Session any               // what the auth middleware put under LocalSession (during Connect only)
	User    any               // what the auth middleware put under LocalUser
}

// Param is one URL param of a websocket route.
type Param struct {
	Name, Value string
}

// Params are a route's URL params in route order. A route has one or two, and every socket
// keeps them for life: a slice of them takes a tenth of the memory of a map.
type Params []Param

// Get returns the value of the param called name, or "" when the route has none.
func (p Params) Get(name string) string {
	for _, param := range p {
		if param.Name == name {
			return param.Value
		}
	}
	return ""
}

// forgetConnectOnly drops what the scope holds for Connect only (see Scope).
func (s *Scope) forgetConnectOnly() {
	s.Query, s.Headers, s.Cookies, s.Session = nil, nil, nil, nil
}

// newScope copies everything it keeps out of the request, because fasthttp reuses the
// request's memory once the handler returns.
func newScope(c *fiber.Ctx) (*Scope, error) {
	s := &Scope{
		Type:    "websocket",
		Path:    string(c.Request().URI().PathOriginal()),
		Headers: map[string]string{},
		Cookies: map[string]string{},
		Client:  c.Context().RemoteAddr().String(),
		Session: c.Locals(LocalSession),
		User:    c.Locals(LocalUser),
	}
	if names := c.Route().Params; len(names) > 0 {
		s.Params = make(Params, 0, len(names))
		for _, name := range names {
			// Params alias the request buffer, which fasthttp reuses after the upgrade: copy.
			v, err := url.PathUnescape(strings.Clone(c.Params(name)))
			if err != nil {
				return nil, err
			}
			s.Params = append(s.Params, Param{Name: name, Value: v})
		}
	}
	if args := c.Context().QueryArgs(); args.Len() > 0 {
		s.Query = url.Values{}
		args.VisitAll(func(k, v []byte) { s.Query.Add(string(k), string(v)) })
	}
	c.Request().Header.VisitAll(func(k, v []byte) { s.Headers[string(k)] = string(v) })
	c.Request().Header.VisitAllCookie(func(k, v []byte) { s.Cookies[string(k)] = string(v) })
	return s, nil
}
