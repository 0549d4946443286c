package chat

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeFrame feeds arbitrary bytes to the client-frame parser: it must never panic, must
// either return a frame or an error frame (never both, never neither), and an error frame
// must encode to valid JSON. Wherever the fast path accepts a frame, encoding/json must
// decode it without error to the same frame.
func FuzzDecodeFrame(f *testing.F) {
	for _, seed := range []string{
		`{"message":"hi"}`, `{"type":"chat.message","message":"hi","client_id":"a-1"}`,
		`{"type":"history","before":10}`, `{"type":"chat.edit","id":1,"message":"x"}`,
		`[1,2]`, `"str"`, `12`, `null`, `{`, `{"message":5}`, `{"id":1e400}`,
		`{"message":"\u0000\u202e"}`, "{\"message\":\"\xff\xfe\"}", `{"a":[[[[[[[[[[[[[[]]]]]]]]]]]]]}`,
		` { "type" : "catchup" , "since_seq" : 0 } `, `{"id":-0}`, `{"id":-12,"before":007}`,
		`{"id":9223372036854775807}`, `{"id":9223372036854775808}`, `{"id":123456789012345678}`,
		`{"id":1.0}`, `{"id":1E2}`, `{"Type":"x"}`, `{"type":"a","type":"b"}`, `{"message":null}`,
		`{"message":"caf\u00e9"}`, `{"message":"tab\there"}`, "{\"message\":\"a\tb\"}",
		`{"message":"☕ café"}`, `{}`, `{} x`, `{"type":"x",}`, `{"x":1}`, `{"since_seq":"1"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if fast, ok := decodeFrameFast(data); ok {
			var slow inbound
			if err := json.Unmarshal(data, &slow); err != nil {
				t.Fatalf("the fast path accepted %q, which encoding/json refuses: %v", data, err)
			}
			if !reflect.DeepEqual(*fast, slow) {
				t.Fatalf("the fast path decoded %q as %+v, encoding/json as %+v", data, *fast, slow)
			}
		}
		in, bad := decodeFrame(data)
		if (in == nil) == (bad == nil) {
			t.Fatalf("decodeFrame(%q) = %v, %v: want exactly one", data, in, bad)
		}
		if bad != nil {
			if !json.Valid(mustJSON(bad)) {
				t.Fatalf("error frame is not valid JSON: %q", mustJSON(bad))
			}
			return
		}
		if in.Message != nil {
			clean := CleanText(*in.Message)
			if !utf8.ValidString(clean) {
				t.Fatalf("cleaned text is not valid UTF-8: %q", clean)
			}
			for _, r := range clean {
				if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || isBidiControl(r)) {
					t.Fatalf("cleaned text keeps control character %U: %q", r, clean)
				}
			}
		}
	})
}

// FuzzNormalizeRoomName: any accepted name is NFC, at most 100 characters, free of '/',
// stable when normalised again, and maps to a valid group name.
func FuzzNormalizeRoomName(f *testing.F) {
	for _, seed := range []string{"lobby", "咖啡", "café", "cafe\u0301", "a/b", " x ", "", "\x00", "\u202e"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := NormalizeRoomName(raw)
		if err != nil {
			return
		}
		again, err := NormalizeRoomName(name)
		if err != nil || again != name {
			t.Fatalf("normalising %q again gave %q, %v", name, again, err)
		}
		if utf8.RuneCountInString(name) > MaxRoomNameChars {
			t.Fatalf("accepted a name of %d characters", utf8.RuneCountInString(name))
		}
		g := GroupName(name)
		if len(g) >= 100 {
			t.Fatalf("group name of %d bytes for %q", len(g), name)
		}
		for i := 0; i < len(g); i++ {
			ch := g[i]
			if !(ch == '-' || ch == '_' || ch == '.' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
				t.Fatalf("group name %q has %q", g, ch)
			}
		}
	})
}
