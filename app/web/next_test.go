package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ next, want string }{
		// Paths on this site are kept as they are.
		{"/", "/"},
		{"/chat/x/", "/chat/x/"},
		{"/chat/x/?since=5#bottom", "/chat/x/?since=5#bottom"},
		{"/chat/%E5%92%96%E5%95%A1/", "/chat/%E5%92%96%E5%95%A1/"},
		{"/chat/咖啡/", "/chat/咖啡/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // one escaped segment, still a path here
		{"/a//b", "/a//b"},
		{"/.//evil.example", "/.//evil.example"}, // browsers keep the host of a path-absolute URL
		{"/" + strings.Repeat("a", 1999), "/" + strings.Repeat("a", 1999)},

		// Everything else goes home.
		{"", "/"},
		{"https://evil.example/", "/"},
		{"http://evil.example", "/"},
		{"//evil.example", "/"},
		{"//evil.example/chat/", "/"},
		{"///evil.example", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{`\/evil.example`, "/"},
		{`/chat\..\..\evil`, "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"http:evil", "/"},
		{"http:/evil", "/"},
		{"data:text/html,x", "/"},
		{"evil.example", "/"},
		{"chat/x/", "/"},
		{" /chat/", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r\nSet-Cookie: x=y", "/"},
		{"/\x00", "/"},
		{"/\x7f", "/"},
		{"/" + strings.Repeat("a", 2000), "/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.next); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

// FuzzSafeNext checks that whatever comes in, the result is a path on this site: it starts
// with one "/" that no "/" or "\" follows, has no control characters, parses as a URL with
// no scheme or host, and is either "/" or the input unchanged.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/chat/x/", "//evil.example", `/\evil.example`, "https://evil.example/", "javascript:alert(1)", "http:evil", "/\t/x", "/%2F/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: neither home nor the input", next, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f || got[i] == '\\' {
				t.Fatalf("safeNext(%q) = %q keeps byte %#x", next, got, got[i])
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("safeNext(%q) = %q parses as %+v (%v)", next, got, u, err)
		}
	})
}
