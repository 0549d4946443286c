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
	name, port := strings.ToLower(u.Hostname()), u.Port()
	if len(allowed) == 0 {
		reqName, reqPort := splitHost(strings.ToLower(requestHost))
		return name == reqName && port == reqPort
	}
	for _, p := range allowed {
		p = strings.ToLower(p)
		switch {
		case p == "*":
			return true
		case strings.HasPrefix(p, "."):
			if name == p[1:] || strings.HasSuffix(name, p) {
				return true
			}
		default:
			// A pattern with a port allows only that port; without one, any port.
			pName, pPort := splitHost(p)
			if name == pName && (pPort == "" || pPort == port) {
				return true
			}
		}
	}
	return false
}

// splitHost splits "host:port", "[v6]:port", "[v6]", "v6" or "host" into name and port.
func splitHost(hostport string) (name, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.Trim(hostport, "[]"), ""
}
