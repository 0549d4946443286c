package loadtest

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

var uuidText = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([47])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Client ids are UUIDs in text form: version 7 for "time", whose first 48 bits are the
// sending time in milliseconds (as the page makes them), else version 4.
func TestClientIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []string{"random", "time"} {
		for range 1000 {
			before := time.Now().UnixMilli()
			id := clientID(kind)
			after := time.Now().UnixMilli()
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
				ms, err := strconv.ParseInt(id[0:8]+id[9:13], 16, 64)
				if err != nil || ms < before || ms > after {
					t.Fatalf("%q carries %d ms, want between %d and %d", id, ms, before, after)
				}
			}
		}
	}
}
