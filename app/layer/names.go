package layer

import "strings"

// maxNameLen bounds names (exclusive) as Channels does, so a name valid here is valid in
// channels_redis and in the keys a Redis layer builds from it.
const maxNameLen = 100

// ValidGroupName reports whether s may name a group: 1 to 99 ASCII letters, digits, '-', '_'
// or '.'.
func ValidGroupName(s string) bool {
	return s != "" && len(s) < maxNameLen && nameChars(s)
}

// ValidChannelName reports whether s may name a channel: a group-like name, optionally followed
// by one '!' and a process-local suffix of the same characters, under 100 bytes in all. As in
// Channels the suffix may be empty ("specific.node!" names the node's prefix).
func ValidChannelName(s string) bool {
	if len(s) >= maxNameLen {
		return false
	}
	head, tail, _ := strings.Cut(s, "!")
	return head != "" && nameChars(head) && nameChars(tail)
}

// nameChars is a byte loop rather than a regexp because GroupSend validates on every call.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// checkName is the argument check every layer method starts with: the layer must be open and
// the name valid.
func checkName(closed bool, name string, valid func(string) bool) error {
	if closed {
		return ErrClosed
	}
	if !valid(name) {
		return ErrInvalidName
	}
	return nil
}

// checkGroupChannel checks a group name and a channel name together.
func checkGroupChannel(closed bool, group, channel string) error {
	if err := checkName(closed, group, ValidGroupName); err != nil {
		return err
	}
	return checkName(closed, channel, ValidChannelName)
}
