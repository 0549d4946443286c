package loadtest

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

var uuidText = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([47])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Client ids are UUIDs in text form, as a browser's crypto.randomUUID makes them: version 4
// at random, or version 7 whose first 48 bits are the sending time in milliseconds.
func TestClientIDs(t *testing.T) {
	now := time.UnixMilli(1_795_000_000_123)
	seen := map[string]bool{}
	for _, kind := range []string{"random", "time"} {
		for range 1000 {
			id := string(appendClientID(nil, kind, now))
			m := uuidText.FindStringSubmatch(id)
			if m == nil {
				t.Fatalf("%s: %q is not a UUID", kind, id)
			}
			if want := map[string]string{"random": "4", "time": "7"}[kind]; m[1] != want {
				t.Fatalf("%s: %q has version %s, want %s", kind, id, m[1], want)
			}
			if seen[id] {
				t.Fatalf("%s: %q made twice", kind, id)
			}
			seen[id] = true
			if kind == "time" {
				ms, err := strconv.ParseUint(id[0:8]+id[9:13], 16, 64)
				if err != nil || int64(ms) != now.UnixMilli() {
					t.Fatalf("%q carries %d ms, want %d", id, ms, now.UnixMilli())
				}
			}
		}
	}
}
