package chat

import (
	"errors"
	"strings"
	"testing"

	"chat/app/layer"
)

func TestNormalizeRoomName(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"plain", "lobby", "lobby", nil},
		{"keeps case", "Lobby", "Lobby", nil},
		{"trims spaces", "  lobby \t", "lobby", nil},
		{"inner spaces kept", "the lobby", "the lobby", nil},
		{"CJK", "咖啡", "咖啡", nil},
		{"composed é", "café", "café", nil},
		{"NFD becomes NFC", "cafe\u0301", "café", nil},
		{"NFC of Hangul jamo", "\u1100\u1161", "\uac00", nil},
		{"emoji", "🙂 room", "🙂 room", nil},
		{"punctuation", "a.b-c_d?e#f%g&h", "a.b-c_d?e#f%g&h", nil},
		{"markup is a name like any other", "<b>x", "<b>x", nil},
		{"100 characters", strings.Repeat("a", 100), strings.Repeat("a", 100), nil},
		{"100 CJK characters", strings.Repeat("咖", 100), strings.Repeat("咖", 100), nil},
		{"100 after trimming", "  " + strings.Repeat("a", 100) + "  ", strings.Repeat("a", 100), nil},
		{"100 after NFC", strings.Repeat("e\u0301", 100), strings.Repeat("é", 100), nil},
		{"empty", "", "", ErrRoomEmpty},
		{"only spaces", " \t\n ", "", ErrRoomEmpty},
		{"101 characters", strings.Repeat("a", 101), "", ErrRoomTooLong},
		{"101 CJK characters", strings.Repeat("咖", 101), "", ErrRoomTooLong},
		{"slash", "a/b", "", ErrRoomChars},
		{"backslash", `a\b`, "", ErrRoomChars},
		{"NUL", "a\x00b", "", ErrRoomChars},
		{"newline inside", "a\nb", "", ErrRoomChars},
		{"DEL", "a\x7fb", "", ErrRoomChars},
		{"C1 control", "a\u0085b", "", ErrRoomChars},
		{"bidi override", "a\u202Eb", "", ErrRoomChars},
		{"bidi isolate", "a\u2066b", "", ErrRoomChars},
		{"left-to-right mark", "a\u200Eb", "", ErrRoomChars},
		{"arabic letter mark", "a\u061Cb", "", ErrRoomChars},
		{"invalid UTF-8", "a\xffb", "", ErrRoomChars},
		{"replacement character", "a\uFFFDb", "", ErrRoomChars},
		{"surrogate bytes", "a\xed\xa0\x80b", "", ErrRoomChars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeRoomName(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("NormalizeRoomName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
			if err == nil {
				// Normalising is idempotent.
				again, err := NormalizeRoomName(got)
				if err != nil || again != got {
					t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
				}
			}
		})
	}
}

// Both spellings of café are one room, and so one group.
func TestNormalizedSpellingsShareAGroup(t *testing.T) {
	a, errA := NormalizeRoomName("cafe\u0301")
	b, errB := NormalizeRoomName("café")
	if errA != nil || errB != nil || a != b {
		t.Fatalf("%q (%v) != %q (%v)", a, errA, b, errB)
	}
	if GroupName(a) != GroupName(b) {
		t.Fatalf("groups differ: %q %q", GroupName(a), GroupName(b))
	}
	if GroupName("café") == GroupName("cafe") {
		t.Fatal("café and cafe share a group")
	}
}

// trickyRoomNames are names whose escaped group names could meet if the escaping were not
// one-to-one, or that sit at the length limits.
func trickyRoomNames() []string {
	long := strings.Repeat("a", 94)
	names := []string{
		"", "a", "A", "room", "room.", ".", "..", "h", "h.", "h.x", "h.2e", "x.h.", "-", "_",
		"a.b", "a.2eb", "a.2e", "a_b", "a-b", "a b", "a%2eb", "a.2Eb", "a.2eB", "2e", ".2e", ".2e2e",
		"room.a", "room.h.", "room.h.abc", "h.0000000000000000000000000000000000000000000000000000000000000000",
		"咖", "咖啡", "啡咖", "café", "cafe", "cafe\u0301", "é", ".c3.a9", "c3a9", "\u00e9", "e\u0301",
		strings.Repeat("咖", 100), strings.Repeat("咖", 99) + "啡", strings.Repeat("咖", 99) + "a",
		strings.Repeat("a", 100), strings.Repeat("a", 99) + "b",
		long, long + "a", long + "b", long + ".", long + "é", long + "aa", long + "ab",
		strings.Repeat("a", 93) + ".", strings.Repeat("a", 91) + ".", strings.Repeat("a", 90) + "..",
		strings.Repeat(".", 31), strings.Repeat(".", 32), strings.Repeat(".", 33),
		strings.Repeat("é", 15), strings.Repeat("é", 16), strings.Repeat("é", 17),
		strings.Repeat("🙂", 30) + "x", strings.Repeat("🙂", 30) + "y",
		"<script>", "a/b", "a\\b", "a\x00b",
	}
	// The same long prefix with each possible last byte class.
	for _, last := range []string{"0", "9", "z", "Z", "-", "_", ".", " ", "é", "咖", "🙂"} {
		names = append(names, strings.Repeat("x", 80)+last, strings.Repeat("咖", 40)+last)
	}
	return names
}

func TestGroupNameValid(t *testing.T) {
	for _, name := range trickyRoomNames() {
		g := GroupName(name)
		if !layer.ValidGroupName(g) {
			t.Errorf("GroupName(%q) = %q (%d bytes) is not a valid group name", name, g, len(g))
		}
		if !strings.HasPrefix(g, "room.") {
			t.Errorf("GroupName(%q) = %q lacks the room. prefix", name, g)
		}
		if GroupName(name) != g {
			t.Errorf("GroupName(%q) is not deterministic", name)
		}
	}
}

func TestGroupNameInjective(t *testing.T) {
	seen := map[string]string{}
	for _, name := range trickyRoomNames() {
		g := GroupName(name)
		if other, ok := seen[g]; ok && other != name {
			t.Errorf("GroupName(%q) == GroupName(%q) == %q", name, other, g)
		}
		seen[g] = name
	}
}

// Short names keep a readable, reversible group name; names too long for it use a hash.
func TestGroupNameForms(t *testing.T) {
	tests := []struct{ room, want string }{
		{"lobby", "room.lobby"},
		{"a.b", "room.a.2eb"},
		{"a b", "room.a.20b"},
		{"café", "room.caf.c3.a9"},
		{"咖", "room..e5.92.96"},
		{strings.Repeat("a", 94), "room." + strings.Repeat("a", 94)},
	}
	for _, tt := range tests {
		if got := GroupName(tt.room); got != tt.want {
			t.Errorf("GroupName(%q) = %q, want %q", tt.room, got, tt.want)
		}
	}
	for _, room := range []string{strings.Repeat("a", 95), strings.Repeat("咖", 100), "h.", "h.x"} {
		if g := GroupName(room); !strings.HasPrefix(g, "room.h.") || len(g) != len("room.h.")+64 {
			t.Errorf("GroupName(%q) = %q, want the hashed form", room, g)
		}
	}
}

// FuzzGroupName checks that every room name maps to a valid group name, and that two names
// map to the same group only if they are equal.
func FuzzGroupName(f *testing.F) {
	for _, s := range []string{"a.b", "a.2eb", "h.", "咖啡", strings.Repeat("咖", 100)} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ga, gb := GroupName(a), GroupName(b)
		if !layer.ValidGroupName(ga) {
			t.Fatalf("GroupName(%q) = %q is not valid", a, ga)
		}
		if a != b && ga == gb {
			t.Fatalf("GroupName(%q) == GroupName(%q) == %q", a, b, ga)
		}
		if GroupName(a) != ga {
			t.Fatalf("GroupName(%q) is not deterministic", a)
		}
	})
}
