package channels

import "testing"

func TestOriginAllowed(t *testing.T) {
	same := []string(nil)
	tests := []struct {
		name    string
		origin  string
		host    string // the request's Host
		allowed []string
		want    bool
	}{
		// No allowed list: only the request's own host, port included.
		{"same host and port", "http://localhost:8080", "localhost:8080", same, true},
		{"same host over https", "https://chat.example.com", "chat.example.com", same, true},
		{"same host, other case", "http://LocalHost:8080", "localhost:8080", same, true},
		{"same host, Host in other case", "http://localhost:8080", "LOCALHOST:8080", same, true},
		{"same host, other port", "http://localhost:9090", "localhost:8080", same, false},
		{"same host, origin without port", "http://localhost", "localhost:8080", same, false},
		{"same host, request without port", "http://localhost:8080", "localhost", same, false},
		{"other host", "http://evil.example", "localhost:8080", same, false},
		{"other host with our name inside", "http://localhost:8080.evil.example", "localhost:8080", same, false},
		{"IP address", "http://127.0.0.1:8080", "127.0.0.1:8080", same, true},
		{"empty list is not nil list", "http://localhost:8080", "localhost:8080", []string{}, true},

		// "*" allows any http(s) origin, never a malformed one.
		{"star", "https://anything.example", "localhost:8080", []string{"*"}, true},
		{"star, http with port", "http://x.example:1234", "localhost:8080", []string{"*"}, true},
		{"star, ftp", "ftp://x.example", "localhost:8080", []string{"*"}, false},
		{"star, null", "null", "localhost:8080", []string{"*"}, false},
		{"star, empty", "", "localhost:8080", []string{"*"}, false},

		// ".example.com" is the domain and its subdomains.
		{"domain itself", "https://example.com", "x", []string{".example.com"}, true},
		{"subdomain", "https://a.example.com", "x", []string{".example.com"}, true},
		{"deeper subdomain", "https://a.b.example.com", "x", []string{".example.com"}, true},
		{"subdomain with port", "https://a.example.com:8443", "x", []string{".example.com"}, true},
		{"subdomain in other case", "https://A.Example.COM", "x", []string{".example.com"}, true},
		{"lookalike without dot", "https://badexample.com", "x", []string{".example.com"}, false},
		{"domain as a prefix", "https://example.com.evil.net", "x", []string{".example.com"}, false},
		{"other domain", "https://example.org", "x", []string{".example.com"}, false},

		// A host allows any port; a host with port allows only that port.
		{"host", "https://chat.example.com", "x", []string{"chat.example.com"}, true},
		{"host, any port", "https://chat.example.com:8443", "x", []string{"chat.example.com"}, true},
		{"host, not a subdomain", "https://a.chat.example.com", "x", []string{"chat.example.com"}, false},
		{"host, not the parent", "https://example.com", "x", []string{"chat.example.com"}, false},
		{"host with port", "https://chat.example.com:8443", "x", []string{"chat.example.com:8443"}, true},
		{"host with port, other port", "https://chat.example.com:9443", "x", []string{"chat.example.com:8443"}, false},
		{"host with port, no port", "https://chat.example.com", "x", []string{"chat.example.com:8443"}, false},
		{"second pattern matches", "https://b.example", "x", []string{"a.example", "b.example"}, true},
		{"no pattern matches", "https://c.example", "x", []string{"a.example", "b.example"}, false},
		{"IPv6 in brackets with port", "http://[::1]:8080", "x", []string{"[::1]"}, true},
		{"allowed list ignores the request host", "http://localhost:8080", "localhost:8080", []string{"chat.example.com"}, false},

		// Missing, garbage, opaque and non-web origins are refused.
		{"missing", "", "localhost:8080", same, false},
		{"null", "null", "localhost:8080", same, false},
		{"garbage", "not a url", "localhost:8080", same, false},
		{"percent garbage", "http://%zz", "localhost:8080", same, false},
		{"host only, no scheme", "localhost:8080", "localhost:8080", same, false},
		{"scheme only", "http://", "localhost:8080", same, false},
		{"ftp", "ftp://localhost:8080", "localhost:8080", same, false},
		{"file", "file:///etc/passwd", "localhost:8080", same, false},
		{"websocket scheme", "ws://localhost:8080", "localhost:8080", same, false},
		{"javascript", "javascript:alert(1)", "localhost:8080", same, false},
		{"data", "data:text/html,x", "localhost:8080", same, false},
		{"garbage with star", "not a url", "x", []string{"*"}, false},
		{"ftp with domain", "ftp://a.example.com", "x", []string{".example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OriginAllowed(tt.origin, tt.host, tt.allowed); got != tt.want {
				t.Fatalf("OriginAllowed(%q, %q, %q) = %v, want %v", tt.origin, tt.host, tt.allowed, got, tt.want)
			}
		})
	}
}

// IPv6 origins without a port, IPv6 patterns with a port, and unbracketed IPv6 patterns
// never match today.
func TestOriginAllowedIPv6(t *testing.T) {
	tests := []struct {
		origin  string
		allowed []string
		want    bool
	}{
		{"http://[::1]", []string{"[::1]"}, true},
		{"http://[::1]", []string{"::1"}, true},
		{"http://[::1]:8080", []string{"::1"}, true},
		{"http://[::1]:8080", []string{"[::1]:8080"}, true},
		{"http://[::1]:9090", []string{"[::1]:8080"}, false},
		{"http://[::2]", []string{"[::1]"}, false},
	}
	for _, tt := range tests {
		if got := OriginAllowed(tt.origin, "x", tt.allowed); got != tt.want {
			t.Errorf("OriginAllowed(%q, %q) = %v, want %v", tt.origin, tt.allowed, got, tt.want)
		}
	}
}
