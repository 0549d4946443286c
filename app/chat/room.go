// Package chat is the chat application on top of the channels framework: room names, the
// wire protocol, the consumer that runs one member's connection, and the publisher that
// stores messages before broadcasting them.
package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxRoomNameChars is the longest room name, in characters.
const MaxRoomNameChars = 100

// Errors for invalid room names; their text is shown to people.
var (
	ErrRoomEmpty   = errors.New("a room needs a name")
	ErrRoomTooLong = errors.New("room names are at most 100 characters")
	ErrRoomChars   = errors.New("room names cannot contain '/', control characters or invalid text")
)

// NormalizeRoomName checks a room name taken from a URL or a form and returns its canonical
// form (Unicode NFC, surrounding spaces trimmed), so "café" typed two ways is one room.
func NormalizeRoomName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrRoomChars
	}
	s = strings.TrimSpace(norm.NFC.String(s))
	if s == "" {
		return "", ErrRoomEmpty
	}
	if utf8.RuneCountInString(s) > MaxRoomNameChars {
		return "", ErrRoomTooLong
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) || isBidiControl(r) || r == utf8.RuneError {
			return "", ErrRoomChars
		}
	}
	return s, nil
}

// GroupName maps a room name to a channel-layer group name. Group names allow only ASCII
// letters, digits, '-', '_' and '.', under 100 characters, so other bytes are escaped as
// ".xx" (hex). The escaping is one-to-one; a name whose escaped form is too long uses the
// SHA-256 of the name under a different prefix, so the two forms never meet.
func GroupName(room string) string {
	const prefix, hashed, maxLen = "room.", "room.h.", 99
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(room); i++ {
		ch := room[i]
		if ch < utf8.RuneSelf && (ch == '-' || ch == '_' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('.')
		b.WriteString(hex.EncodeToString([]byte{ch}))
		if b.Len() > maxLen {
			break
		}
	}
	if b.Len() <= maxLen && !strings.HasPrefix(b.String(), hashed) {
		return b.String()
	}
	sum := sha256.Sum256([]byte(room))
	return hashed + hex.EncodeToString(sum[:])
}

// isBidiControl reports the Unicode bidirectional formatting characters, which can make
// text display in an order other than the one it was written in.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}
