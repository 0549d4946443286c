package channels

import (
	"net"
	"net/url"
	"strings"
)

// OriginAllowed reports whether a websocket handshake's Origin header may connect, which
// stops other sites from opening sockets with a visitor's cookies (cross-site websocket
// hijacking). With no allowed hosts configured, the origin's host must be the request's own
// host. A pattern is "*", a host ("chat.example.com"), a host with port, or ".example.com" for
// the domain and its subdomains, as in Django's ALLOWED_HOSTS. A missing Origin is refused.
func OriginAllowed(origin, requestHost string, allowed []string) bool {
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := strings.ToLower(u.Host)
	if len(allowed) == 0 {
		return host == strings.ToLower(requestHost)
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, p := range allowed {
		switch {
		case p == "*":
			return true
		case strings.HasPrefix(p, "."):
			if name == p[1:] || strings.HasSuffix(name, p) {
				return true
			}
		case strings.Contains(p, ":") && !strings.HasPrefix(p, "["):
			if host == p {
				return true
			}
		default:
			if name == strings.Trim(p, "[]") {
				return true
			}
		}
	}
	return false
}
