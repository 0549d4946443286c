package chat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"chat/models"
)

// trickyStrings are inputs for the hand-written JSON string encoder.
var trickyStrings = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"<script>alert(1)</script>",
	"a & b > c < d",
	"\x00\x01\x02\x07\x08\x0b\x0c\x1b\x1f",
	"\b\f\n\r\t",
	"\x7f",
	"\u2028 line sep \u2029 para sep",
	"\u0085 NEL \u00a0 NBSP",
	"café 咖啡 🙂 עברית \u202e",
	"\ufeff BOM",
	"\ufffd real replacement char",
	"invalid \xff byte",
	"\xc3",                 // truncated 2-byte sequence
	"\xe5\x92",             // truncated 3-byte sequence
	"\xed\xa0\x80",         // surrogate half
	"\xf4\x90\x80\x80",     // above U+10FFFF
	"\xc0\xaf",             // overlong '/'
	"a\xffb\xfe\xfdc",      // several invalid bytes
	"\xf0\x9f\x99\x82\xf0", // emoji then a truncated one
	strings.Repeat("<&>", 100),
	"end with backslash \\",
}

func decodeJSONString(t testing.TB, b []byte) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%q is not a JSON string: %v", b, err)
	}
	return s
}

// checkEncoded checks what appendJSONString wrote for s against encoding/json.
func checkEncoded(t testing.TB, s string, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("appendJSONString(%q) = %q is not valid JSON", s, out)
	}
	std, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, want := decodeJSONString(t, out), decodeJSONString(t, std)
	if got != want {
		t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json to %q", s, got, want)
	}
	if utf8.ValidString(s) && got != s {
		t.Fatalf("valid UTF-8 %q does not round-trip: %q", s, got)
	}
	// Safe to paste into HTML or a <script> block, as encoding/json's output is.
	for _, bad := range []string{"<", ">", "&", "\u2028", "\u2029"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("appendJSONString(%q) = %q contains a raw %q", s, out, bad)
		}
	}
	if !utf8.Valid(out) {
		t.Fatalf("appendJSONString(%q) = %q is not UTF-8", s, out)
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		checkEncoded(t, s, appendJSONString(nil, s))
	}
}

// It appends: what was in the buffer stays.
func TestAppendJSONStringAppends(t *testing.T) {
	out := appendJSONString([]byte(`{"k":`), "v<")
	if got := string(out); got != `{"k":"v\u003c"` {
		t.Fatalf("got %s", got)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkEncoded(t, s, appendJSONString(nil, s))
	})
}

// The hand-written message frame is valid JSON with the documented fields.
func TestAppendMessageFrame(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("X", 3600))
	edited := created.Add(time.Minute)
	tests := []struct {
		name string
		msg  models.Message
		want map[string]any
	}{
		{"plain", models.Message{ID: 7, Seq: 3, RoomName: "咖啡", Username: "alice", Body: "<b>hi</b>\n\u2028", CreatedAt: created},
			map[string]any{"type": "chat.message", "id": 7.0, "seq": 3.0, "room": "咖啡", "user": "alice", "message": "<b>hi</b>\n\u2028", "created_at": "2026-01-02T02:04:05.6Z"}},
		{"client id and edit", models.Message{ID: 8, Seq: 1 << 40, RoomName: "r", Username: "bob", Body: "x", CreatedAt: created, ClientID: `c"1`, EditedAt: &edited},
			map[string]any{"type": "chat.message", "id": 8.0, "seq": float64(1 << 40), "room": "r", "user": "bob", "message": "x", "created_at": "2026-01-02T02:04:05.6Z", "client_id": `c"1`, "edited_at": "2026-01-02T02:05:05.6Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := appendMessageFrame(nil, &tt.msg)
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"trims spaces", "  hello \n\t", "hello"},
		{"inner spaces kept", "a  b", "a  b"},
		{"CRLF", "a\r\nb", "a\nb"},
		{"lone CR", "a\rb", "a\nb"},
		{"CR CR LF", "a\r\r\nb", "a\n\nb"},
		{"tabs and newlines kept", "a\tb\nc", "a\tb\nc"},
		{"NUL and bell", "a\x00b\x07c", "abc"},
		{"escape sequence", "\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"DEL", "a\x7fb", "ab"},
		{"C1 controls", "a\u0080\u0085\u009fb", "ab"},
		{"vertical tab and form feed", "a\vb\fc", "abc"},
		{"bidi embeddings and overrides", "a\u202Ab\u202Bc\u202Cd\u202De\u202Ef", "abcdef"},
		{"bidi isolates", "a\u2066b\u2067c\u2068d\u2069e", "abcde"},
		{"directional marks", "a\u200Eb\u200Fc\u061Cd", "abcd"},
		{"byte order mark", "\uFEFFa\uFEFFb", "ab"},
		{"trim after stripping", "\u202E  x  \u202C", "x"},
		{"only invisible", "\x00\u202E\uFEFF\r\n\t ", ""},
		{"unicode kept", "café 咖啡 🙂 עברית", "café 咖啡 🙂 עברית"},
		{"zero width joiner kept", "👩\u200D💻", "👩\u200D💻"},
		{"markup kept as text", "<script>alert(1)</script>", "<script>alert(1)</script>"},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CleanText(tt.in); got != tt.want {
				t.Fatalf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzCleanText checks CleanText's promises for any input: valid UTF-8, no control or bidi
// characters but tab and newline, nothing to trim, and cleaning twice changes nothing.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"a\r\nb", "\u202Ex", " \x00 ", "a\xffb", "\uFEFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := CleanText(s)
		if !utf8.ValidString(out) {
			t.Fatalf("CleanText(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if r == '\r' || (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidiControl(r) || r == '\uFEFF' {
				t.Fatalf("CleanText(%q) = %q keeps %U", s, out, r)
			}
		}
		if strings.TrimSpace(out) != out {
			t.Fatalf("CleanText(%q) = %q is not trimmed", s, out)
		}
		if again := CleanText(out); again != out {
			t.Fatalf("CleanText is not idempotent: %q -> %q", out, again)
		}
	})
}

func TestValidClientID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"", true},
		{"c-1", true},
		{"3f2a9c1b-0000-4000-8000-000000000000", true},
		{strings.Repeat("x", 64), true},
		{"!~", true},
		{strings.Repeat("x", 65), false},
		{"a b", false},
		{"a\tb", false},
		{"a\x7f", false},
		{"ü", false},
	}
	for _, tt := range tests {
		if got := validClientID(tt.id); got != tt.want {
			t.Errorf("validClientID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// The hand-written ack frame is byte for byte what encoding/json makes of its shape, for
// every client id validClientID lets through (printable ASCII; appendJSONString spells \b
// and \f as \u0008 and \u000c where encoding/json now writes the short escapes, and the
// two decode alike).
func TestAckFrameMatchesEncodingJSON(t *testing.T) {
	type ackFrame struct {
		Type      string `json:"type"`
		ClientID  string `json:"client_id"`
		ID        int64  `json:"id"`
		Seq       int64  `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	}
	for _, tc := range []ackFrame{
		{TypeAck, "0193b0a4-7c3e-7def-8a12-3456789abcde", 1, 1, false},
		{TypeAck, `quote " back \ <tag> & line` + "\n\x01\u2028", 9_007_199_254_740_993, 42, true},
		{TypeAck, "caf\xe9 ☕", 7, 0, false},
	} {
		want, err := json.Marshal(tc)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAckFrame(nil, tc.ClientID, tc.ID, tc.Seq, tc.Duplicate); string(got) != string(want) {
			t.Errorf("ack frame\n got %s\nwant %s", got, want)
		}
	}
}
