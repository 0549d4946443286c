package web

// The register form's account rules, exported for the command line ("chat createsuperuser"),
// so an account made there obeys the same rules as one made in the browser.

// UsernameRules is the message shown for a username that breaks the rules.
const UsernameRules = errUsernameRules

// ValidUsername reports whether s follows the username rules.
func ValidUsername(s string) bool { return validUsername(s) }

// CheckNewPassword applies the password policy to a new password and its confirmation; ""
// means acceptable, anything else is the message to show.
func CheckNewPassword(username, password, confirm string) string {
	return checkNewPassword(username, password, confirm)
}

// HashPassword hashes a password with bcrypt at cost.
func HashPassword(password string, cost int) ([]byte, error) { return hashPassword(password, cost) }
