package web

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Account rules, shown to people on the register form.
const (
	maxUsernameChars   = 30
	minPasswordChars   = 8
	maxPasswordBytes   = 72 // bcrypt ignores anything longer, so longer passwords are refused
	errUsernameRules   = "Usernames are 1 to 30 characters: letters, digits, '_', '-' and '.'."
	errPasswordShort   = "Passwords are at least 8 characters."
	errPasswordLong    = "Passwords are at most 72 bytes."
	errPasswordIsName  = "The password cannot be the username."
	errPasswordsDiffer = "The two passwords differ."
)

// validUsername applies the username rules: ASCII letters, digits, '_', '-', '.'.
func validUsername(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > maxUsernameChars {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || ch == '.') {
			return false
		}
	}
	return true
}

// checkNewPassword applies the password policy; "" means acceptable.
func checkNewPassword(username, password, confirm string) string {
	switch {
	case utf8.RuneCountInString(password) < minPasswordChars:
		return errPasswordShort
	case len(password) > maxPasswordBytes:
		return errPasswordLong
	case strings.EqualFold(password, username):
		return errPasswordIsName
	case password != confirm:
		return errPasswordsDiffer
	}
	return ""
}

func hashPassword(password string, cost int) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), cost)
}

// passwordMatches compares in constant time for a given hash.
func passwordMatches(hash []byte, password string) bool {
	if len(password) > maxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}
