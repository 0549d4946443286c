package web

import (
	"net/url"
	"strings"
)

// safeNext returns where to go after logging in: next when it is a path on this site, else
// "/". It refuses absolute URLs, scheme-relative "//host" and "/\host" (which browsers read
// as another host), and anything with control characters, so login cannot redirect off-site.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f || next[i] == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}
