package store

import "net/url"

// Describe names a database URL for messages, without its password.
func Describe(databaseURL string) string {
	if databaseURL == "" {
		return "sqlite chat.db"
	}
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 {
		return "sqlite " + databaseURL
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.Redacted()
}
