package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAccountRules checks the register form's rules on any input: an accepted username has
// only the allowed characters and length, and an accepted password meets every rule.
func FuzzAccountRules(f *testing.F) {
	for _, seed := range [][3]string{
		{"alice", "correct horse", "correct horse"}, {"", "x", "x"}, {"a b", "12345678", "12345678"},
		{"bob", "BOB", "BOB"}, {"咖啡", "密码密码密码密码", "密码密码密码密码"}, {"x", strings.Repeat("p", 80), strings.Repeat("p", 80)},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, username, password, confirm string) {
		if ValidUsername(username) {
			if username == "" || utf8.RuneCountInString(username) > maxUsernameChars {
				t.Fatalf("accepted username of bad length %q", username)
			}
			for _, r := range username {
				if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", r) {
					t.Fatalf("accepted username %q with %q", username, r)
				}
			}
		}
		if CheckNewPassword(username, password, confirm) == "" {
			switch {
			case utf8.RuneCountInString(password) < minPasswordChars:
				t.Fatalf("accepted a short password %q", password)
			case len(password) > maxPasswordBytes:
				t.Fatalf("accepted a password over %d bytes", maxPasswordBytes)
			case strings.EqualFold(password, username):
				t.Fatalf("accepted the username as password")
			case password != confirm:
				t.Fatalf("accepted differing confirmation")
			}
		}
	})
}
